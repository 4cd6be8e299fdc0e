"""The ``embedding`` layer: a class index ``[1, 1, 1]`` -> a column of the weight matrix ``[C_out, 1, 1]``."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

from . import weights as W
from .registry import op


def _embedding_params(layer) -> dict:
    p = layer.embedding
    w = W.read(p.weights, (int(p.outputChannels), int(p.inputDim)), where=layer.name)
    out = {"table": np.ascontiguousarray(w.T)}  # [inputDim, outputChannels]: one row per index
    if p.hasBias:
        out["bias"] = W.read(p.bias, (int(p.outputChannels),), where=layer.name, what="bias")
    return out


@op("embedding", params=_embedding_params)
def embedding(layer, inputs, params):
    x = inputs[0]
    if tuple(x.shape[1:]) != (1, 1, 1):
        raise UnsupportedConfigError(
            f"embedding input must be one index [1, 1, 1], got [C, H, W] = "
            f"[{x.shape[3]}, {x.shape[1]}, {x.shape[2]}]", where=f"layer '{layer.name}'",
            fix="feed one class index per example")
    index = tf.cast(tf.round(tf.reshape(x, [-1])), tf.int32)
    y = tf.gather(params["table"], index)
    if layer.embedding.hasBias:
        y = y + params["bias"]
    return [tf.reshape(y, [-1, 1, 1, int(layer.embedding.outputChannels)])]
