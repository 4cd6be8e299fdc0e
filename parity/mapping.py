"""Which Keras layer each Core ML convolution / innerProduct layer came from, and its weights in
Keras' layout.

Pairs are found by name (the Core ML layer is named after its Keras layer, possibly with a suffix),
then by order among the remaining layers of the same kind. The emulator already holds weights in the
backend layout, which is Keras' (``[kh, kw, Cin, Cout]`` kernels, ``[in, out]`` dense kernels); the one
thing left is the order of a dense layer's inputs when a flatten (or reshape / permute) before it
orders them differently from Keras' ``(H, W, C)`` flatten: :func:`input_order` traces it through the
spec's own layers, so a wrong flatten mode shows as weights that differ from Keras' before training.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from converter.reference import KERAS_KIND
from converter.reference import weighted_layers as keras_weighted_layers
from emulator.layers import OPS, layer_kind

log = logging.getLogger(__name__)

REORDERING = ("flatten", "flattenTo2D", "reshape", "reshapeStatic", "permute")
ELEMENTWISE = ("activation",)


@dataclass(frozen=True)
class LayerPair:
    coreml: str          # Core ML layer name
    keras: str           # Keras layer name
    kind: str            # 'convolution' | 'innerProduct'


def pair_layers(keras_model: Any, network: Any) -> tuple[list[LayerPair], list[str]]:
    """Pairs of (Core ML layer, Keras layer); and notes on the layers left unpaired."""
    coreml = [layer for layer in network.layers if layer_kind(layer) in ("convolution", "innerProduct")]
    keras = keras_weighted_layers(keras_model)
    pairs: dict[str, LayerPair] = {}
    used: set[str] = set()
    for layer in coreml:
        kind = layer_kind(layer)
        names = [k.name for k in keras if KERAS_KIND[type(k).__name__] == kind and k.name not in used
                 and _named_after(layer.name, k.name)]
        if names:
            best = max(names, key=len)
            pairs[layer.name] = LayerPair(layer.name, best, kind)
            used.add(best)
    rest_c = [layer for layer in coreml if layer.name not in pairs]
    rest_k = [k for k in keras if k.name not in used]
    notes = []
    for layer, k in zip(rest_c, rest_k):
        if KERAS_KIND[type(k).__name__] != layer_kind(layer):
            break
        pairs[layer.name] = LayerPair(layer.name, k.name, layer_kind(layer))
        used.add(k.name)
        notes.append(f"Core ML layer '{layer.name}' paired with Keras layer '{k.name}' by order (names differ)")
    for layer in coreml:
        if layer.name not in pairs:
            notes.append(f"Core ML layer '{layer.name}' ({layer_kind(layer)}) has no Keras counterpart; "
                         "its weights are not compared")
    for k in keras:
        if k.name not in used:
            notes.append(f"Keras layer '{k.name}' has no Core ML counterpart; its weights are not compared")
    ordered = [pairs[layer.name] for layer in coreml if layer.name in pairs]
    return ordered, notes


def _named_after(coreml: str, keras: str) -> bool:
    """Core ML name ``keras``, ``keras_SUFFIX`` or ``keras/SUFFIX``, optionally under a nested model's
    prefix (``features/conv1``)."""
    last = coreml.rsplit("/", 1)[-1]
    return any(n == keras or n.startswith(keras + "_") or n.startswith(keras + "/") for n in (coreml, last))


def input_order(network: Any, layer_name: str, blob_shapes: dict[str, tuple[int, ...]]) -> np.ndarray | None:
    """For an innerProduct: Core ML input position j holds Keras' flat input ``order[j]`` (None: identity).

    Walks back from the layer's input through flatten / reshape / permute (and element-wise activations)
    to a blob both frameworks lay out as ``(H, W, C)``, then runs the spec's own reordering layers on the
    index grid of that blob.
    """
    chain = []
    blob = network.by_name[layer_name].input[0]
    while blob in network.producer:
        layer = network.layers[network.producer[blob]]
        kind = layer_kind(layer)
        if kind not in REORDERING + ELEMENTWISE:
            break
        chain.append(layer)
        blob = layer.input[0]
    reorder = [layer for layer in reversed(chain) if layer_kind(layer) in REORDERING]
    if not reorder or blob not in blob_shapes:
        return None
    shape = blob_shapes[blob]  # backend (H, W, C)
    size = int(np.prod(shape))
    if size >= 2 ** 24:
        return None  # indices would not be exact in float32
    x = tf.reshape(tf.range(size, dtype=tf.float32), (1, *shape))
    for layer in reorder:
        x = OPS[layer_kind(layer)].forward(layer, [x], {})[0]
    order = np.asarray(x).reshape(-1).astype(np.int64)
    if sorted(order.tolist()) != list(range(size)):
        log.warning("layer %s: the layers before it are not a pure reordering; input order not traced",
                    layer_name)
        return None
    return None if np.array_equal(order, np.arange(size)) else order


def coreml_weights(params: dict[str, np.ndarray], kind: str, order: np.ndarray | None) -> dict[str, np.ndarray]:
    """A Core ML layer's emulator params as Keras weights: {'kernel': ..., 'bias': ...}."""
    kernel = np.asarray(params["weights"])
    if kind == "innerProduct" and order is not None:
        restored = np.empty_like(kernel)
        restored[order] = kernel
        kernel = restored
    out = {"kernel": kernel}
    if "bias" in params:
        out["bias"] = np.asarray(params["bias"])
    return out


def keras_weights(layer: Any) -> dict[str, np.ndarray]:
    """{'kernel': ..., 'bias': ...} of a Keras Dense / Conv2D layer."""
    out = {"kernel": np.asarray(layer.kernel)}
    if getattr(layer, "use_bias", False) and layer.bias is not None:
        out["bias"] = np.asarray(layer.bias)
    return out


def max_abs(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Largest |a - b| over matching weights; inf when their shapes or names differ."""
    if set(a) != set(b) or any(a[k].shape != b[k].shape for k in a):
        return float("inf")
    return max(float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a)


def max_rel(keras: dict[str, np.ndarray], coreml: dict[str, np.ndarray]) -> float:
    """``||W_keras - W_coreml|| / ||W_keras||`` over the whole layer (kernel and bias as one vector,
    Frobenius norms); inf on a shape mismatch.

    A norm over the layer, not an element-wise maximum nor a per-weight figure: Adam moves a weight whose
    gradient hovers around zero by about ``lr`` in whichever direction float noise tips it, and biases
    start at zero, so single elements (and a bias vector's small norm) drift apart by design.
    """
    if set(keras) != set(coreml) or any(keras[k].shape != coreml[k].shape for k in keras):
        return float("inf")
    k = np.concatenate([keras[name].ravel() for name in sorted(keras)])
    c = np.concatenate([coreml[name].ravel() for name in sorted(keras)])
    return float(np.linalg.norm(k - c) / (np.linalg.norm(k) or 1.0))
