"""Photos on disk (with or without fits and masks) -> an avatar file: what ``dinar avatar`` runs."""

from __future__ import annotations

from pathlib import Path


def make_avatar(photos: list[Path], fits: list[Path] | None, masks: list[Path] | None, checkpoint: Path | None,
                device: str, options, output: Path, overlay_dir: Path | None = None, person_index: int | None = None,
                box: tuple[float, float, float, float] | None = None):
    """Photos (+ fits) → avatar file; returns the bound :class:`~dinar.avatar.Avatar`."""
    from dinar.data.photo_files import fit_photos, read_fitted_photo
    from dinar.pipeline import AvatarPipeline

    for path in photos:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such photo")
    if fits is not None and len(fits) != len(photos):
        raise ValueError(f"{len(photos)} photos but {len(fits)} --fit files: give one fit per photo")
    if masks is not None and (fits is None or len(masks) != len(photos)):
        raise ValueError("--mask needs --fit, and one mask per photo")
    if fits is not None and (person_index is not None or box is not None):
        raise ValueError("--person-index and --box choose whom to fit: with --fit the fit already says (use them with `dinar fit`)")
    pipe = AvatarPipeline.from_pretrained(checkpoint, device=device)
    body = pipe.body
    if fits is None:
        inputs = fit_photos(photos, body, overlay_dir, person_index, box)
    else:
        inputs = [read_fitted_photo(p, f, masks[i] if masks else None, body) for i, (p, f) in enumerate(zip(photos, fits))]
    images, person_masks, params = (list(x) for x in zip(*inputs))
    avatar = pipe(images, person_masks, params, options=options)
    avatar.metadata["source_paths"] = [str(p) for p in photos]
    avatar.save(output)
    return avatar
