"""Normalization layers: batchnorm (stored statistics, or per-instance ones), l2normalize, lrn."""
from __future__ import annotations

import tensorflow as tf

from . import weights as W
from .registry import op


def _batchnorm_supported(layer) -> str | None:
    p = layer.batchnorm
    if p.computeMeanVar and not p.instanceNormalization:
        return ("computeMeanVar with batch statistics (instanceNormalization false) depends on how Core ML "
                "batches predictions; not implemented")
    return None


def _batchnorm_params(layer) -> dict:
    p = layer.batchnorm
    c = (int(p.channels),)
    out = {"gamma": W.read(p.gamma, c, where=layer.name, what="gamma"),
           "beta": W.read(p.beta, c, where=layer.name, what="beta")}
    if not p.computeMeanVar:
        out["mean"] = W.read(p.mean, c, where=layer.name, what="mean")
        out["variance"] = W.read(p.variance, c, where=layer.name, what="variance")
    return out


@op("batchnorm", params=_batchnorm_params, supports=_batchnorm_supported)
def batchnorm(layer, inputs, params):
    x = inputs[0]
    p = layer.batchnorm
    eps = p.epsilon if p.epsilon != 0 else 1e-5
    if p.computeMeanVar:  # instance normalization: statistics of each example's channel over H, W
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    else:
        mean, variance = params["mean"], params["variance"]
    return [(x - mean) * tf.math.rsqrt(variance + eps) * params["gamma"] + params["beta"]]


@op("l2normalize")
def l2normalize(layer, inputs, params):
    x = inputs[0]
    eps = layer.l2normalize.epsilon if layer.l2normalize.epsilon != 0 else 1e-6
    return [x * tf.math.rsqrt(tf.reduce_sum(tf.square(x), axis=[1, 2, 3], keepdims=True) + eps)]


def _lrn_supported(layer) -> str | None:
    size = int(layer.lrn.localSize)
    return None if size % 2 == 1 else f"localSize {size} is even (its window is not centred); use an odd size"


@op("lrn", supports=_lrn_supported)
def lrn(layer, inputs, params):
    p = layer.lrn
    size = int(p.localSize)
    return [tf.nn.local_response_normalization(inputs[0], depth_radius=(size - 1) // 2,
                                               bias=p.k if p.k != 0 else 1.0, alpha=p.alpha / size,
                                               beta=p.beta)]
