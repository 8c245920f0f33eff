"""Shared fixtures: one Anny body model for the whole session (built once per machine, ~1 min)."""

import pytest


@pytest.fixture(scope="session")
def body():
    from dinar.body import load_body_model

    return load_body_model()
