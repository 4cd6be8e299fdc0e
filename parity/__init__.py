"""Parity: train a Keras model and its Core ML conversion side by side, and prove they agree.

``verify(source, data, ...)`` converts then compares; ``verify_pair(keras_model, spec, data, ...)``
compares any pair (e.g. a spec edited after conversion). Both return a :class:`ParityReport`.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .report import Check, ParityReport  # noqa: E402
from .tolerances import DEFAULT, Tolerances  # noqa: E402
from .verify import verify, verify_pair  # noqa: E402

__all__ = ["verify", "verify_pair", "ParityReport", "Check", "Tolerances", "DEFAULT"]
