"""Forward parity before training: the outputs over the test set, and layer by layer to find where
a difference starts."""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from emulator import features as F
from emulator.layers import layer_kind
from emulator.model import first_tensor_output
from ground.layout import nchw_to_nhwc

from .mapping import LayerPair

LAYER_REL = 1e-4
"""A mapped layer 'agrees' when max|diff| <= LAYER_REL * max(1, max|Keras output|)."""


def keras_outputs(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    outs = [np.asarray(model(tf.constant(x[i:i + batch_size]), training=False))
            for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)


def coreml_outputs(cm: Any, x: np.ndarray) -> np.ndarray:
    """The model's first array output (a classifier's probabilities) in Core ML layout."""
    return np.asarray(cm.predict(x)[first_tensor_output(cm)])


def as_keras_layout(coreml: np.ndarray, keras: np.ndarray) -> np.ndarray:
    """A Core ML-layout output (N, C) or (N, C, H, W) as the Keras output's layout."""
    if coreml.ndim == 4 and keras.ndim == 4:
        return nchw_to_nhwc(coreml)
    return coreml.reshape(keras.shape) if coreml.size == keras.size else coreml


def output_blob(network: Any, pair: LayerPair, keras_layer: Any) -> str:
    """The Core ML blob that matches the Keras layer's output (after its fused activation, if any)."""
    layer = network.by_name[pair.coreml]
    blob = layer.output[0]
    act = getattr(getattr(keras_layer, "activation", None), "__name__", "linear")
    if act == "linear":
        return blob
    consumers = [lay for lay in network.layers if blob in lay.input]
    if len(consumers) == 1 and layer_kind(consumers[0]) in ("activation", "softmax"):
        return consumers[0].output[0]
    return blob


def by_layer(keras_model: Any, cm: Any, pairs: list[LayerPair], x_keras: np.ndarray,
             x_coreml: np.ndarray) -> list[dict[str, Any]]:
    """Each mapped layer's output compared on a few examples, in Core ML layer order."""
    import keras

    top = {layer.name for layer in keras_model.layers}
    pairs = [p for p in pairs if p.keras in top]  # a nested model's layers have no output reachable here
    layers = {p.keras: _find(keras_model, p.keras) for p in pairs}
    if not pairs:
        return []
    probe = keras.Model(keras_model.inputs, [layers[p.keras].output for p in pairs])
    k_outs = probe(tf.constant(x_keras), training=False)
    k_outs = [np.asarray(o) for o in (k_outs if isinstance(k_outs, (list, tuple)) else [k_outs])]
    feature = next(f for f in cm.inputs if f.is_tensor)
    feeds = {feature.name: tf.constant(F.to_backend(x_coreml, feature))}
    blobs = [output_blob(cm.network, p, layers[p.keras]) for p in pairs]
    c_outs = cm.network.forward(feeds, cm.network.constant_params(), blobs)
    rows = []
    for p, blob, k in zip(pairs, blobs, k_outs):
        c = np.asarray(c_outs[blob])
        k = k.reshape(c.shape) if k.size == c.size else k
        diff = float(np.max(np.abs(k - c))) if k.shape == c.shape else float("inf")
        scale = max(1.0, float(np.max(np.abs(k))))
        rows.append({"coreml": p.coreml, "keras": p.keras, "blob": blob, "max_abs": diff,
                     "agrees": diff <= LAYER_REL * scale})
    return rows


def layers_after(network: Any, blob: str) -> list[str]:
    """Names of the Core ML layers that run after ``blob`` is produced (in spec order)."""
    start = network.producer.get(blob, -1)
    return [f"{lay.name} ({layer_kind(lay)})" for lay in network.layers[start + 1:]]


def _find(model: Any, name: str) -> Any:
    from .mapping import keras_weighted_layers

    for layer in keras_weighted_layers(model):
        if layer.name == name:
            return layer
    raise KeyError(name)
