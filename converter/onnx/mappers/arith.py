"""Add, Sub, Mul, Div: with a constant operand (activation linear, bias, scale) or two tensors
(add / multiply, with a negation or a reciprocal first for Sub and Div)."""
from __future__ import annotations

import numpy as np

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import onnx_op

from ..axes import CANONICAL, OnnxBlob, blob, canonical, full3, grid, set_blob
from ._util import const


def _weights(wp, values: np.ndarray) -> None:
    L.set_weights(wp, values)


def _compact(values3: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Core ML's smallest broadcastable form of a (C,H,W) array: [1], [C], [1,H,W] or [C,H,W]."""
    if np.all(values3 == values3.flat[0]):
        return values3.reshape(-1)[:1], [1]
    if np.array_equal(values3, np.broadcast_to(values3[:, :1, :1], values3.shape)):
        return values3[:, 0, 0].copy(), [values3.shape[0]]
    if np.array_equal(values3, np.broadcast_to(values3[:1], values3.shape)):
        return values3[:1].copy(), [1, values3.shape[1], values3.shape[2]]
    return values3, list(values3.shape)


def constant_for(ctx: MapContext, layer: SourceLayer, c: np.ndarray, src: OnnxBlob) -> tuple[np.ndarray, list[int]]:
    """A constant operand laid out like the blob ``src`` (batch dropped), in compact Core ML form."""
    shape = src.source_shape
    c = np.asarray(c, np.float32)
    ok = c.ndim <= len(shape) + 1 and (c.ndim <= len(shape) or c.shape[0] == 1)
    c_feat = c.reshape(c.shape[1:]) if ok and c.ndim == len(shape) + 1 else c
    try:
        full = np.broadcast_to(c_feat, shape) if ok else None
    except ValueError:
        full = None
    ctx.require(full is not None and tuple(layer.output_shapes[0]) == tuple(shape), layer, "broadcast",
                f"a constant of shape {c.shape} does not broadcast into the input (N, "
                f"{', '.join(map(str, shape))}) without growing it", "give the constant the input's shape or less")
    values3 = np.empty(src.shape3, np.float32)
    values3.reshape(-1)[grid(shape, src.axes).reshape(-1)] = full.reshape(-1)
    return _compact(values3)


def scale_layer(name: str, inp: str, out: str, scale: tuple[np.ndarray, list[int]],
                bias: tuple[np.ndarray, list[int]] | None = None) -> L.Layer:
    layer = L.new_layer(name, [inp], [out])
    p = layer.scale
    p.shapeScale.extend(scale[1])
    _weights(p.scale, scale[0])
    if bias is not None:
        p.hasBias = True
        p.shapeBias.extend(bias[1])
        _weights(p.bias, bias[0])
    return layer


def bias_layer(name: str, inp: str, out: str, bias: tuple[np.ndarray, list[int]]) -> L.Layer:
    layer = L.new_layer(name, [inp], [out])
    layer.bias.shape.extend(bias[1])
    _weights(layer.bias.bias, bias[0])
    return layer


ONE = (np.ones(1, np.float32), [1])


def _with_constant(layer: SourceLayer, ctx: MapContext, c: np.ndarray, const_first: bool) -> list:
    src = blob(ctx, layer)
    values, shape = constant_for(ctx, layer, c, src)
    out = set_blob(ctx, layer.outputs[0], ctx.out(layer), src.source_shape, src.axes).name
    scalar = shape == [1]
    v = float(values[0]) if scalar else 0.0
    op, name = layer.kind, layer.name
    if op == "Add" or (op == "Sub" and not const_first):
        sign = 1.0 if op == "Add" else -1.0
        return [L.linear(name, src.name, out, 1.0, sign * v) if scalar else
                bias_layer(name, src.name, out, (sign * values, shape))]
    if op == "Sub":        # c - x
        return [L.linear(name, src.name, out, -1.0, v) if scalar else
                scale_layer(name, src.name, out, (-ONE[0], [1]), (values, shape))]
    if op == "Mul" or (op == "Div" and not const_first):
        factor = (values if op == "Mul" else (1.0 / values).astype(np.float32))
        return [L.linear(name, src.name, out, float(factor[0]), 0.0) if scalar else
                scale_layer(name, src.name, out, (factor, shape))]
    mid = ctx.tmp(layer, "reciprocal", src.shape)           # c / x
    recip = L.unary(ctx.lname(layer, "reciprocal"), src.name, mid, "POWER", alpha=-1.0)
    return [recip, L.linear(name, mid, out, v, 0.0) if scalar else scale_layer(name, mid, out, (values, shape))]


def _two_tensors(layer: SourceLayer, ctx: MapContext) -> list:
    a, b = blob(ctx, layer, 0), blob(ctx, layer, 1)
    ctx.require(len(a.source_shape) == len(b.source_shape), layer, "broadcast",
                f"inputs of shapes {a.source_shape} and {b.source_shape} differ in rank",
                "give both inputs the same rank")
    pre: list = []
    names = [a.name, b.name]
    axes = a.axes
    if a.axes != b.axes:
        for i in (0, 1):
            names[i], made = canonical(ctx, layer, i)
            pre += made
        axes = CANONICAL[len(a.source_shape)]
    out = set_blob(ctx, layer.outputs[0], ctx.out(layer), layer.output_shapes[0], axes).name
    if layer.kind in ("Add", "Mul"):
        return pre + [L.elementwise("add" if layer.kind == "Add" else "multiply", layer.name, names, out)]
    mid = ctx.tmp(layer, "negated" if layer.kind == "Sub" else "reciprocal", full3(b.source_shape, axes))
    if layer.kind == "Sub":
        second = L.linear(ctx.lname(layer, "negated"), names[1], mid, -1.0, 0.0)
    else:
        second = L.unary(ctx.lname(layer, "reciprocal"), names[1], mid, "POWER", alpha=-1.0)
    kind = "add" if layer.kind == "Sub" else "multiply"
    return pre + [second, L.elementwise(kind, layer.name, [names[0], mid], out)]


@onnx_op("Add", "Sub", "Mul", "Div", coreml="activation linear / bias / scale / add / multiply (+ unary POWER -1)",
         notes="a constant operand broadcasts as [1], [C], [1,H,W] or [C,H,W]; two tensors of one rank")
def map_arith(layer: SourceLayer, ctx: MapContext) -> list:
    c0, c1 = const(layer, 0), const(layer, 1)
    if c0 is not None or c1 is not None:
        return _with_constant(layer, ctx, c0 if c0 is not None else c1, const_first=c0 is not None)
    return _two_tensors(layer, ctx)
