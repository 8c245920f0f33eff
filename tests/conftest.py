"""Shared fixtures: one Anny body model for the whole session (built once per machine, ~1 min)."""

import pytest
import torch


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
