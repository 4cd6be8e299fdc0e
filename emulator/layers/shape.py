"""Layers that move data around: reshape, permute, padding, crop, upsample, loadConstant.

Core ML's rank-5 ``[Seq, B, C, H, W]`` blobs are (N, H, W, C) here; the sequence axis must stay 1,
which each layer's ``supports`` check enforces up front.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

from . import weights as W
from .padding import pair
from .registry import op

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


# ---------------------------------------------------------------- reshape, permute


def _reshape_supported(layer) -> str | None:
    target = list(layer.reshape.targetShape)
    if len(target) not in (3, 4):
        return f"targetShape {target} must have 3 or 4 values"
    if len(target) == 4 and target[0] != 1:
        return f"targetShape {target} changes the sequence length, which the emulator does not model"
    return None


@op("reshape", supports=_reshape_supported)
def reshape(layer, inputs, params):
    x = inputs[0]
    size = int(np.prod(x.shape[1:]))
    target = [int(v) for v in layer.reshape.targetShape][-3:]  # [C, H, W]
    if -1 in target:
        known = int(np.prod([v for v in target if v != -1]))
        target[target.index(-1)] = size // max(known, 1)
    c, h, w = target
    if c * h * w != size:
        raise UnsupportedConfigError(
            f"targetShape {list(layer.reshape.targetShape)} holds {c * h * w} values, the input {size}",
            where=f"layer '{layer.name}'", fix="make the target shape's product equal the input's")
    if layer.reshape.mode == 1:  # CHANNEL_LAST: H*W*C order throughout, i.e. NHWC as stored
        return [tf.reshape(x, [-1, h, w, c])]
    y = tf.reshape(tf.transpose(x, _TO_NCHW), [-1, c, h, w])
    return [tf.transpose(y, _TO_NHWC)]


def _permute_supported(layer) -> str | None:
    axis = list(layer.permute.axis)
    if axis and sorted(axis) != [0, 1, 2, 3]:
        return f"axis {axis} is not a permutation of [0, 1, 2, 3]"
    if axis and axis[0] != 0:
        return f"axis {axis} moves the sequence axis, which the emulator does not model"
    return None


@op("permute", supports=_permute_supported)
def permute(layer, inputs, params):
    axis = [int(a) for a in layer.permute.axis] or [0, 1, 2, 3]
    nchw_perm = [0] + axis[1:]  # over (N, C, H, W): Core ML's [Seq, C, H, W] with Seq -> the batch axis
    perm = [_TO_NCHW[nchw_perm[j]] for j in _TO_NHWC]
    return [tf.transpose(inputs[0], perm)]


# ---------------------------------------------------------------- padding, crop


def _amounts(border) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) of a ``BorderAmounts`` message (zeros when empty)."""
    edges = list(border.borderAmounts)
    if not edges:
        return (0, 0), (0, 0)
    return ((int(edges[0].startEdgeSize), int(edges[0].endEdgeSize)),
            (int(edges[1].startEdgeSize), int(edges[1].endEdgeSize)))


def _replicate(x: tf.Tensor, axis: int, before: int, after: int) -> tf.Tensor:
    n = int(x.shape[axis])
    parts = [x]
    if before:
        parts.insert(0, tf.repeat(tf.gather(x, [0], axis=axis), before, axis=axis))
    if after:
        parts.append(tf.repeat(tf.gather(x, [n - 1], axis=axis), after, axis=axis))
    return tf.concat(parts, axis=axis) if len(parts) > 1 else x


def _padding_supported(layer) -> str | None:
    kind = layer.padding.WhichOneof("PaddingType")
    return None if kind else "no padding type (constant, reflection or replication) is set"


@op("padding", supports=_padding_supported)
def padding(layer, inputs, params):
    x = inputs[0]
    p = layer.padding
    pads_h, pads_w = _amounts(p.paddingAmounts)
    kind = p.WhichOneof("PaddingType")
    if kind == "replication":
        return [_replicate(_replicate(x, 1, *pads_h), 2, *pads_w)]
    pads = [[0, 0], list(pads_h), list(pads_w), [0, 0]]
    if kind == "reflection":
        if max(pads_h) >= x.shape[1] or max(pads_w) >= x.shape[2]:
            raise UnsupportedConfigError(
                f"reflection padding {pads_h, pads_w} must be smaller than the input's H, W "
                f"({x.shape[1]}, {x.shape[2]})", where=f"layer '{layer.name}'", fix="pad by less")
        return [tf.pad(x, pads, mode="REFLECT")]
    return [tf.pad(x, pads, constant_values=p.constant.value)]


