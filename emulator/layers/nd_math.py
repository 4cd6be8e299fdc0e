"""Rank-N arithmetic layers (specification 4+): batchedMatmul, softmaxND, reduce*, *Broadcastable.

Tensors are ``(N, *S)`` for a Core ML blob of shape ``S`` (see emulator/rank_n.py).
"""
from __future__ import annotations

from functools import reduce as fold

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

from .. import rank_n as R
from . import weights as W
from .registry import op


def nd_op(kind: str, **kwargs):
    """Register a layer type that only exists with N-dimensional semantics."""
    R.ND_KINDS.add(kind)
    return op(kind, **kwargs)


# ---------------------------------------------------------------- batchedMatmul


def _bmm_params(layer) -> dict:
    p = layer.batchedMatmul
    if len(layer.input) != 1:
        return {}
    x1, x2 = int(p.weightMatrixFirstDimension), int(p.weightMatrixSecondDimension)
    stored = W.read(p.weights, (x2, x1), where=layer.name)   # [X1, X2] in column-major order
    out = {"weights": np.ascontiguousarray(stored.T)}
    if p.hasBias:
        out["bias"] = W.read(p.bias, (x2,), where=layer.name, what="bias")
    return out


def _bmm_supported(layer) -> str | None:
    if layer.batchedMatmul.int8DynamicQuantize:
        return "int8DynamicQuantize is not implemented"
    return None if len(layer.input) in (1, 2) else f"{len(layer.input)} inputs (1 or 2 expected)"


@nd_op("batchedMatmul", params=_bmm_params, supports=_bmm_supported)
def batched_matmul(layer, inputs, params):
    p = layer.batchedMatmul
    if len(inputs) == 1:
        x = inputs[0]
        r = R.rank(x)
        if r == 1:
            y = tf.matmul(x, params["weights"])
        else:
            y = tf.einsum("...i,io->...o", x, params["weights"])
        return [y + params["bias"] if p.hasBias else y]
    a, b = inputs
    ra, rb = R.rank(a), R.rank(b)
    if ra == 1:
        a = tf.expand_dims(a, 1)          # (D) -> (1, D)
    if rb == 1:
        b = tf.expand_dims(b, -1)         # (D) -> (D, 1)
    a, b = R.same_rank(a, b)
    y = tf.matmul(a, b, transpose_a=p.transposeA, transpose_b=p.transposeB)
    return [y]


# ---------------------------------------------------------------- softmaxND


@nd_op("softmaxND")
def softmax_nd(layer, inputs, params):
    x = inputs[0]
    return [tf.nn.softmax(x, axis=R.axis(int(layer.softmaxND.axis), R.rank(x), where=layer.name))]


# ---------------------------------------------------------------- reductions


def _reduce_fn(name):
    return {
        "reduceSum": tf.reduce_sum, "reduceMean": tf.reduce_mean, "reduceMax": tf.reduce_max,
        "reduceMin": tf.reduce_min, "reduceProd": tf.reduce_prod,
        "reduceL1": lambda x, axis, keepdims: tf.reduce_sum(tf.abs(x), axis, keepdims),
        "reduceL2": lambda x, axis, keepdims: tf.sqrt(tf.reduce_sum(tf.square(x), axis, keepdims)),
        "reduceLogSum": lambda x, axis, keepdims: tf.math.log(tf.reduce_sum(x, axis, keepdims)),
        "reduceSumSquare": lambda x, axis, keepdims: tf.reduce_sum(tf.square(x), axis, keepdims),
        "reduceLogSumExp": tf.reduce_logsumexp,
    }[name]


REDUCE_KINDS = ("reduceSum", "reduceMean", "reduceMax", "reduceMin", "reduceProd", "reduceL1", "reduceL2",
                "reduceLogSum", "reduceSumSquare", "reduceLogSumExp")


def _make_reduce(kind: str):
    fn = _reduce_fn(kind)

    def forward(layer, inputs, params):
        p = getattr(layer, kind)
        x = inputs[0]
        r = R.rank(x)
        axes = list(range(1, r + 1)) if p.reduceAll else \
            sorted({R.axis(int(a), r, where=layer.name) for a in p.axes})
        y = fn(x, axis=axes, keepdims=bool(p.keepDims))
        if R.rank(y) == 0:                 # every axis reduced away: Core ML keeps a [1] blob
            y = tf.expand_dims(y, 1)
        return [y]

    forward.__name__ = kind
    return forward


for _kind in REDUCE_KINDS:
    nd_op(_kind)(_make_reduce(_kind))


# ---------------------------------------------------------------- broadcastable element-wise


def _floor_mod(a, b):
    return a - b * tf.floor(a / b)


BROADCASTABLE = {
    "addBroadcastable": tf.add, "subtractBroadcastable": tf.subtract, "multiplyBroadcastable": tf.multiply,
    "divideBroadcastable": tf.divide, "maxBroadcastable": tf.maximum, "minBroadcastable": tf.minimum,
    "floorDivBroadcastable": lambda a, b: tf.floor(a / b), "modBroadcastable": _floor_mod,
    "powBroadcastable": tf.pow,
}


def _make_broadcastable(kind: str):
    fn = BROADCASTABLE[kind]

    def forward(layer, inputs, params):
        if len(inputs) < 2:
            raise UnsupportedConfigError(f"{kind} takes 2 inputs, got {len(inputs)}", where=f"layer '{layer.name}'",
                                         fix="give the layer two inputs")
        return [fold(fn, R.same_rank(*inputs))]

    forward.__name__ = kind
    return forward


for _kind in BROADCASTABLE:
    nd_op(_kind)(_make_broadcastable(_kind))
