"""Algorithm 1 (paper appendix A) as literal Python loops: the reference for tests and benchmarks.

Same used-pixel rule and tie rule (mean of the pixels hitting a texel) as
:func:`dinar.texture.sampling.sample_rgb_texture`, and the same texel addressing
(:func:`~dinar.texture.sampling.texel_index`, evaluated in the dtype of ``uv`` so that a float32
``floor(u * S)`` at a texel border rounds the same way in both); colours are summed in Python floats.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dinar.texture.sampling import TextureSample, texel_index


def sample_rgb_texture_reference(
    image: Tensor,  # [B, C, H, W]
    uv: Tensor,  # [B, 2, H, W]
    mask: Tensor,  # [B, 1, H, W]
    texture_size: int,
) -> TextureSample:
    """Algorithm 1 pixel by pixel, in raster order; slow, for checking the vectorized version."""
    B, C, H, W = image.shape
    S = texture_size
    rgb_out, smp_out, fill_out = [], [], []
    for b in range(B):
        img = image[b].double().tolist()  # [C][H][W]
        rows, cols = (t.tolist() for t in texel_index(uv[b], S))
        used = ((mask[b, 0] > 0.5) & (uv[b] >= 0).all(0)).tolist()
        # Initialize texture with zeros
        T = [[[0.0] * C for _ in range(S)] for _ in range(S)]
        count = [[0] * S for _ in range(S)]
        exact = [[[0.0] * C for _ in range(S)] for _ in range(S)]
        hits = [[0] * S for _ in range(S)]

        # Fill texels with mean value of neighbors
        for y in range(H):
            for x in range(W):
                if not used[y][x]:
                    continue
                i, j = rows[y][x], cols[y][x]  # (i, j) <- UV[x, y]
                for k in (-1, 0, 1):
                    for m in (-1, 0, 1):
                        if 0 <= i + k < S and 0 <= j + m < S:
                            for c in range(C):
                                T[i + k][j + m][c] += img[c][y][x]
                            count[i + k][j + m] += 1
        for i in range(S):
            for j in range(S):
                if count[i][j] > 0:
                    T[i][j] = [t / count[i][j] for t in T[i][j]]
        # Fill exact values in texels we don't need to inpaint (mean over pixels hitting a texel)
        for y in range(H):
            for x in range(W):
                if not used[y][x]:
                    continue
                i, j = rows[y][x], cols[y][x]  # (i, j) <- UV[x, y]
                for c in range(C):
                    exact[i][j][c] += img[c][y][x]
                hits[i][j] += 1
        for i in range(S):
            for j in range(S):
                if hits[i][j] > 0:
                    T[i][j] = [e / hits[i][j] for e in exact[i][j]]
        rgb_out.append(torch.tensor(T, dtype=torch.float64).permute(2, 0, 1))
        smp_out.append(torch.tensor(hits, dtype=torch.float64)[None] > 0)
        fill_out.append(torch.tensor(count, dtype=torch.float64)[None] > 0)
    dtype = image.dtype
    return TextureSample(
        rgb=torch.stack(rgb_out).to(dtype),
        sampled=torch.stack(smp_out).to(dtype),
        filled=torch.stack(fill_out).to(dtype),
    )
