"""Activation functions (fused in Dense/Conv or as layers) and the activation layers."""
from __future__ import annotations

import numpy as np

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
ACTIVATION_NAMES = ("linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus",
                    "softsign", "hard_sigmoid", "swish", "silu", "hard_silu", "hard_swish", "leaky_relu",
                    "gelu", "exponential", "mish", "log_softmax")


def activation_name(layer: SourceLayer, ctx: MapContext, value) -> str:
    """The Keras activation's name, refusing custom (serialized code) activations."""
    if value is None:
        return "linear"
    if isinstance(value, dict):  # a serialized function object
        value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
    if not isinstance(value, str) or value not in ACTIVATION_NAMES:
        ctx.refuse(layer, "activation", f"activation {value!r} has no Core ML mapping",
                   f"use one of {', '.join(ACTIVATION_NAMES)}")
    return value


def activation_layers(act: str, layer: SourceLayer, ctx: MapContext, inp: str, out: str,
                      shape: tuple[int, ...], *, base: str | None = None) -> list:
    """Core ML layers computing Keras activation ``act`` from blob ``inp`` into blob ``out``.

    ``base`` prefixes the layer names (default: ``<layer>__<act>``); ``shape`` is the blob shape.
    """
    base = base or ctx.lname(layer, act)
    if act == "linear":
        return [L.identity(base, inp, out)]
    simple = {"relu": ("ReLU", {}), "sigmoid": ("sigmoid", {}), "tanh": ("tanh", {}),
              "softplus": ("softplus", {}), "softsign": ("softsign", {}), "elu": ("ELU", {"alpha": 1.0}),
              "leaky_relu": ("leakyReLU", {"alpha": 0.2}),
              "hard_sigmoid": ("sigmoidHard", {"alpha": 1 / 6, "beta": 0.5})}
    if act in simple:
        kind, params = simple[act]
        return [L.activation(base, inp, out, kind, **params)]
    if act == "softmax":
        _require_channel_softmax(layer, ctx, -1)
        return [L.softmax(base, inp, out)]
    if act == "relu6":
        return [L.clip(base, inp, out, 0.0, 6.0)]
    if act == "selu":
        mid = ctx.tmp(layer, f"{act}_elu", shape)
        return [L.activation(base + "_elu", inp, mid, "ELU", alpha=SELU_ALPHA),
                L.linear(base, mid, out, SELU_SCALE, 0.0)]
    if act in ("swish", "silu", "hard_silu", "hard_swish", "mish"):
        gate = ctx.tmp(layer, f"{act}_gate", shape)
        if act in ("swish", "silu"):
            gates = [L.activation(base + "_sigmoid", inp, gate, "sigmoid")]
        elif act == "mish":
            soft = ctx.tmp(layer, f"{act}_softplus", shape)
            gates = [L.activation(base + "_softplus", inp, soft, "softplus"),
                     L.activation(base + "_tanh", soft, gate, "tanh")]
        else:
            gates = [L.activation(base + "_hard_sigmoid", inp, gate, "sigmoidHard", alpha=1 / 6, beta=0.5)]
        return gates + [L.elementwise("multiply", base, [inp, gate], out)]
    if act == "gelu":
        return [L.gelu(base, inp, out, "EXACT")]
    if act == "exponential":
        return [L.unary(base, inp, out, "EXP")]
    if act == "log_softmax":
        _require_channel_softmax(layer, ctx, -1)
        mid = ctx.tmp(layer, f"{act}_softmax", shape)
        return [L.softmax(base + "_softmax", inp, mid), L.unary(base, mid, out, "LOG", epsilon=0.0)]
    ctx.refuse(layer, "activation", f"activation '{act}' has no Core ML mapping",
               f"use one of {', '.join(ACTIVATION_NAMES)}")
    return []


def _require_channel_softmax(layer: SourceLayer, ctx: MapContext, axis: int) -> None:
    rank = len(layer.output_shapes[0])
    ctx.require(ctx.axis(layer, axis) == "C" if rank > 1 else True, layer, "axis",
                f"softmax over axis {axis} is not over the channels; Core ML's softmax works over C",
                "apply softmax over the last (channel) axis")


def fused(layer: SourceLayer, ctx: MapContext, main: list, pre: str) -> list:
    """Append the layer's fused ``activation`` (Dense, Conv*) reading blob ``pre``; names the output."""
    act = activation_name(layer, ctx, layer.config.get("activation"))
    return main + activation_layers(act, layer, ctx, pre, ctx.out(layer), ctx.out_shape(layer))


