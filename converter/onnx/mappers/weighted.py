"""Ops with weights: Conv, ConvTranspose, Gemm, MatMul (+ a following bias Add), BatchNormalization.

ONNX conv weights ``(out, in/groups, kh, kw)`` (transposed: ``(in, out/groups, kh, kw)``) are already
Core ML's layout; Gemm/MatMul weights are transposed to innerProduct's ``(out, in)``.
"""
from __future__ import annotations

import math

import numpy as np

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import onnx_op

from ..axes import blob, canonical
from ._util import canonical_out, const, has_input, ints, same_as_input


def _weight(layer: SourceLayer, ctx: MapContext, i: int, what: str) -> np.ndarray:
    value = const(layer, i)
    ctx.require(value is not None, layer, what, f"the {what} is computed in the graph, not a constant",
                "export the model with its weights as initializers")
    return np.asarray(value, np.float32)


def conv_pads(layer: SourceLayer, ctx: MapContext, in_hw: tuple[int, ...], kernel: tuple[int, ...],
              stride: tuple[int, ...], dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """Per spatial axis (begin, end) padding of a Conv / pooling node, 'auto_pad' resolved."""
    n = len(kernel)
    auto = layer.config.get("auto_pad", "NOTSET") or "NOTSET"
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(in_hw, kernel, stride, dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return pads
    ctx.require(auto in ("NOTSET", "VALID"), layer, "auto_pad", f"auto_pad '{auto}' is unknown",
                "use NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    p = ints(layer.config.get("pads") if auto == "NOTSET" else None, 2 * n, 0)
    return [(p[i], p[i + n]) for i in range(n)]


@onnx_op("Conv", coreml="convolution", notes="1-D and 2-D; pads, auto_pad, strides, dilations, groups")
def map_conv(layer: SourceLayer, ctx: MapContext) -> list:
    w = _weight(layer, ctx, 1, "weight")
    bias = const(layer, 2)
    ctx.require(bias is not None or not has_input(layer, 2), layer, "bias", "the bias is not a constant",
                "export the bias as an initializer")
    rank = len(layer.input_shapes[0])
    ctx.require(rank in (2, 3), layer, "input rank", f"a {rank + 1}-D input: only 1-D and 2-D convolutions map",
                "use Conv1d/Conv2d")
    inp, pre = canonical(ctx, layer, rank=rank)
    n = rank - 1
    stride = ints(layer.config.get("strides"), n, 1)
    dilation = ints(layer.config.get("dilations"), n, 1)
    pads = conv_pads(layer, ctx, layer.input_shapes[0][1:], w.shape[2:], stride, dilation)
    if n == 1:     # (C, T) sits in a (C, 1, T) blob
        w, stride, dilation, pads = w[:, :, None, :], (1,) + stride, (1,) + dilation, [(0, 0)] + pads
    out = canonical_out(ctx, layer)
    return pre + [L.convolution(layer.name, inp, out.name, w, None if bias is None else np.asarray(bias, np.float32),
                                stride=stride, dilation=dilation, padding=(pads[0], pads[1]),
                                groups=int(layer.config.get("group", 1)))]


@onnx_op("ConvTranspose", coreml="convolution (isDeconvolution)",
         notes="2-D; pads, strides, output_padding, output_shape; no dilation, no auto_pad SAME")
def map_conv_transpose(layer: SourceLayer, ctx: MapContext) -> list:
    w = _weight(layer, ctx, 1, "weight")
    bias = const(layer, 2)
    cfg = layer.config
    ctx.require(len(layer.input_shapes[0]) == 3, layer, "input rank", "only 2-D transposed convolutions map",
                "use ConvTranspose2d")
    ctx.require(ints(cfg.get("dilations"), 2, 1) == (1, 1), layer, "dilations",
                "dilated transposed convolutions are not mapped", "use dilation 1")
    auto = cfg.get("auto_pad", "NOTSET") or "NOTSET"
    ctx.require(auto in ("NOTSET", "VALID"), layer, "auto_pad", f"auto_pad '{auto}' is not mapped",
                "give explicit pads")
    inp, pre = canonical(ctx, layer, rank=3)
    stride = ints(cfg.get("strides"), 2, 1)
    in_hw = blob(ctx, layer).shape3[1:]
    out_hw = layer.output_shapes[0][1:]
    kernel = w.shape[2:]
    if cfg.get("output_shape") is not None and auto == "NOTSET":
        pads = []
        for size, k, s, o, op in zip(in_hw, kernel, stride, out_hw, ints(cfg.get("output_padding"), 2, 0)):
            total = s * (size - 1) + op + k - o
            pads.append((total - total // 2, total // 2))    # the odd pixel at the start, as onnxruntime does
    else:
        p = ints(cfg.get("pads") if auto == "NOTSET" else None, 4, 0)
        pads = [(p[0], p[2]), (p[1], p[3])]
    out = canonical_out(ctx, layer)
    return pre + [L.convolution(layer.name, inp, out.name, w, None if bias is None else np.asarray(bias, np.float32),
                                stride=stride, padding=(pads[0], pads[1]), groups=int(cfg.get("group", 1)),
                                deconv=True, output_hw=out_hw)]


def _vector_input(layer: SourceLayer, ctx: MapContext) -> tuple[str, list]:
    shape = layer.input_shapes[0]
    ctx.require(len(shape) == 1, layer, "input rank",
                f"input of shape (N, {', '.join(map(str, shape))}): only (N, features) inputs map to innerProduct",
                "flatten the input first")
    return canonical(ctx, layer, rank=1)


def _bias_vector(value, m: int, scale: float = 1.0) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, np.float32).reshape(-1), (m,)) * np.float32(scale))


@onnx_op("Gemm", coreml="innerProduct", notes="transA 0; any transB, alpha, beta; C constant, broadcast to (M,)")
def map_gemm(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    ctx.require(not int(cfg.get("transA", 0)), layer, "transA", "transA=1 puts the batch on axis 1",
                "export with transA=0 (x @ W)")
    b = _weight(layer, ctx, 1, "weight B")
    k_by_m = b.T if int(cfg.get("transB", 0)) else b
    alpha, beta = float(cfg.get("alpha", 1.0)), float(cfg.get("beta", 1.0))
    weights = np.ascontiguousarray(k_by_m.T * np.float32(alpha))
    m = weights.shape[0]
    c = const(layer, 2)
    ctx.require(c is not None or not has_input(layer, 2), layer, "C", "C is not a constant",
                "export the bias as an initializer")
    ctx.require(c is None or np.asarray(c).size in (1, m), layer, "C",
                f"C of shape {None if c is None else np.asarray(c).shape} is not a bias (scalar or {m} values)",
                "add per-example terms with a separate Add")
    bias = None if c is None or beta == 0 else _bias_vector(c, m, beta)
    inp, pre = _vector_input(layer, ctx)
    out = canonical_out(ctx, layer)
    return pre + [L.inner_product(layer.name, inp, out.name, weights, bias)]


@onnx_op("MatMul", coreml="innerProduct", notes="x @ W with W a constant (K, M); a following Add of a constant "
                                               "(M,) bias is folded in")
def map_matmul(layer: SourceLayer, ctx: MapContext) -> list:
    w = _weight(layer, ctx, 1, "weight")
    ctx.require(w.ndim == 2, layer, "weight", f"weight of shape {w.shape} is not a matrix",
                "use a 2-D weight (a Dense layer)")
    bias_name = layer.config.get("bias")
    bias = None if bias_name is None else _bias_vector(layer.weights[bias_name], w.shape[1])
    inp, pre = _vector_input(layer, ctx)
    out = canonical_out(ctx, layer)
    return pre + [L.inner_product(layer.name, inp, out.name, np.ascontiguousarray(w.T), bias)]


@onnx_op("BatchNormalization", coreml="batchnorm", notes="inference form (running mean and variance)")
def map_batchnorm(layer: SourceLayer, ctx: MapContext) -> list:
    ctx.require(not int(layer.config.get("training_mode", 0)), layer, "training_mode",
                "batch statistics (training mode) are not mapped", "export the model in inference mode")
    src = blob(ctx, layer)
    ctx.require(src.axes and src.axes[0] == 0, layer, "layout", "axis 1 is not the Core ML channel axis",
                "normalize an NCHW tensor")
    scale, b, mean, var = (_weight(layer, ctx, i, n) for i, n in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    out = same_as_input(ctx, layer)
    return [L.batchnorm(layer.name, src.name, out.name, gamma=scale, beta=b, mean=mean, variance=var,
                        epsilon=float(layer.config.get("epsilon", 1e-5)))]
