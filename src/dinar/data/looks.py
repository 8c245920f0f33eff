"""The optional looks of the synthetic people: bare torsos, caps, plain clothes, long hair seen from the front. Each
is a share field of :class:`dinar.data.synth.SynthConfig`, drawn on its own random stream so that nothing else about a
person changes.

One table, read by the generator (its dataset card), by ``dinar data synth`` (its options) and by the benchmarks that
make held-out sets (their options and cache folders), so a new look is added here once. Torch-free: the command
builds its options from it without loading torch.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    """One optional look: how the dataset card, the options and the cache folders name it."""

    title: str
    """The dataset card's line, e.g. ``close-fitting caps``."""
    whom: str
    """Who the share is of, and what the card calls those who have it: ``of the people; in a cap``."""
    what: str
    """The option's help: what a person with the look wears."""
    suffix: str
    """A held-out set's cache folder suffix, before its share (``_cap0.5``)."""


LOOKS = {
    "bare_torso": Look("bare torsos (no top)", "of the male bodies; bared", "of the male bodies without a top, torso and arms bare", "bare"),
    "cap": Look("close-fitting caps", "of the people; in a cap", "of the people in a close-fitting cap over the scalp", "cap"),
    "plain": Look("plain clothes (one colour per garment, no print)", "of the people; plain",
                  "of the people in plain clothes: one colour per garment, no print", "plain"),
    "long_hair_front": Look("long hair seen from the front", "of the long-haired people; hair in front",
                            "of the long-haired people whose hair also falls down the sides of the neck and over the "
                            "front of the shoulders", "hairfront"),
}
"""The optional looks, by their :class:`~dinar.data.synth.SynthConfig` field."""


def option_name(look: str) -> str:
    """The command-line option of a look: ``bare_torso`` → ``--bare-torso``."""
    return "--" + look.replace("_", "-")


def add_look_options(parser: argparse.ArgumentParser, whose: str = "") -> None:
    """One ``--<look> SHARE`` option per look (default 0); ``whose`` adds to the help which set the share is of
    (``in the test set``)."""
    for name, look in LOOKS.items():
        parser.add_argument(option_name(name), type=float, default=0.0, metavar="SHARE",
                            help=f"share {look.what} (0..1, default 0{'; ' + whose if whose else ''})")


def look_shares(source: object) -> dict[str, float]:
    """Each look's share read from ``source``: options added by :func:`add_look_options` (the ``SynthConfig`` fields
    they set), or a ``SynthConfig`` (what a benchmark reports)."""
    return {name: getattr(source, name) for name in LOOKS}