@keras_layer("Activation", coreml="activation / softmax / clip / unary / multiply",
             notes="relu, relu6, sigmoid, tanh, softmax, linear, elu, selu, softplus, softsign, hard_sigmoid, "
                   "swish/silu, hard_silu, mish, leaky_relu, gelu (spec 5), exponential, log_softmax")
def map_activation(layer: SourceLayer, ctx: MapContext) -> list:
    act = activation_name(layer, ctx, layer.config.get("activation"))
    return activation_layers(act, layer, ctx, ctx.inp(layer).name, ctx.out(layer), ctx.out_shape(layer),
                             base=layer.name)


@keras_layer("ReLU", coreml="activation ReLU / leakyReLU / thresholdedReLU, clip",
             notes="max_value, negative_slope and threshold; negative_slope with threshold refused")
def map_relu(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    max_value = cfg.get("max_value")
    slope = float(cfg.get("negative_slope", 0.0) or 0.0)
    threshold = float(cfg.get("threshold", 0.0) or 0.0)
    inp, out, shape = ctx.inp(layer).name, ctx.out(layer), ctx.out_shape(layer)
    ctx.require(not (slope and threshold), layer, "negative_slope/threshold",
                "a ReLU with both a negative slope and a threshold has no Core ML activation",
                "use threshold=0 or negative_slope=0")
    if max_value is None:
        if threshold:
            return [L.activation(layer.name, inp, out, "thresholdedReLU", alpha=threshold)]
        if slope:
            return [L.activation(layer.name, inp, out, "leakyReLU", alpha=slope)]
        return [L.activation(layer.name, inp, out, "ReLU")]
    max_value = float(max_value)
    if not slope and not threshold:
        return [L.clip(layer.name, inp, out, 0.0, max_value)]
    mid = ctx.tmp(layer, "pre_clip", shape)
    if slope:
        first = L.activation(ctx.lname(layer, "leaky"), inp, mid, "leakyReLU", alpha=slope)
        return [first, L.clip(layer.name, mid, out, -3.4e38, max_value)]
    first = L.activation(ctx.lname(layer, "thresholded"), inp, mid, "thresholdedReLU", alpha=threshold)
    return [first, L.clip(layer.name, mid, out, 0.0, max_value)]


@keras_layer("LeakyReLU", coreml="activation leakyReLU")
def map_leaky_relu(layer: SourceLayer, ctx: MapContext) -> list:
    slope = layer.config.get("negative_slope", layer.config.get("alpha", 0.3))
    return [L.activation(layer.name, ctx.inp(layer).name, ctx.out(layer), "leakyReLU", alpha=float(slope))]


@keras_layer("ELU", coreml="activation ELU")
def map_elu(layer: SourceLayer, ctx: MapContext) -> list:
    alpha = float(layer.config.get("alpha", 1.0))
    return [L.activation(layer.name, ctx.inp(layer).name, ctx.out(layer), "ELU", alpha=alpha)]


@keras_layer("PReLU", coreml="activation PReLU", notes="alpha shared over the spatial axes (shared_axes)")
def map_prelu(layer: SourceLayer, ctx: MapContext) -> list:
    from ground import layout
    blob = ctx.inp(layer)
    alpha = np.broadcast_to(layer.weights["alpha"], blob.source_shape).astype(np.float32)
    alpha_cm = layout.keras_batch_to_coreml(alpha[None], ctx.channels_last)[0]
    per_channel = alpha_cm.reshape(alpha_cm.shape[0], -1)
    ctx.require(np.all(per_channel == per_channel[:, :1]), layer, "shared_axes",
                "Core ML's PReLU has one alpha per channel, this one varies over positions",
                "set shared_axes to every axis but the channels (e.g. [1, 2] for images)")
    return [L.activation(layer.name, blob.name, ctx.out(layer), "PReLU", alpha_array=per_channel[:, 0])]


@keras_layer("Softmax", coreml="softmax", notes="over the channel (last) axis only")
def map_softmax(layer: SourceLayer, ctx: MapContext) -> list:
    axis = layer.config.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    ctx.require(isinstance(axis, int), layer, "axis", f"softmax over axes {axis}", "use one axis")
    _require_channel_softmax(layer, ctx, axis)
    return [L.softmax(layer.name, ctx.inp(layer).name, ctx.out(layer))]
