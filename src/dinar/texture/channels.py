"""The channel layout of T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (paper eq. 2), counted from the end so that it
holds whatever T_gen's width: slices into dimension 1 of a ``[B, C, S, S]`` texture."""

from __future__ import annotations

GENERATED = slice(None, -5)
"""T_gen: the generator's channels."""
RGB = slice(-5, -2)
"""T_rgb: the photo's colours (Algorithm 1)."""
SAMPLED = slice(-2, -1)
"""B_smp: texels hit directly by a pixel."""
FILLED = slice(-1, None)
"""B_fill: texels known from the photo (sampled or gap-filled)."""
