"""Core ML pooling: MAX / AVERAGE / L2 over 'valid' (explicit amounts), 'same' and 'includeLastPixel'
padding, global pooling, and ``avgPoolExcludePadding``.

Averages are window sums divided by a per-position count computed once in numpy from a mask of the
padded input (1 where a pixel counts). L2 pooling is ``sqrt(sum(x**2))`` over the window (padding
adds zero). ``includeLastPixel`` follows the proto's (Caffe's) output size; windows that overhang the
symmetric padding see zeros that never count, as in Caffe.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .padding import pad_hw, pair, same_padding, valid_padding

MAX, AVERAGE, L2 = 0, 1, 2


def _last_pixel_size(size: int, pad: int, kernel: int, stride: int, any_pad: bool) -> int:
    """Output size of ``includeLastPixel`` padding on one axis (formula of NeuralNetwork.proto)."""
    out = math.ceil((size + 2 * pad - kernel) / stride) + 1
    if any_pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _plan(layer, h: int, w: int):
    """(padding incl. overhang, padding that counts in averages, output size), each as an (H, W) pair."""
    p = layer.pooling
    kh, kw = pair(p.kernelSize, 3)
    sh, sw = pair(p.stride, 1)
    mode = p.WhichOneof("PoolingPaddingType")
    if mode == "includeLastPixel":
        ph, pw = pair(p.includeLastPixel.paddingAmounts, 0)
        any_pad = ph > 0 or pw > 0
        out_h = _last_pixel_size(h, ph, kh, sh, any_pad)
        out_w = _last_pixel_size(w, pw, kw, sw, any_pad)
        extra_h = max((out_h - 1) * sh + kh - (h + 2 * ph), 0)
        extra_w = max((out_w - 1) * sw + kw - (w + 2 * pw), 0)
        return ((ph, ph + extra_h), (pw, pw + extra_w)), ((ph, ph), (pw, pw)), (out_h, out_w)
    if mode == "same":
        tl = p.same.asymmetryMode == 1
        pads = (same_padding(h, kh, sh, 1, tl), same_padding(w, kw, sw, 1, tl))
    else:
        pads = valid_padding(p.valid)
    out_h = (h + sum(pads[0]) - kh) // sh + 1
    out_w = (w + sum(pads[1]) - kw) // sw + 1
    return pads, pads, (out_h, out_w)


def _window_counts(h: int, w: int, pads, counted, kernel, stride, out, exclude: bool) -> np.ndarray:
    """How many pixels count in each output window, as a (1, out_h, out_w, 1) float32 array."""
    (pt, pb), (pl, pr) = pads
    mask = np.zeros((h + pt + pb, w + pl + pr), np.float32)
    if exclude:
        mask[pt:pt + h, pl:pl + w] = 1.0
    else:
        (ct, cb), (cl, cr) = counted
        mask[pt - ct:pt + h + cb, pl - cl:pl + w + cr] = 1.0
    counts = np.empty(out, np.float32)
    for i in range(out[0]):
        for j in range(out[1]):
            r, c = i * stride[0], j * stride[1]
            counts[i, j] = mask[r:r + kernel[0], c:c + kernel[1]].sum()
    return np.maximum(counts, 1.0)[None, :, :, None]


def _global(kind: int, x: tf.Tensor) -> tf.Tensor:
    if kind == MAX:
        return tf.reduce_max(x, axis=[1, 2], keepdims=True)
    if kind == AVERAGE:
        return tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=[1, 2], keepdims=True))


def pooling(layer, x: tf.Tensor) -> tf.Tensor:
    """The pooling layer's output for an (N, H, W, C) input."""
    p = layer.pooling
    if p.globalPooling:
        return _global(p.type, x)
    kernel, stride = pair(p.kernelSize, 3), pair(p.stride, 1)
    h, w = int(x.shape[1]), int(x.shape[2])
    pads, counted, out = _plan(layer, h, w)
    if p.type == MAX:
        y = tf.nn.max_pool2d(pad_hw(x, *pads, value=float("-inf")), kernel, stride, "VALID")
        return y[:, :out[0], :out[1]]
    values = tf.square(x) if p.type == L2 else x
    sums = tf.nn.avg_pool2d(pad_hw(values, *pads), kernel, stride, "VALID")[:, :out[0], :out[1]]
    sums = sums * float(kernel[0] * kernel[1])
    if p.type == L2:
        return tf.sqrt(sums)
    counts = _window_counts(h, w, pads, counted, kernel, stride, out, p.avgPoolExcludePadding)
    return sums / counts
