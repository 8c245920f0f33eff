"""Wall-clock timing shared by the benchmark scripts (synchronising CUDA around the timed call)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def timed_ms(fn: Callable[[], object], device: torch.device) -> float:
    """Milliseconds one call of ``fn`` takes, with the device's queued work included."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000


def median_ms(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 3) -> float:
    """Median milliseconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    return statistics.median(timed_ms(fn, device) for _ in range(repeats))
