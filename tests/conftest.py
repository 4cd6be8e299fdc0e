"""Fixtures for the whole suite."""
from __future__ import annotations

from pathlib import Path

import pytest

from ground import kernels

kernels.choose()   # before any test module imports TensorFlow: the suite runs the kernels users get

from tests.shared_data import require_mnist


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The shared MNIST .npz; the test skips (with where it is expected) when it is absent."""
    return require_mnist()
