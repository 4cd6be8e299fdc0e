"""Convolutions: Conv1D, Conv2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv2DTranspose."""
from __future__ import annotations

from converter import coreml_layers as L
from ground import layout
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer

from .activations import fused


def pair(value, n: int = 2) -> tuple[int, ...]:
    """A Keras int-or-tuple setting as a tuple of ``n`` ints."""
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _padding_2d(layer: SourceLayer, ctx: MapContext) -> str:
    padding = layer.config.get("padding", "valid")
    ctx.require(padding in ("valid", "same"), layer, "padding", f"padding '{padding}' is not mapped",
                "use 'valid' or 'same'")
    return padding


def _padding_1d(layer: SourceLayer, ctx: MapContext, kernel: int, dilation: int):
    """Core ML padding for a 1-D convolution on a (F, 1, T) blob; 'causal' pads the start of time."""
    padding = layer.config.get("padding", "valid")
    if padding == "causal":
        return ((0, 0), ((kernel - 1) * dilation, 0))
    ctx.require(padding in ("valid", "same"), layer, "padding", f"padding '{padding}' is not mapped",
                "use 'valid', 'same' or 'causal'")
    return padding


def _bias(layer: SourceLayer):
    return layer.weights.get("bias") if layer.config.get("use_bias", True) else None


def _finish(layer: SourceLayer, ctx: MapContext, make) -> list:
    """Build the main layer into the output (or a pre-activation blob) and add the fused activation."""
    act = layer.config.get("activation") or "linear"
    pre = ctx.out(layer) if act == "linear" else ctx.tmp(layer, "preact", ctx.out_shape(layer))
    main = make(pre)
    main = main if isinstance(main, list) else [main]
    return main if act == "linear" else fused(layer, ctx, main, pre)


@keras_layer("Conv2D", coreml="convolution (+ activation)", notes="padding valid/same, strides, dilation, groups")
def map_conv2d(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    padding = _padding_2d(layer, ctx)
    groups = int(cfg.get("groups", 1) or 1)
    w = layout.conv2d_kernel(layer.weights["kernel"])
    return _finish(layer, ctx, lambda out: L.convolution(
        layer.name, ctx.inp(layer).name, out, w, _bias(layer), stride=pair(cfg.get("strides", 1)),
        dilation=pair(cfg.get("dilation_rate", 1)), padding=padding, groups=groups))


@keras_layer("Conv1D", coreml="convolution (1 x k) (+ activation)",
             notes="padding valid/same/causal; time runs along W")
def map_conv1d(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    (k,) = pair(cfg["kernel_size"], 1)
    (d,) = pair(cfg.get("dilation_rate", 1), 1)
    (s,) = pair(cfg.get("strides", 1), 1)
    padding = _padding_1d(layer, ctx, k, d)
    groups = int(cfg.get("groups", 1) or 1)
    w = layout.conv1d_kernel(layer.weights["kernel"])
    return _finish(layer, ctx, lambda out: L.convolution(
        layer.name, ctx.inp(layer).name, out, w, _bias(layer), stride=(1, s), dilation=(1, d),
        padding=padding, groups=groups))


def _depthwise(layer: SourceLayer, ctx: MapContext, inp: str, out: str, name: str, one_d: bool,
               bias) -> L.Layer:
    cfg = layer.config
    kernel = layer.weights.get("depthwise_kernel", layer.weights.get("kernel"))
    if one_d:
        w = layout.depthwise1d_kernel(kernel)
        (k,) = pair(cfg["kernel_size"], 1)
        (d,) = pair(cfg.get("dilation_rate", 1), 1)
        (s,) = pair(cfg.get("strides", 1), 1)
        padding, stride, dilation = _padding_1d(layer, ctx, k, d), (1, s), (1, d)
    else:
        w = layout.depthwise_kernel(kernel)
        padding = _padding_2d(layer, ctx)
        stride, dilation = pair(cfg.get("strides", 1)), pair(cfg.get("dilation_rate", 1))
    groups = ctx.inp(layer).channels
    return L.convolution(name, inp, out, w, bias, stride=stride, dilation=dilation, padding=padding,
                         groups=groups)


@keras_layer("DepthwiseConv2D", "DepthwiseConv1D", coreml="convolution (nGroups = channels) (+ activation)",
             notes="any depth_multiplier")
def map_depthwise(layer: SourceLayer, ctx: MapContext) -> list:
    one_d = layer.kind.endswith("1D")
    return _finish(layer, ctx, lambda out: _depthwise(layer, ctx, ctx.inp(layer).name, out, layer.name, one_d,
                                                      _bias(layer)))


@keras_layer("SeparableConv2D", "SeparableConv1D", coreml="convolution (depthwise) + convolution (1x1)",
             notes="split in two layers: '<name>__depthwise' and '<name>'")
def map_separable(layer: SourceLayer, ctx: MapContext) -> list:
    one_d = layer.kind.endswith("1D")
    pointwise = layer.weights["pointwise_kernel"]
    pw = layout.conv2d_kernel(pointwise[None] if one_d else pointwise)
    out_shape = ctx.out_shape(layer)
    mid_shape = (pw.shape[1],) + tuple(out_shape[1:])
    ctx.note(layer, "split", "depthwise + pointwise convolutions")

    def make(out: str) -> list:
        mid = ctx.tmp(layer, "depthwise", mid_shape)
        dw = _depthwise(layer, ctx, ctx.inp(layer).name, mid, ctx.lname(layer, "depthwise"), one_d, None)
        return [dw, L.convolution(layer.name, mid, out, pw, _bias(layer))]

    return _finish(layer, ctx, make)


@keras_layer("Conv2DTranspose", coreml="convolution (isDeconvolution) (+ activation)",
             notes="padding valid/same, strides; no dilation or output_padding")
def map_conv2d_transpose(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    padding = _padding_2d(layer, ctx)
    ctx.require(cfg.get("output_padding") is None, layer, "output_padding",
                "output_padding is not mapped", "leave output_padding=None")
    ctx.require(pair(cfg.get("dilation_rate", 1)) == (1, 1), layer, "dilation_rate",
                "dilated transposed convolutions are not mapped", "use dilation_rate=1")
    w = layout.conv2d_transpose_kernel(layer.weights["kernel"])
    out_hw = ctx.out_shape(layer)[1:]
    return _finish(layer, ctx, lambda out: L.convolution(
        layer.name, ctx.inp(layer).name, out, w, _bias(layer), stride=pair(cfg.get("strides", 1)),
        padding=padding, deconv=True, output_hw=out_hw))
