"""Where the tests find MNIST, and how they skip when it is not there.

The data is never committed: it is ``../shared/data/mnist/mnist.npz`` beside the clone (as in CI), or the
file named by ``$COREML_UPDATABLE_DATA`` (the variable the CLI's ``--data`` falls back to). Tests that need
it take the :func:`mnist_path` fixture of ``tests/conftest.py`` or carry :data:`needs_mnist`; without the
file they skip with :data:`REASON` instead of failing.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV_VAR = "COREML_UPDATABLE_DATA"
DEFAULT = REPO.parent / "shared" / "data" / "mnist" / "mnist.npz"

MNIST = Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else DEFAULT
"""The MNIST .npz the tests use."""

REASON = (f"needs MNIST at {MNIST}: put the shared data beside the clone (../shared/data/mnist/mnist.npz) "
          f"or set {ENV_VAR} to a Keras-layout mnist.npz")

needs_mnist = pytest.mark.skipif(not MNIST.exists(), reason=REASON)
"""Mark for tests (or ``pytestmark`` for modules) that read MNIST."""


def require_mnist() -> Path:
    """The MNIST path, or skip the calling test (or fixture) with :data:`REASON`."""
    if not MNIST.exists():
        pytest.skip(REASON)
    return MNIST
