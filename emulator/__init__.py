"""A runtime for Core ML NeuralNetwork models on Linux: prediction and on-device-style training.

It knows only Core ML specs (it must judge any ``.mlmodel``, from this project or any other tool).
``load(path_or_bytes_or_spec_or_MLModel)`` returns a :class:`Model` with ``predict``, ``update``, ``save``.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .model import Model, load  # noqa: E402

__all__ = ["Model", "load"]
