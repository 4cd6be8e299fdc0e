"""Windowed pooling (non-global): MAX / AVERAGE over 'valid' padding.

TODO(layers helper): 'same' padding, includeLastPixel, avgPoolExcludePadding, L2.
"""
from __future__ import annotations

import tensorflow as tf

from .core import pad_hw, pair, valid_padding


def pooling(layer, x: tf.Tensor) -> tf.Tensor:
    p = layer.pooling
    kh, kw = pair(p.kernelSize, 3)
    sh, sw = pair(p.stride, 1)
    pads_h, pads_w = valid_padding(p.valid)
    if p.type == 0:
        x = pad_hw(x, pads_h, pads_w, value=float("-inf"))
        return tf.nn.max_pool2d(x, [kh, kw], [sh, sw], "VALID")
    x = pad_hw(x, pads_h, pads_w)
    return tf.nn.avg_pool2d(x, [kh, kw], [sh, sw], "VALID")
