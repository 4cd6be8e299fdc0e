"""Element-wise layers: add, multiply, average, max, min, concat, unary, clip, scale, bias.

Core ML's limited broadcasting (``[1,1,1]``, ``[C,1,1]``, ``[1,H,W]`` against ``[C,H,W]``) is plain
NumPy-style broadcasting in the (N, H, W, C) layout, where those shapes are (N,1,1,1), (N,1,1,C) and
(N,H,W,1).
"""
from __future__ import annotations

from functools import reduce

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

from . import weights as W
from .registry import op


@op("add")
def add(layer, inputs, params):
    if len(inputs) == 1:
        return [inputs[0] + layer.add.alpha]
    return [reduce(tf.add, inputs)]


@op("multiply")
def multiply(layer, inputs, params):
    if len(inputs) == 1:
        return [inputs[0] * layer.multiply.alpha]
    return [reduce(tf.multiply, inputs)]


@op("average")
def average(layer, inputs, params):
    return [reduce(tf.add, inputs) / float(len(inputs))]


@op("max")
def maximum(layer, inputs, params):
    return [reduce(tf.maximum, inputs)]


@op("min")
def minimum(layer, inputs, params):
    return [reduce(tf.minimum, inputs)]


def _concat_supported(layer) -> str | None:
    return "sequenceConcat (concatenation along the sequence axis) is not implemented" \
        if layer.concat.sequenceConcat else None


@op("concat", supports=_concat_supported)
def concat(layer, inputs, params):
    return [tf.concat(inputs, axis=-1)]


SQRT, RSQRT, INVERSE, POWER, EXP, LOG, ABS, THRESHOLD = range(8)


@op("unary")
def unary(layer, inputs, params):
    p = layer.unary
    scale = p.scale if p.scale != 0 else 1.0
    eps = p.epsilon if p.epsilon != 0 else 1e-6
    x = scale * inputs[0] + p.shift
    fns = {SQRT: tf.sqrt, RSQRT: lambda v: tf.math.rsqrt(v + eps), INVERSE: lambda v: 1.0 / (v + eps),
           POWER: lambda v: tf.pow(v, p.alpha), EXP: tf.exp, LOG: tf.math.log, ABS: tf.abs,
           THRESHOLD: lambda v: tf.maximum(v, p.alpha)}
    return [fns[p.type](x)]


@op("clip")
def clip(layer, inputs, params):
    return [tf.clip_by_value(inputs[0], layer.clip.minVal, layer.clip.maxVal)]


def broadcastable(wp, shape, *, where: str, what: str) -> np.ndarray:
    """Scale/bias values of Core ML shape ``[1]``, ``[C]``, ``[1,H,W]`` or ``[C,H,W]`` in a shape that
    broadcasts against (N, H, W, C): ``()``, ``(C,)``, ``(H, W, 1)`` or ``(H, W, C)``."""
    shape = tuple(int(s) for s in shape) or (1,)
    if len(shape) not in (1, 3):
        raise UnsupportedConfigError(f"{what} shape {list(shape)} is not [1], [C], [1,H,W] or [C,H,W]",
                                     where=f"layer '{where}'", fix="use one of those shapes")
    values = W.read(wp, shape, where=where, what=what)
    if shape == (1,):
        return values.reshape(())
    if len(shape) == 1:
        return values
    return np.ascontiguousarray(values.transpose(1, 2, 0))


def _scale_params(layer) -> dict:
    p = layer.scale
    out = {"scale": broadcastable(p.scale, p.shapeScale, where=layer.name, what="scale")}
    if p.hasBias:
        out["bias"] = broadcastable(p.bias, p.shapeBias, where=layer.name, what="bias")
    return out


@op("scale", params=_scale_params)
def scale(layer, inputs, params):
    y = inputs[0] * params["scale"]
    if layer.scale.hasBias:
        y = y + params["bias"]
    return [y]


def _bias_params(layer) -> dict:
    return {"bias": broadcastable(layer.bias.bias, layer.bias.shape, where=layer.name, what="bias")}


@op("bias", params=_bias_params)
def bias(layer, inputs, params):
    return [inputs[0] + params["bias"]]