@op("crop")
def crop(layer, inputs, params):
    x = inputs[0]
    h, w = int(x.shape[1]), int(x.shape[2])
    if len(inputs) == 2:
        top, left = pair(layer.crop.offset, 0)
        out_h, out_w = int(inputs[1].shape[1]), int(inputs[1].shape[2])
    else:
        (top, bottom), (left, right) = _amounts(layer.crop.cropAmounts)
        out_h, out_w = h - top - bottom, w - left - right
    if out_h <= 0 or out_w <= 0 or top + out_h > h or left + out_w > w:
        raise UnsupportedConfigError(f"the crop window leaves the {h}x{w} input",
                                     where=f"layer '{layer.name}'", fix="crop less")
    return [x[:, top:top + out_h, left:left + out_w]]


# ---------------------------------------------------------------- upsample


def _upsample_supported(layer) -> str | None:
    p = layer.upsample
    if len(p.fractionalScalingFactor) and p.mode == 0:
        return "fractionalScalingFactor with NN interpolation is not implemented"
    return None


def interpolation_matrix(size_in: int, size_out: int, mode: int) -> np.ndarray:
    """[size_out, size_in] weights of linear interpolation on Core ML's grid (LinearUpsampleMode)."""
    i = np.arange(size_out, dtype=np.float64)
    if size_out == 1:
        grid = np.zeros(1)
    elif mode == 1:  # ALIGN_CORNERS_TRUE
        grid = i * (size_in - 1) / (size_out - 1)
    elif mode == 2:  # ALIGN_CORNERS_FALSE
        spacing = size_in / size_out
        grid = i * spacing + 0.5 * spacing - 0.5
    else:  # DEFAULT
        grid = i * (size_in - size_in / size_out) / (size_out - 1)
    grid = np.clip(grid, 0, size_in - 1)
    lo = np.floor(grid).astype(int)
    hi = np.minimum(lo + 1, size_in - 1)
    frac = grid - lo
    m = np.zeros((size_out, size_in))
    np.add.at(m, (np.arange(size_out), lo), 1 - frac)
    np.add.at(m, (np.arange(size_out), hi), frac)
    return m.astype(np.float32)


@op("upsample", supports=_upsample_supported)
def upsample(layer, inputs, params):
    x = inputs[0]
    p = layer.upsample
    h, w = int(x.shape[1]), int(x.shape[2])
    if len(p.fractionalScalingFactor):
        fh, fw = (float(v) for v in p.fractionalScalingFactor)
        out_h, out_w = int(math.floor(h * fh)), int(math.floor(w * fw))
    else:
        sh, sw = pair(p.scalingFactor, 1)
        if p.mode == 0:  # NN
            return [tf.repeat(tf.repeat(x, sh, axis=1), sw, axis=2)]
        out_h, out_w = h * sh, w * sw
    mh = interpolation_matrix(h, out_h, p.linearUpsampleMode)
    mw = interpolation_matrix(w, out_w, p.linearUpsampleMode)
    y = tf.einsum("oh,nhwc->nowc", mh, x)
    return [tf.einsum("pw,nowc->nopc", mw, y)]


# ---------------------------------------------------------------- loadConstant


def _load_constant_supported(layer) -> str | None:
    shape = list(layer.loadConstant.shape)
    return None if len(shape) == 3 else f"shape {shape} must be [C, H, W]"


def _load_constant_params(layer) -> dict:
    c, h, w = (int(v) for v in layer.loadConstant.shape)
    data = W.read(layer.loadConstant.data, (c, h, w), where=layer.name, what="data")
    return {"data": np.ascontiguousarray(data.transpose(1, 2, 0))[None]}


@op("loadConstant", params=_load_constant_params, supports=_load_constant_supported)
def load_constant(layer, inputs, params):
    """The constant as a (1, H, W, C) blob: it broadcasts over the batch in element-wise layers."""
    return [tf.convert_to_tensor(params["data"])]
