"""A small constant folder: evaluate with numpy the nodes whose inputs are constants, and ``Shape`` of
tensors whose shape is fixed (the input shapes are fixed first), so that shape sub-graphs exporters
emit (Shape -> Gather -> Concat -> Reshape) become constants."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Fold = Callable[[Any, list, dict], list]
FOLDERS: dict[str, Fold] = {}


def folds(*ops: str) -> Callable[[Fold], Fold]:
    def register(fn: Fold) -> Fold:
        for op in ops:
            FOLDERS[op] = fn
        return fn
    return register


def attrs(node: Any) -> dict[str, Any]:
    """A node's attributes as plain Python / numpy values."""
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if hasattr(value, "dims") and hasattr(value, "data_type"):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        out[a.name] = value
    return out


def _np_dtype(onnx_type: int):
    from onnx import helper

    return helper.tensor_dtype_to_np_dtype(onnx_type)


@folds("Constant")
def _constant(node, ins, a):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in a:
            v = a[key]
            if key == "value":
                return [np.asarray(v)]
            dtype = np.float32 if "float" in key else np.int64
            return [np.asarray(v, dtype)]
    raise KeyError("Constant without a numeric value")


@folds("Identity")
def _identity(node, ins, a):
    return [ins[0]]


@folds("Cast")
def _cast(node, ins, a):
    return [ins[0].astype(_np_dtype(a["to"]))]


@folds("Shape")
def _shape(node, ins, a):
    shape = np.asarray(ins[0], np.int64)           # the input's shape is passed in place of its value
    start, end = a.get("start", 0), a.get("end", None)
    return [shape[start:end]]


@folds("Size")
def _size(node, ins, a):
    return [np.asarray(np.prod(ins[0]), np.int64)]


@folds("Gather")
def _gather(node, ins, a):
    return [np.take(ins[0], ins[1].astype(np.int64), axis=a.get("axis", 0))]


@folds("Unsqueeze")
def _unsqueeze(node, ins, a):
    axes = a.get("axes", ins[1] if len(ins) > 1 else None)
    x = ins[0]
    rank = x.ndim + len(axes)
    for ax in sorted(int(v) % rank for v in axes):
        x = np.expand_dims(x, ax)
    return [x]


@folds("Squeeze")
def _squeeze(node, ins, a):
    axes = a.get("axes", ins[1] if len(ins) > 1 and ins[1] is not None else None)
    if axes is None:
        return [np.squeeze(ins[0])]
    return [np.squeeze(ins[0], axis=tuple(int(v) % ins[0].ndim for v in axes))]


@folds("Concat")
def _concat(node, ins, a):
    return [np.concatenate([np.atleast_1d(v) if v.ndim == 0 else v for v in ins], axis=a["axis"])]


@folds("Slice")
def _slice(node, ins, a):
    x = ins[0]
    starts, ends = ins[1], ins[2]
    axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
    steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[int(ax)] = slice(int(s), int(e), int(st))
    return [x[tuple(index)]]


@folds("Reshape")
def _reshape(node, ins, a):
    x, shape = ins[0], [int(v) for v in ins[1]]
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return [x.reshape(shape)]


@folds("Transpose")
def _transpose(node, ins, a):
    return [np.transpose(ins[0], a.get("perm"))]


def _binary(fn):
    return lambda node, ins, a: [np.asarray(fn(ins[0], ins[1])).astype(np.result_type(ins[0], ins[1]))]


def _div(x, y):
    if np.issubdtype(np.result_type(x, y), np.integer):
        return np.trunc(np.true_divide(x, y))
    return np.true_divide(x, y)


for _op, _fn in (("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("Div", _div),
                 ("Pow", np.power), ("Max", np.maximum), ("Min", np.minimum)):
    folds(_op)(_binary(_fn))


@folds("Equal", "Greater", "Less")
def _compare(node, ins, a):
    fn = {"Equal": np.equal, "Greater": np.greater, "Less": np.less}[node.op_type]
    return [fn(ins[0], ins[1])]


@folds("Where")
def _where(node, ins, a):
    return [np.where(ins[0], ins[1], ins[2])]


@folds("Neg", "Floor", "Ceil", "Sqrt", "Abs", "Not")
def _unary(node, ins, a):
    fn = {"Neg": np.negative, "Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Abs": np.abs,
          "Not": np.logical_not}[node.op_type]
    return [fn(ins[0])]


@folds("Range")
def _range(node, ins, a):
    return [np.arange(ins[0], ins[1], ins[2]).astype(ins[0].dtype)]


@folds("ConstantOfShape")
def _constant_of_shape(node, ins, a):
    value = a.get("value", np.zeros(1, np.float32))
    return [np.full([int(v) for v in ins[0]], value.ravel()[0], dtype=value.dtype)]


@folds("ReduceProd")
def _reduce_prod(node, ins, a):
    axes = a.get("axes", ins[1] if len(ins) > 1 else None)
    axes = None if axes is None else tuple(int(v) for v in axes)
    return [np.prod(ins[0], axis=axes, keepdims=bool(a.get("keepdims", 1))).astype(ins[0].dtype)]


@folds("Expand")
def _expand(node, ins, a):
    shape = np.broadcast_shapes(ins[0].shape, tuple(int(v) for v in ins[1]))
    return [np.broadcast_to(ins[0], shape).copy()]


@folds("Tile")
def _tile(node, ins, a):
    return [np.tile(ins[0], [int(v) for v in ins[1]])]


def foldable(node: Any, consts: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> bool:
    """Whether ``node`` can be evaluated now."""
    if node.op_type not in FOLDERS or node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type == "Constant":
        return True
    if node.op_type in ("Shape", "Size"):
        return node.input[0] in shapes or node.input[0] in consts
    return all(not t or t in consts for t in node.input) and any(t for t in node.input)


def evaluate(node: Any, consts: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> list[np.ndarray]:
    """The node's outputs, computed with numpy."""
    if node.op_type in ("Shape", "Size"):
        src = node.input[0]
        ins = [np.asarray(consts[src].shape if src in consts else shapes[src], np.int64)]
    else:
        ins = [consts[t] if t else None for t in node.input]
    return [np.asarray(v) for v in FOLDERS[node.op_type](node, ins, attrs(node))]
