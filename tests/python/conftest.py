"""Fixtures of the Python tests: a seeded random generator per test."""
import numpy as np
import pytest


@pytest.fixture
def rng(request):
    # Seeded by the test's name, so that a failure reproduces alone and in the full run.
    return np.random.default_rng(list(request.node.nodeid.encode()))
