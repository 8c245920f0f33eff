"""From images of a person with their body fits to one merged RGB texture, with the foundation layers.

For each view: pose the body, rasterize the UV-render, rasterize the part colormap and find the
occlusion band (paper 3.5), sample the image into texture space with Algorithm 1 (appendix A) and
compute per-texel frontality; then merge the views by eq. 5. Writes a PNG row per view
(image | occlusion band | sampled texture | frontality) and the merged texture.

    dinar data synth --people 1 --poses 1 --views 4 --size 256 -o /tmp/one_person
    python examples/texture_from_views.py /tmp/one_person/<person_id> -o /tmp/texture.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dinar.body import load_body_model
from dinar.body.atlas import load_atlas
from dinar.body.colormap import part_colors
from dinar.data.layout import list_stems, read_mask, read_params, read_rgb
from dinar.geometry.raster import interpolate_vertex_attr, rasterize
from dinar.texture import (
    detect_occlusions,
    merge_textures,
    normal_angle_texture,
    occlusion_free_mask,
    sample_rgb_texture,
)


def textures_from_views(person_dir: Path, texture_size: int = 256, band: int = 2, tau: float = 0.1) -> dict[str, torch.Tensor]:
    """Per-view textures, masks and frontality of one person, and their eq.-5 merge."""
    body = load_body_model()
    atlas = load_atlas(body)  # the front-cut atlas by default
    colors = part_colors(body)[None]
    rows, textures, fills, angles = [], [], [], []
    for stem in list_stems(person_dir):
        record = read_params(person_dir / "params" / f"{stem}.json", body_model=body.name)
        fit = record.fit
        image = torch.from_numpy(np.array(read_rgb(person_dir / "rgb" / f"{stem}.png"))).permute(2, 0, 1)[None].float() / 255
        out = body(pose=fit.pose[None], shape=fit.shape[None], global_orient=fit.global_orient[None], transl=fit.transl[None])
        raster = rasterize(out.vertices, body.faces, fit.camera, atlas.face_uvs)
        part_image = interpolate_vertex_attr(raster, body.faces, colors)
        band_mask = detect_occlusions(part_image, raster.mask, band=band)
        person = torch.from_numpy(np.array(read_mask(person_dir / "segm" / f"{stem}.png")))[None, None].float()
        use = occlusion_free_mask(raster.mask, band_mask) * (person > 0.5)
        sample = sample_rgb_texture(image, raster.uv, use, texture_size)
        lam = normal_angle_texture(raster, out.normals, body.faces, out.vertices, fit.camera, atlas.face_uvs, texture_size)
        textures.append(sample.rgb)
        fills.append(sample.filled)
        angles.append(lam)
        rows.append((image, band_mask.float(), sample.rgb, lam))
    merged = merge_textures(torch.stack(textures, 1), torch.stack(angles, 1), torch.stack(fills, 1), tau=tau)
    return {"rows": rows, "merged": merged.texture, "covered": merged.covered}


def _to_png(t: torch.Tensor, size: int) -> np.ndarray:
    t = t[0].expand(3, -1, -1) if t.shape[1] == 1 else t[0]
    img = Image.fromarray((t.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    return np.asarray(img.resize((size, size)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("person_dir", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("texture_from_views.png"))
    parser.add_argument("--texture-size", type=int, default=256)
    args = parser.parse_args()
    result = textures_from_views(args.person_dir, args.texture_size)
    s = 256
    grid = [np.concatenate([_to_png(t, s) for t in row], 1) for row in result["rows"]]
    merged = np.concatenate([_to_png(result["merged"], s), _to_png(result["covered"], s), np.zeros((s, 2 * s, 3), np.uint8)], 1)
    Image.fromarray(np.concatenate(grid + [merged], 0)).save(args.output)
    print(f"texel coverage after merging: {result['covered'].mean().item():.3f}; wrote {args.output}")


if __name__ == "__main__":
    main()
