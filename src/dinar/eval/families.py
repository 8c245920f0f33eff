"""The names of what can be measured: the metric families of :func:`dinar.eval.metrics.compute_metrics`
and of the benchmark (:mod:`dinar.eval.runner`, which adds the set-level KID).

A module of its own, free of torch, so that ``dinar eval``'s options (``--metrics``) and the benchmark's
settings can name the families without loading a network.
"""

from __future__ import annotations

from typing import Literal

MetricFamily = Literal["psnr", "ms_ssim", "lpips", "dists", "identity"]
ALL_METRICS: tuple[MetricFamily, ...] = ("psnr", "ms_ssim", "lpips", "dists", "identity")
"""What ``compute_metrics`` can compute (``which``); each family's result keys are in the module docstring
of :mod:`dinar.eval.metrics`."""

EvalFamily = Literal["psnr", "ms_ssim", "lpips", "dists", "identity", "kid"]
ALL_EVAL_METRICS: tuple[EvalFamily, ...] = (*ALL_METRICS, "kid")
"""Per-image families of :func:`compute_metrics` plus the set-level ``kid``."""
