"""Parity: train a Keras model and its Core ML conversion side by side, and prove they agree.

``verify(source, data, ...)`` converts then compares; ``verify_pair(keras_model, spec, data, ...)``
compares any pair (e.g. a spec edited after conversion). They return a :class:`ParityReport`, except
``verify`` of an ONNX model without a Keras reference: :class:`ForwardFigures` (forward pass only).
"""
from ground.quiet import import_backends as _import_backends

_import_backends()   # TensorFlow's C++ start-up lines stay off stderr (COREML_UPDATABLE_TF_LOGS=1 shows them)

from .harness import verify_pair  # noqa: E402
from .onnx_forward import ForwardFigures  # noqa: E402
from .report import Check, ParityReport  # noqa: E402
from .tolerances import DEFAULT, Tolerances  # noqa: E402
from .verify import verify  # noqa: E402

__all__ = ["verify", "verify_pair", "ParityReport", "ForwardFigures", "Check", "Tolerances", "DEFAULT"]
