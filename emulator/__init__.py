"""A runtime for Core ML NeuralNetwork models on Linux: prediction and on-device-style training.

It knows only Core ML specs (it must judge any ``.mlmodel``, from this project or any other tool).
``load(path_or_bytes_or_spec_or_MLModel)`` returns a :class:`Model` with ``predict``, ``update``, ``save``.
"""
from ground.quiet import import_backends as _import_backends

_import_backends()   # TensorFlow's C++ start-up lines stay off stderr (COREML_UPDATABLE_TF_LOGS=1 shows them)

from .model import Model, load  # noqa: E402

__all__ = ["Model", "load"]
