"""``embedding``: a class index ``[1, 1, 1]`` -> a column of the weight matrix ``[C_out, 1, 1]``;
``embeddingND``: indices ``[T, 1, 1]`` (a rank-4 ``[1, T, 1, 1]`` blob) -> ``[T, 1, E]``."""
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


def _embedding_nd_params(layer) -> dict:
    p = layer.embeddingND
    w = W.read(p.weights, (int(p.embeddingSize), int(p.vocabSize)), where=layer.name)
    out = {"table": np.ascontiguousarray(w.T)}  # [vocabSize, embeddingSize]
    if p.hasBias:
        out["bias"] = W.read(p.bias, (int(p.embeddingSize),), where=layer.name, what="bias")
    return out


@op("embeddingND", params=_embedding_nd_params)
def embedding_nd(layer, inputs, params):
    """Indices along C of a ``[C, 1, 1]`` blob (rank-4 ``[1, C, 1, 1]``, the last axis of size 1 as Core ML
    asks) -> ``[C, 1, E]``: the last axis replaced by the embedding."""
    x = inputs[0]
    if tuple(x.shape[1:3]) != (1, 1):
        raise UnsupportedConfigError(
            f"embeddingND input must be [T, 1, 1] indices, got [C, H, W] = [{x.shape[3]}, {x.shape[1]}, "
            f"{x.shape[2]}]", where=f"layer '{layer.name}'", fix="feed a sequence of indices as [1, T, 1, 1]")
    index = tf.cast(tf.round(x[:, 0, 0, :]), tf.int32)            # (N, T)
    y = tf.gather(params["table"], index)                          # (N, T, E)
    if layer.embeddingND.hasBias:
        y = y + params["bias"]
    return [tf.transpose(y, [0, 2, 1])[:, None, :, :]]             # backend (N, H=1, W=E, C=T)
