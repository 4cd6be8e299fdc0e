"""Shared fixtures for parity tests: a small slice of the shared MNIST (never copied into the repo)."""
from __future__ import annotations

import pytest

import data_loading as D
from tests.shared_data import require_mnist


@pytest.fixture(scope="session")
def mnist() -> D.Dataset:
    return D.load(require_mnist())     # skips, saying where MNIST is expected, when it is absent


@pytest.fixture(scope="session")
def small(mnist: D.Dataset) -> D.Dataset:
    """512 training images (4 mini-batches of 128) and 1,000 test images: a few seconds per run."""
    return D.Dataset(mnist.x_train[:512], mnist.y_train[:512], mnist.x_test[:1000], mnist.y_test[:1000],
                     mnist.source + " [512 train / 1000 test]")
