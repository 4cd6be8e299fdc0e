"""Element-wise activations, Clip, Softmax and LogSoftmax (output blobs keep the input's axes)."""
from __future__ import annotations

import numpy as np

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import onnx_op

from ..axes import blob
from ._util import const, same_as_input

SIMPLE = {"Relu": "ReLU", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign"}
FLOAT_MAX = float(np.finfo(np.float32).max)


@onnx_op(*SIMPLE, coreml="activation")
def map_simple(layer: SourceLayer, ctx: MapContext) -> list:
    out = same_as_input(ctx, layer)
    return [L.activation(layer.name, blob(ctx, layer).name, out.name, SIMPLE[layer.kind])]


@onnx_op("LeakyRelu", coreml="activation leakyReLU")
def map_leaky_relu(layer: SourceLayer, ctx: MapContext) -> list:
    out = same_as_input(ctx, layer)
    return [L.activation(layer.name, blob(ctx, layer).name, out.name, "leakyReLU",
                         alpha=float(layer.config.get("alpha", 0.01)))]


@onnx_op("Elu", coreml="activation ELU")
def map_elu(layer: SourceLayer, ctx: MapContext) -> list:
    out = same_as_input(ctx, layer)
    alpha = float(layer.config.get("alpha", 1.0))
    return [L.activation(layer.name, blob(ctx, layer).name, out.name, "ELU", alpha=alpha)]


@onnx_op("Selu", coreml="activation ELU + activation linear", notes="gamma * elu(x, alpha)")
def map_selu(layer: SourceLayer, ctx: MapContext) -> list:
    src = blob(ctx, layer)
    out = same_as_input(ctx, layer)
    mid = ctx.tmp(layer, "elu", src.shape)
    alpha = float(layer.config.get("alpha", 1.67326319217681884765625))
    gamma = float(layer.config.get("gamma", 1.05070102214813232421875))
    return [L.activation(ctx.lname(layer, "elu"), src.name, mid, "ELU", alpha=alpha),
            L.linear(layer.name, mid, out.name, gamma, 0.0)]


@onnx_op("HardSigmoid", coreml="activation sigmoidHard")
def map_hard_sigmoid(layer: SourceLayer, ctx: MapContext) -> list:
    out = same_as_input(ctx, layer)
    return [L.activation(layer.name, blob(ctx, layer).name, out.name, "sigmoidHard",
                         alpha=float(layer.config.get("alpha", 0.2)), beta=float(layer.config.get("beta", 0.5)))]


@onnx_op("PRelu", coreml="activation PReLU", notes="slope: a scalar or one value per channel")
def map_prelu(layer: SourceLayer, ctx: MapContext) -> list:
    src = blob(ctx, layer)
    slope = const(layer, 1)
    ctx.require(slope is not None, layer, "slope", "the slope is not a constant", "export the slope as an initializer")
    slope = np.asarray(slope, np.float32)
    c = src.shape3[0]
    per_channel = slope.size == c and (slope.size == 1 or _channel_shaped(slope, src))
    ctx.require(slope.size == 1 or per_channel, layer, "slope",
                f"slope of shape {slope.shape} is neither a scalar nor one value per channel ({c})",
                "use a per-channel or shared slope")
    out = same_as_input(ctx, layer)
    return [L.activation(layer.name, src.name, out.name, "PReLU",
                         alpha_array=np.broadcast_to(slope.reshape(-1), (c,)).copy())]


def _channel_shaped(slope: np.ndarray, src) -> bool:
    """A slope whose non-1 axis, aligned to the input's (batch-less) axes, is the Core ML channel axis."""
    shape = slope.shape[-len(src.source_shape):] if slope.ndim >= len(src.source_shape) else \
        (1,) * (len(src.source_shape) - slope.ndim) + slope.shape
    big = [k for k, s in enumerate(shape) if s != 1]
    return len(big) == 1 and src.axes[big[0]] == 0


@onnx_op("Clip", coreml="clip / activation ReLU", notes="min/max constants (ReLU6 is Clip(0, 6))")
def map_clip(layer: SourceLayer, ctx: MapContext) -> list:
    lo, hi = layer.config.get("min"), layer.config.get("max")
    for i, name in ((1, "min"), (2, "max")):
        value = const(layer, i)
        if value is not None:
            lo, hi = (float(np.asarray(value).ravel()[0]), hi) if i == 1 else (lo, float(np.asarray(value).ravel()[0]))
        elif i < len(layer.config.get("onnx_inputs", [])) and layer.config["onnx_inputs"][i]:
            ctx.refuse(layer, name, f"the {name} bound is computed in the graph", "give constant bounds")
    out = same_as_input(ctx, layer)
    src = blob(ctx, layer).name
    if lo == 0.0 and hi is None:
        return [L.activation(layer.name, src, out.name, "ReLU")]
    return [L.clip(layer.name, src, out.name, -FLOAT_MAX if lo is None else lo, FLOAT_MAX if hi is None else hi)]


def _softmax_axis_ok(layer: SourceLayer, ctx: MapContext) -> None:
    """Core ML's softmax normalizes over C: the ONNX softmax group must be exactly the channel axis."""
    src = blob(ctx, layer)
    rank = len(src.source_shape)
    opset = layer.config.get("opset") or 13
    axis = int(layer.config.get("axis", 1 if opset < 13 else -1))
    axis = axis + rank + 1 if axis < 0 else axis
    ctx.require(axis >= 1, layer, "axis", "the softmax runs over the batch axis", "use a feature axis")
    group = set(range(axis - 1, rank)) if opset < 13 else {axis - 1}
    ok = all(src.axes[k] == 0 for k in group if src.source_shape[k] > 1) and \
        all(k in group for k in range(rank) if src.axes[k] == 0 and src.source_shape[k] > 1)
    ctx.require(ok, layer, "axis", f"axis {layer.config.get('axis', 'default')} of a (N, "
                f"{', '.join(map(str, src.source_shape))}) tensor is not the Core ML channel axis",
                "apply the softmax over the channels (axis 1 of NCHW, or the features of (N, F))")


@onnx_op("Softmax", coreml="softmax", notes="over the channel / feature axis")
def map_softmax(layer: SourceLayer, ctx: MapContext) -> list:
    _softmax_axis_ok(layer, ctx)
    out = same_as_input(ctx, layer)
    return [L.softmax(layer.name, blob(ctx, layer).name, out.name)]


@onnx_op("LogSoftmax", coreml="softmax + unary LOG", notes="over the channel / feature axis")
def map_log_softmax(layer: SourceLayer, ctx: MapContext) -> list:
    _softmax_axis_ok(layer, ctx)
    src = blob(ctx, layer)
    out = same_as_input(ctx, layer)
    mid = ctx.tmp(layer, "softmax", src.shape)
    return [L.softmax(ctx.lname(layer, "softmax"), src.name, mid), L.unary(layer.name, mid, out.name, "LOG")]
