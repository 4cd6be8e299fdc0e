"""Which TensorFlow CPU kernels the runtime gets: oneDNN's where they measured faster.

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX. On an
AVX2-only x86-64 CPU (this project's AMD EPYC) it runs Eigen's kernels, and oneDNN's are faster for
what the runtime trains: max-pooling forward+backward 3x, a one-channel 3x3 convolution's filter
gradient 3x, the whole LeNet step 2.5x (``benchmarks/profile_lenet.py``). So on Linux x86-64 the project asks for them
(``TF_ENABLE_ONEDNN_OPTS=1``) before TensorFlow is imported. The variable is read once, by TensorFlow's
import: a value the user set is kept (``TF_ENABLE_ONEDNN_OPTS=0`` turns them off), and when
TensorFlow was imported first the choice is TensorFlow's. Other systems (macOS, ARM) are left as they are.
"""
from __future__ import annotations

import logging
import os
import platform
import sys

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
log = logging.getLogger("coreml_updatable.kernels")


def wants_onednn(system: str | None = None, machine: str | None = None) -> bool:
    """Whether this project asks TensorFlow for oneDNN's kernels on this system."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    return system == "Linux" and machine in ("x86_64", "amd64")


def choose() -> str | None:
    """Set ``TF_ENABLE_ONEDNN_OPTS`` before TensorFlow's import (unless the user set it); return its value."""
    if "tensorflow" in sys.modules:
        if ONEDNN not in os.environ and wants_onednn():
            log.debug("TensorFlow was imported before coreml_updatable: its own kernel choice stands")
        return os.environ.get(ONEDNN)
    if wants_onednn():
        os.environ.setdefault(ONEDNN, "1")
    return os.environ.get(ONEDNN)


def onednn_in_use() -> bool | None:
    """Whether the TensorFlow in this process runs oneDNN's kernels (None: TensorFlow not imported)."""
    if "tensorflow" not in sys.modules:
        return None
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())
