"""Shared fixtures: one Anny body model for the whole session (built once per machine, ~1 min); the scripts of
benchmarks/ as modules."""

import contextlib
import importlib
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextlib.contextmanager
def benchmark_module(name: str):
    """``benchmarks/<name>.py`` imported as a module (its folder on sys.path while it is used: they import each other)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="session")
def body():
    from dinar.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of small ops, where a second thread only adds contention on shared CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
