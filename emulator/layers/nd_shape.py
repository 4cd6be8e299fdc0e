"""Rank-N data-movement layers (specification 4+): transpose, reshapes, expandDims, squeeze, concatND,
splitND, sliceStatic, gather, loadConstantND, flattenTo2D.

Tensors are ``(N, *S)`` for a Core ML blob of shape ``S`` (see emulator/rank_n.py).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

from .. import rank_n as R
from . import weights as W
from .nd_math import nd_op


def _dims(x: tf.Tensor) -> list[int]:
    return [int(s) for s in x.shape[1:]]


def _fail(layer, message: str, fix: str):
    raise UnsupportedConfigError(message, where=f"layer '{layer.name}'", fix=fix)


@nd_op("transpose")
def transpose(layer, inputs, params):
    x = inputs[0]
    axes = [int(a) for a in layer.transpose.axes]
    if sorted(axes) != list(range(R.rank(x))):
        _fail(layer, f"axes {axes} are not a permutation of the input's {R.rank(x)} axes",
              "give one axis per input dimension")
    return [tf.transpose(x, [0] + [a + 1 for a in axes])]


def _reshape_to(layer, x: tf.Tensor, target: list[int]) -> tf.Tensor:
    size = int(np.prod(_dims(x)))
    target = list(target)
    if target.count(-1) > 1:
        _fail(layer, f"targetShape {target} has more than one -1", "leave at most one dimension to infer")
    if -1 in target:
        known = int(np.prod([t for t in target if t != -1]))
        target[target.index(-1)] = size // max(known, 1)
    if int(np.prod(target)) != size:
        _fail(layer, f"the target shape {target} holds {int(np.prod(target))} values, the input {size}",
              "make the target shape's product equal the input's")
    return tf.reshape(x, [-1, *target])


@nd_op("reshapeStatic")
def reshape_static(layer, inputs, params):
    return [_reshape_to(layer, inputs[0], [int(t) for t in layer.reshapeStatic.targetShape])]


@nd_op("reshapeLike")
def reshape_like(layer, inputs, params):
    return [_reshape_to(layer, inputs[0], _dims(inputs[1]))]


@nd_op("reshapeDynamic")
def reshape_dynamic(layer, inputs, params):
    """The target shape is the value of the second input (the same for every example)."""
    x, shape = inputs
    target = tf.cast(tf.round(tf.reshape(shape[0], [-1])), tf.int32)
    return [tf.reshape(x, tf.concat([tf.shape(x)[:1], target], 0))]


@nd_op("flattenTo2D")
def flatten_to_2d(layer, inputs, params):
    x = inputs[0]
    dims = _dims(x)
    r = len(dims)
    a = int(layer.flattenTo2D.axis)
    if not -r <= a <= r:
        _fail(layer, f"axis {a} is out of range for a rank-{r} input", "use an axis in [-rank, rank]")
    a = a + r if a < 0 else a
    return [tf.reshape(x, [-1, int(np.prod(dims[:a])), int(np.prod(dims[a:]))])]


@nd_op("expandDims")
def expand_dims(layer, inputs, params):
    x = inputs[0]
    out_rank = R.rank(x) + len(layer.expandDims.axes)
    new = sorted({int(a) % out_rank for a in layer.expandDims.axes})
    if len(new) != len(layer.expandDims.axes):
        _fail(layer, f"axes {list(layer.expandDims.axes)} repeat an axis", "list each new axis once")
    shape, it = [], iter(_dims(x))
    for i in range(out_rank):
        shape.append(1 if i in new else next(it))
    return [tf.reshape(x, [-1, *shape])]


@nd_op("squeeze")
def squeeze(layer, inputs, params):
    x = inputs[0]
    dims = _dims(x)
    p = layer.squeeze
    if p.squeezeAll:
        drop = {i for i, d in enumerate(dims) if d == 1}
    else:
        drop = {int(a) % len(dims) for a in p.axes}
        bad = sorted(i for i in drop if dims[i] != 1)
        if bad:
            _fail(layer, f"axes {bad} of the input {dims} are not 1", "squeeze only axes of size 1")
    shape = [d for i, d in enumerate(dims) if i not in drop] or [1]   # rank 1 stays rank 1
    return [tf.reshape(x, [-1, *shape])]


@nd_op("concatND")
def concat_nd(layer, inputs, params):
    xs = R.broadcast_examples(inputs)
    a = R.axis(int(layer.concatND.axis), R.rank(xs[0]), where=layer.name)
    if not layer.concatND.interleave:
        return [tf.concat(xs, axis=a)]
    stacked = tf.stack(xs, axis=a + 1)               # (..., d, K, ...) -> interleaved (..., d*K, ...)
    shape = [-1] + _dims(xs[0])
    shape[a] = shape[a] * len(xs)
    return [tf.reshape(stacked, shape)]


@nd_op("splitND")
def split_nd(layer, inputs, params):
    x = inputs[0]
    p = layer.splitND
    a = R.axis(int(p.axis), R.rank(x), where=layer.name)
    size = int(x.shape[a])
    sizes = [int(s) for s in p.splitSizes] or [size // max(int(p.numSplits), 1)] * max(int(p.numSplits), 1)
    if sum(sizes) != size or len(sizes) != len(layer.output):
        _fail(layer, f"splits {sizes} do not cover the axis of size {size} in {len(layer.output)} outputs",
              "give one split size per output, summing to the axis size")
    return list(tf.split(x, sizes, axis=a))


@nd_op("sliceStatic")
def slice_static(layer, inputs, params):
    x = inputs[0]
    p = layer.sliceStatic
    r = R.rank(x)
    if len(p.beginIds) != r or len(p.endIds) != r:
        _fail(layer, f"beginIds/endIds have {len(p.beginIds)}/{len(p.endIds)} values for a rank-{r} input",
              "give one value per input axis")

    def flag(values, i):
        return bool(values[i]) if len(values) > i else False

    index: list = [slice(None)]
    for i in range(r):
        stride = int(p.strides[i]) if len(p.strides) > i else 1
        begin = None if flag(p.beginMasks, i) else int(p.beginIds[i])
        if flag(p.squeezeMasks, i):
            index.append(int(p.beginIds[i]))
            continue
        end = None if flag(p.endMasks, i) else int(p.endIds[i])
        index.append(slice(begin, end, stride))
    y = x[tuple(index)]
    if R.rank(y) == 0:
        y = tf.expand_dims(y, 1)
    return [y]


@nd_op("gather")
def gather(layer, inputs, params):
    """``output = take(data, indices, axis)`` per example; negative indices count from the end."""
    data, indices = inputs
    r = R.rank(data)
    a = R.axis(int(layer.gather.axis), r, where=layer.name) - 1
    size = int(data.shape[a + 1])
    idx = tf.cast(tf.round(indices), tf.int32)
    idx = tf.where(idx < 0, idx + size, idx)
    if data.shape[0] == 1:                            # a constant: one table for every example
        y = tf.gather(data[0], idx, axis=a)           # data[:a] + (N, *I) + data[a+1:]
        perm = list(range(len(y.shape)))
        perm = [a] + perm[:a] + perm[a + 1:]
        return [tf.transpose(y, perm) if a else y]
    return [tf.gather(data, idx, axis=a + 1, batch_dims=1)]


def _load_constant_nd_params(layer) -> dict:
    shape = tuple(int(s) for s in layer.loadConstantND.shape)
    return {"data": W.read(layer.loadConstantND.data, shape, where=layer.name, what="data")[None]}


@nd_op("loadConstantND", params=_load_constant_nd_params)
def load_constant_nd(layer, inputs, params):
    """The constant as a ``(1, *shape)`` tensor: it broadcasts over the examples."""
    return [tf.convert_to_tensor(params["data"])]
