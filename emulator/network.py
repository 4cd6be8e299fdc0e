"""A NeuralNetwork message as something TensorFlow can run: layer order, weights, forward pass."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import numpy as np
import tensorflow as tf

from coreml_updatable.errors import BadInputError, UnsupportedItem, UnsupportedLayerError

from .layers import OPS, layer_kind

Params = dict[str, dict[str, Any]]
"""layer name -> {param name -> array or tensor}, in the backend's layout."""


class Network:
    """The layers of a Core ML network, checked against the emulator's registry.

    ``params`` holds every layer's weights as numpy arrays in the backend layout, read once.
    """

    def __init__(self, nn: Any, input_names: Iterable[str],
                 preprocess: Mapping[str, Callable[[tf.Tensor], tf.Tensor]] | None = None) -> None:
        self.layers = list(nn.layers)
        self.input_names = list(input_names)
        self.preprocess = dict(preprocess or {})   # input name -> image preprocessing (scaler, mean)
        unsupported = []
        for layer in self.layers:
            kind = layer_kind(layer)
            impl = OPS.get(kind)
            reason = None if impl is None or impl.supports is None else impl.supports(layer)
            if impl is None or reason:
                unsupported.append(UnsupportedItem(layer.name, kind, reason or "no implementation"))
        if unsupported:
            raise UnsupportedLayerError(
                unsupported, context="the emulator cannot run this model", supported=OPS,
                fix="replace those layers, or report the missing layer type to the project")
        self.producer: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            for blob in layer.output:
                self.producer[blob] = i
        self.params: Params = {}
        for layer in self.layers:
            impl = OPS[layer_kind(layer)]
            if impl.params is not None:
                self.params[layer.name] = impl.params(layer)
        self.by_name = {layer.name: layer for layer in self.layers}

    def needed_layers(self, outputs: Iterable[str]) -> list[int]:
        """Indices (in order) of the layers the given blobs depend on."""
        need, stack = set(), list(outputs)
        while stack:
            blob = stack.pop()
            if blob in self.input_names:
                continue
            if blob not in self.producer:
                raise BadInputError(f"blob '{blob}' is produced by no layer and is not a model input",
                                    fix="check the layer inputs/outputs of the model")
            i = self.producer[blob]
            if i not in need:
                need.add(i)
                stack.extend(self.layers[i].input)
        return sorted(need)

    def forward(self, feeds: Mapping[str, tf.Tensor], params: Mapping[str, Mapping[str, Any]],
                outputs: Iterable[str]) -> dict[str, tf.Tensor]:
        """Run the layers needed for ``outputs`` on ``feeds`` (backend layout); return every blob."""
        outputs = list(outputs)
        blobs: dict[str, tf.Tensor] = {k: self.preprocess[k](v) if k in self.preprocess else v
                                       for k, v in feeds.items()}
        for i in self.needed_layers(outputs):
            layer = self.layers[i]
            impl = OPS[layer_kind(layer)]
            results = impl.forward(layer, [blobs[name] for name in layer.input], params.get(layer.name, {}))
            for name, value in zip(layer.output, results):
                blobs[name] = value
        return blobs

    def constant_params(self) -> dict[str, dict[str, tf.Tensor]]:
        """Every layer's weights as TensorFlow constants."""
        return {name: {k: tf.constant(v) for k, v in p.items()} for name, p in self.params.items()}


def as_float32(array: np.ndarray, *, name: str) -> np.ndarray:
    """``array`` as float32, refusing non-numeric data."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise BadInputError(f"input '{name}' has dtype {array.dtype}, expected numbers",
                            fix="pass a numeric numpy array")
    return array.astype(np.float32, copy=False)
