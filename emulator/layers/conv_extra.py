"""Convolution beyond the plain case: dilation, groups (general and depthwise) and deconvolution.

Weights stay in the layout ``core._conv_params`` reads (``[kh, kw, Cin/g, Cout]`` for a convolution,
``[kh, kw, Cout/g, Cin]`` for a deconvolution), so ``_conv_write_back`` works for every case; the
forward pass reshapes or splits them as TensorFlow's ops need. Every path has a TensorFlow gradient on
CPU without oneDNN: dilation is applied to the kernel (zeros inserted) instead of ``dilations=``, and
groups use ``depthwise_conv2d`` or split/concat instead of grouped ``conv2d``.
"""
from __future__ import annotations

import tensorflow as tf

from .padding import pair, valid_padding


def dilate_kernel(w: tf.Tensor, dh: int, dw: int) -> tf.Tensor:
    """A ``[kh, kw, i, o]`` kernel with ``d - 1`` zeros between its taps (Core ML's dilationFactor)."""
    kh, kw, ci, co = (int(s) for s in w.shape)
    if dh > 1:
        w = tf.pad(w[:, None], [[0, 0], [0, dh - 1], [0, 0], [0, 0], [0, 0]])
        w = tf.reshape(w, [kh * dh, kw, ci, co])[: (kh - 1) * dh + 1]
    if dw > 1:
        k = int(w.shape[0])
        w = tf.pad(w[:, :, None], [[0, 0], [0, 0], [0, dw - 1], [0, 0], [0, 0]])
        w = tf.reshape(w, [k, kw * dw, ci, co])[:, : (kw - 1) * dw + 1]
    return w


def conv2d(x: tf.Tensor, w: tf.Tensor, strides: tuple[int, int], dilations: tuple[int, int],
           groups: int) -> tf.Tensor:
    """'Valid' convolution of an already padded NHWC ``x`` with ``w`` ``[kh, kw, Cin/g, Cout]``."""
    w = dilate_kernel(w, *dilations)
    s = [1, strides[0], strides[1], 1]
    if groups == 1:
        return tf.nn.conv2d(x, w, strides=s, padding="VALID")
    cin, cout = int(x.shape[-1]), int(w.shape[-1])
    if int(w.shape[2]) == 1 and groups == cin:  # depthwise: output channel o = c * multiplier + m
        kh, kw = int(w.shape[0]), int(w.shape[1])
        return tf.nn.depthwise_conv2d(x, tf.reshape(w, [kh, kw, cin, cout // cin]), strides=s,
                                      padding="VALID")
    xs = tf.split(x, groups, axis=-1)
    ws = tf.split(w, groups, axis=-1)
    return tf.concat([tf.nn.conv2d(a, b, strides=s, padding="VALID") for a, b in zip(xs, ws)], axis=-1)


def _deconv_crop(layer, size: int, full: int, axis: int) -> tuple[int, int]:
    """(start, length) of the output window inside the full transposed-convolution result on one axis.

    With ``outputShape``: 'same' centres the window as the forward convolution's same padding would
    (the asymmetry mode decides the odd pixel); 'valid' starts at the start padding amount. The window
    may reach past the full result; those pixels are zeros (plus the bias).
    Without it: 'same' gives ``size * stride`` pixels, 'valid' removes the padding amounts.
    """
    p = layer.convolution
    stride = pair(p.stride, 1)[axis]
    is_same = p.WhichOneof("ConvolutionPaddingType") == "same"
    pads = valid_padding(p.valid)[axis]
    if len(p.outputShape):
        out = int(p.outputShape[axis])
    elif is_same:
        out = size * stride
    else:
        out = full - pads[0] - pads[1]
    if is_same:
        total = max(full - out, 0)
        start = total - total // 2 if p.same.asymmetryMode == 1 else total // 2
    else:
        start = pads[0]
    return start, out


def deconvolution(layer, x: tf.Tensor, params: dict) -> tf.Tensor:
    """Core ML's deconvolution (transposed convolution), bias included. ``dilationFactor`` is ignored."""
    p = layer.convolution
    sh, sw = pair(p.stride, 1)
    kh, kw = pair(p.kernelSize, 3)
    groups = max(p.nGroups, 1)
    h, w_in = int(x.shape[1]), int(x.shape[2])
    full_h, full_w = (h - 1) * sh + kh, (w_in - 1) * sw + kw
    weights = params["weights"]  # [kh, kw, Cout/g, Cin]
    cout_g = int(weights.shape[2])
    batch = tf.shape(x)[0]
    shape = tf.stack([batch, full_h, full_w, cout_g])
    xs = tf.split(x, groups, axis=-1) if groups > 1 else [x]
    ws = tf.split(weights, groups, axis=-1) if groups > 1 else [weights]
    parts = [tf.nn.conv2d_transpose(a, b, shape, strides=[1, sh, sw, 1], padding="VALID")
             for a, b in zip(xs, ws)]
    y = tf.concat(parts, axis=-1) if groups > 1 else parts[0]
    (top, out_h), (left, out_w) = _deconv_crop(layer, h, full_h, 0), _deconv_crop(layer, w_in, full_w, 1)
    y = y[:, top:top + out_h, left:left + out_w]
    extra_h, extra_w = out_h - int(y.shape[1]), out_w - int(y.shape[2])
    if extra_h > 0 or extra_w > 0:
        y = tf.pad(y, [[0, 0], [0, max(extra_h, 0)], [0, max(extra_w, 0)], [0, 0]])
    if p.hasBias:
        y = tf.nn.bias_add(y, params["bias"])
    return y
