"""A NeuralNetwork message as something TensorFlow can run: layer order, weights, forward pass."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import tensorflow as tf

from ground.errors import BadInputError, UnsupportedItem, UnsupportedLayerError

from . import layout_plan
from . import rank_n as R
from .layers import OPS, layer_kind
from .layers.nd_classic import nd_forward

RANK_N_OWN_FORMS = ("permute", "reshape")
"""Classic layers whose (N, H, W, C) refusals (the sequence axis) the rank-N engine does not share."""

Params = dict[str, dict[str, Any]]
"""layer name -> {param name -> array or tensor}, in the backend's layout."""


class Network:
    """The layers of a Core ML network, checked against the emulator's registry.

    ``params`` holds every layer's weights as numpy arrays in the backend layout, read once. With
    ``rank_n`` blobs are ``(N, *Core ML shape)`` and layers follow Core ML's N-dimensional semantics
    (emulator/rank_n.py); otherwise they are (N, H, W, C) (emulator/layers/registry.py).
    """

    def __init__(self, nn: Any, input_names: Iterable[str],
                 preprocess: Mapping[str, Callable[[tf.Tensor], tf.Tensor]] | None = None, *,
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None, protected: Iterable[str] = (),
                 rank_n: bool = False) -> None:
        """``input_shapes``: backend shape per input (H, W, C), or the Core ML blob shape with ``rank_n``),
        which lets the layout plan look at shapes; ``protected``: blobs callers read (model outputs), whose
        layout must stay Core ML's."""
        self.layers = list(nn.layers)
        self.input_names = list(input_names)
        self.rank_n = rank_n
        self.preprocess = dict(preprocess or {})   # input name -> image preprocessing (scaler, mean)
        if rank_n:
            self.preprocess = {k: R.image_preprocess(fn) for k, fn in self.preprocess.items()}
        unsupported = []
        for layer in self.layers:
            kind = layer_kind(layer)
            impl = OPS.get(kind)
            reason = refusal(layer, rank_n)
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
        with shapes_must_fit("reading the weights"):
            for layer in self.layers:
                impl = OPS[layer_kind(layer)]
                if impl.params is not None:
                    self.params[layer.name] = impl.params(layer)
        self.by_name = {layer.name: layer for layer in self.layers}
        self.plan = layout_plan.FlattenPlan()     # empty while the shapes are measured
        with shapes_must_fit("planning the flatten layouts"):
            if not rank_n:
                self.plan = layout_plan.plan(self.layers, protected, self._flatten_input_shapes(input_shapes))
            for name in self.plan.row_orders:
                self.params[name] = self.plan.to_backend(name, self.params[name])

    def _flatten_input_shapes(self, input_shapes: Mapping[str, tuple[int, ...]] | None):
        """A lookup of the backend shape of each flatten's input, by flatten layer name."""
        flattens = [l for l in self.layers if layer_kind(l) == "flatten"]
        if not flattens or not input_shapes:
            return lambda name: None
        shapes = self.blob_shapes(input_shapes, [l.input[0] for l in flattens])
        return {l.name: shapes[l.input[0]] for l in flattens}.get

    def blob_shapes(self, input_shapes: Mapping[str, tuple[int, ...]],
                    blobs: Iterable[str] | None = None) -> dict[str, tuple[int, ...]]:
        """Backend ``(H, W, C)`` shape of ``blobs`` (default: every layer output), from one forward pass
        on a batch of zeros. ``input_shapes``: the backend shape of each model input."""
        wanted = list(blobs) if blobs is not None else [b for layer in self.layers for b in layer.output]
        feeds = {k: tf.zeros((1, *shape)) for k, shape in input_shapes.items()}
        with shapes_must_fit("a forward pass on the declared input shapes"):
            values = self.forward(feeds, self.constant_params(), wanted)
        return {k: tuple(int(s) for s in v.shape[1:]) for k, v in values.items()}

    def layer_params(self, name: str) -> dict[str, np.ndarray]:
        """A layer's weights in its op's layout (see emulator/layers), whatever the layout plan did."""
        return self.plan.to_spec_layout(name, self.params[name])

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
            if layer.name in self.plan.hwc_flattens:   # its order lives in the next weights (layout_plan)
                x = blobs[layer.input[0]]
                blobs[layer.output[0]] = tf.reshape(x, [-1, 1, 1, int(np.prod(x.shape[1:]))])
                continue
            kind = layer_kind(layer)
            run = nd_forward(kind) if self.rank_n else OPS[kind].forward
            results = run(layer, [blobs[name] for name in layer.input], params.get(layer.name, {}))
            for name, value in zip(layer.output, results):
                blobs[name] = value
        return blobs

    def constant_params(self) -> dict[str, dict[str, tf.Tensor]]:
        """Every layer's weights as TensorFlow constants."""
        return {name: {k: tf.constant(v) for k, v in p.items()} for name, p in self.params.items()}


def refusal(layer: Any, rank_n: bool) -> str | None:
    """Why the engine (rank-N or (N, H, W, C)) cannot run ``layer``, or None."""
    kind = layer_kind(layer)
    impl = OPS.get(kind)
    if impl is None:
        return "no implementation"
    if rank_n and nd_forward(kind) is None:
        return "no implementation for N-dimensional blobs"
    if not rank_n and kind in R.ND_KINDS:
        return "a specification-4 layer needs EXACT_ARRAY_MAPPING inputs (Core ML refuses it in a rank-5 network)"
    if not rank_n and kind in R.SEQUENCE_KINDS:
        return "it reads Core ML's sequence axis, which only the rank-N engine models"
    if impl.supports is None or (rank_n and kind in RANK_N_OWN_FORMS):
        return None
    return impl.supports(layer)


def wants_rank_n(nn: Any, input_features: Iterable[Any]) -> bool:
    """Whether the rank-N engine runs ``nn``: Core ML's N-dimensional semantics are in use, or only it
    can model the sequence axis that a permute or reshape moves."""
    if R.wants_rank_n(nn, input_features):
        return True
    refused = [layer for layer in nn.layers if refusal(layer, False)]
    return bool(refused) and all(layer_kind(layer) in RANK_N_OWN_FORMS for layer in refused) \
        and not any(refusal(layer, True) for layer in nn.layers)


@contextlib.contextmanager
def shapes_must_fit(doing: str):
    """A model whose declared shapes and weight sizes contradict each other (Core ML refuses it on load)
    gets one message instead of TensorFlow's or numpy's exception."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, ValueError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BadInputError(f"the model's layer shapes and weight sizes do not fit together ({doing}: "
                            f"{first[:300]})", fix="check the declared input shape and each layer's channel counts "
                            "and weights; Core ML refuses such a model on load") from None


def as_float32(array: np.ndarray, *, name: str) -> np.ndarray:
    """``array`` as float32, refusing non-numeric data."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise BadInputError(f"input '{name}' has dtype {array.dtype}, expected numbers",
                            fix="pass a numeric numpy array")
    return array.astype(np.float32, copy=False)
