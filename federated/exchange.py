"""The arrays a device and the server exchange: the updatable layers' weights and biases, as Core ML
holds them.

One array per updatable layer and parameter, keyed ``"<layer name>/weights"`` and ``"<layer name>/biases"``
(what an app reads with ``model.parameterValue(for: MLParameterKey.weights.scoped(to: "<layer name>"))``
and ``MLParameterKey.biases``), float32, in the order of the spec's ``WeightParams`` and shaped by the
layer's fields:

- ``innerProduct``: weights ``(outputChannels, inputChannels)``, biases ``(outputChannels,)``;
- ``convolution``: weights ``(outputChannels, kernelChannels, kernelHeight, kernelWidth)`` (a
  deconvolution: ``(kernelChannels, outputChannels / nGroups, kernelHeight, kernelWidth)``), biases
  ``(outputChannels,)``.

Nothing else travels: frozen layers stay on the device as they are. :class:`Codec` moves these arrays
in and out of the runtime's training graph (whose layout differs) through the runtime's own weight
readers, so the two never disagree.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ground import weight_params as WP
from ground.errors import BadInputError

WEIGHTS, BIASES = "weights", "biases"
_RUNTIME_NAME = {WEIGHTS: "weights", BIASES: "bias"}      # the runtime's parameter names
UPDATABLE_KINDS = ("innerProduct", "convolution")           # the layer types Core ML can update


def key(layer: str, which: str) -> str:
    """The exchange key of one array: ``"<layer>/weights"`` or ``"<layer>/biases"``."""
    return f"{layer}/{which}"


def _fields(layer: Any) -> list[tuple[str, Any, tuple[int, ...]]]:
    """(which, WeightParams, Core ML shape) of an updatable layer's parameters."""
    kind = layer.WhichOneof("layer")
    if kind == "innerProduct":
        p = layer.innerProduct
        out = [(WEIGHTS, p.weights, (p.outputChannels, p.inputChannels))]
        return out + ([(BIASES, p.bias, (p.outputChannels,))] if p.hasBias else [])
    if kind == "convolution":
        p = layer.convolution
        kh, kw = (list(p.kernelSize) or [3, 3])[:2]
        if p.isDeconvolution:
            shape = (p.kernelChannels, p.outputChannels // max(p.nGroups, 1), kh, kw)
        else:
            shape = (p.outputChannels, p.kernelChannels, kh, kw)
        out = [(WEIGHTS, p.weights, shape)]
        return out + ([(BIASES, p.bias, (p.outputChannels,))] if p.hasBias else [])
    raise BadInputError(f"layer '{layer.name}' ({kind}) is marked updatable but Core ML updates only "
                        "convolution and innerProduct layers", where=f"layer '{layer.name}'",
                        fix="re-convert the model; 'coreml-updatable validate' lists the rule")


def updatable_layers(nn: Any) -> list[Any]:
    """The spec's layers marked updatable."""
    return [layer for layer in nn.layers if layer.isUpdatable]


def read(nn: Any) -> dict[str, np.ndarray]:
    """The exchange arrays of a NeuralNetwork message's updatable layers."""
    arrays = {}
    for layer in updatable_layers(nn):
        for which, wp, shape in _fields(layer):
            values = WP.read_floats(wp)
            if values.size != int(np.prod(shape)):
                raise BadInputError(f"{which} hold {values.size} values, not {int(np.prod(shape))} {shape} "
                                    "(quantized or inconsistent)", where=f"layer '{layer.name}'",
                                    fix="convert with float32 weights")
            arrays[key(layer.name, which)] = values.reshape(shape)
    return arrays


def check(nn: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Refuse arrays whose keys or shapes differ from the model's updatable layers, or that hold NaN."""
    expected = {key(layer.name, which): shape for layer in updatable_layers(nn) for which, _, shape in _fields(layer)}
    missing, unknown = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or unknown:
        raise BadInputError(f"the arrays do not match the model's updatable layers: missing {missing}, "
                            f"unknown {unknown}", fix=f"send exactly {sorted(expected)}")
    for name, shape in expected.items():
        value = np.asarray(arrays[name])
        if value.shape != tuple(shape):
            raise BadInputError(f"array '{name}' has shape {value.shape}, the model holds {tuple(shape)}",
                                fix="send arrays shaped as Core ML holds them (see federated/exchange.py)")
        if not np.all(np.isfinite(value)):
            raise BadInputError(f"array '{name}' holds NaN or infinite values", fix="drop this update")


def write(nn: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Store the exchange arrays into the updatable layers of ``nn`` (in place), each in the precision
    its WeightParams already had; nothing else in the message changes."""
    check(nn, arrays)
    for layer in updatable_layers(nn):
        for which, wp, _ in _fields(layer):
            like = "float16" if WP.precision(wp) == "float16" else "float32"
            WP.write(wp, np.asarray(arrays[key(layer.name, which)], dtype=np.float32), like=like)


class Codec:
    """Exchange arrays <-> the runtime's training-graph weights (``Network.params`` layout) of one model.

    The mapping is measured once per layer by passing an index ramp through the runtime's own reader of
    that layer's WeightParams and its layout plan: a pure permutation, applied with numpy afterwards.
    """

    def __init__(self, model: Any) -> None:
        from emulator.layers import OPS, layer_kind

        self._to_runtime: dict[str, dict[str, tuple[str, np.ndarray, tuple[int, ...]]]] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for layer in updatable_layers(model.nn):
            probe = type(layer)()
            probe.CopyFrom(layer)
            fields = _fields(probe)
            for which, wp, shape in fields:
                WP.write(wp, np.arange(int(np.prod(shape)), dtype=np.float32))
            runtime = model.network.plan.to_backend(layer.name, OPS[layer_kind(probe)].params(probe))
            entry = {}
            for which, _, shape in fields:
                order = runtime[_RUNTIME_NAME[which]]
                entry[which] = (_RUNTIME_NAME[which], order.reshape(-1).astype(np.int64), order.shape)
                self.shapes[key(layer.name, which)] = tuple(shape)
            self._to_runtime[layer.name] = entry

    @property
    def layers(self) -> list[str]:
        """The updatable layers' names."""
        return list(self._to_runtime)

    def to_runtime(self, arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """Exchange arrays -> {layer: {runtime param: array}} as the trainer takes them."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for layer, entry in self._to_runtime.items():
            out[layer] = {name: np.asarray(arrays[key(layer, which)], np.float32).reshape(-1)[order].reshape(shape)
                          for which, (name, order, shape) in entry.items()}
        return out

    def from_runtime(self, params: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """{layer: {runtime param: array}} -> exchange arrays."""
        out = {}
        for layer, entry in self._to_runtime.items():
            for which, (name, order, _) in entry.items():
                flat = np.empty(order.size, np.float32)
                flat[order] = np.asarray(params[layer][name], np.float32).reshape(-1)
                out[key(layer, which)] = flat.reshape(self.shapes[key(layer, which)])
        return out
