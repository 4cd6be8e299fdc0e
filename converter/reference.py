"""A training reference: the Keras model an ONNX file was exported from.

ONNX carries no loss, optimizer or trainable flags; ``convert(model.onnx, reference=model.keras)`` takes
the reference's compile config (loss, optimizer) and restores the zero biases the exporter dropped (pass
``restore_biases``), so the converted model trains as the Keras original does.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ground.errors import BadInputError
from ground.protos import Model_pb2

KERAS_KIND = {"Dense": "innerProduct", "Conv2D": "convolution"}
"""Keras layer class -> the Core ML layer type it maps to, for the layers that can be updatable."""
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def flat_layers(model: Any) -> list[Any]:
    """The model's layers, nested Sequential/Functional models flattened, in model order."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional", "Model"):
            out.extend(flat_layers(layer))
        else:
            out.append(layer)
    return out


def weighted_layers(model: Any) -> list[Any]:
    """Keras layers that map onto updatable-capable Core ML layers, in model order."""
    return [layer for layer in flat_layers(model) if type(layer).__name__ in KERAS_KIND]


def load_reference(reference: Any) -> Any:
    """A compiled Keras model from a Keras model object or a ``.keras``/``.h5`` path."""
    if not isinstance(reference, (str, Path)):
        return reference
    path = Path(reference)
    if path.suffix.lower() not in KERAS_SUFFIXES or not path.exists():
        raise BadInputError("the training reference must be an existing Keras model file (.keras / .h5)",
                            where=str(path), fix="pass the Keras model the ONNX file was exported from")
    import keras

    with warnings.catch_warnings():  # Keras warns that the saved optimizer's slots are not restored
        warnings.filterwarnings("ignore", message=".*Skipping variable loading for optimizer.*")
        return keras.models.load_model(path, compile=True)


def dropped_zero_biases(spec: Model_pb2.Model, reference: Any) -> set[str]:
    """Core ML convolution/innerProduct layers without a bias whose reference layer (in order) has an
    all-zero one: tf2onnx drops such a bias (an untrained model's), Keras trains it."""
    nn = getattr(spec, spec.WhichOneof("Type"))
    weighted = [layer for layer in nn.layers if layer.WhichOneof("layer") in ("convolution", "innerProduct")]
    out = set()
    for layer, k in zip(weighted, weighted_layers(reference)):
        p = getattr(layer, layer.WhichOneof("layer"))
        if p.hasBias or not getattr(k, "use_bias", False) or k.bias is None:
            continue
        bias = np.asarray(k.bias)
        if bias.shape == (p.outputChannels,) and not np.any(bias != 0):
            out.add(layer.name)
    return out
