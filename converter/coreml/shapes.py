"""Static blob shapes of a rank-N (EXACT_ARRAY_MAPPING) Core ML network, from the layers' definitions.

The rewrites decide from shapes (is this a flatten of an NHWC tensor? does that squeeze move only a
singleton axis?). A blob whose shape cannot be inferred here is absent from the result; a rewrite that
needs it leaves its layers alone. Shapes are Core ML's, without an example axis.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

Shape = tuple[int, ...]
RULES: dict[str, Callable[[Any, list[Shape]], list[Shape] | None]] = {}


def rule(*kinds: str):
    def register(fn):
        for kind in kinds:
            RULES[kind] = fn
        return fn
    return register


def input_shapes(spec: Any) -> dict[str, Shape]:
    """The blob shape of every array and image input as the network sees it."""
    nn = getattr(spec, spec.WhichOneof("Type"))
    out: dict[str, Shape] = {}
    for fd in spec.description.input:
        kind = fd.type.WhichOneof("Type")
        if kind == "multiArrayType":
            shape = tuple(int(s) for s in fd.type.multiArrayType.shape)
            if nn.arrayInputShapeMapping == 1:
                out[fd.name] = shape
            else:
                out[fd.name] = (1, 1, shape[0], 1, 1) if len(shape) == 1 else (1, 1, *shape)
        elif kind == "imageType":
            t = fd.type.imageType
            c = 1 if t.colorSpace in (10, 40) else 3
            out[fd.name] = (1, c, int(t.height), int(t.width)) if nn.imageInputShapeMapping == 1 \
                else (1, 1, c, int(t.height), int(t.width))
    return out


def infer(spec: Any) -> dict[str, Shape]:
    """Blob name -> Core ML shape, for every blob whose shape follows from the inputs' shapes."""
    nn = getattr(spec, spec.WhichOneof("Type"))
    shapes = input_shapes(spec)
    for layer in nn.layers:
        kind = layer.WhichOneof("layer")
        fn = RULES.get(kind)
        ins = [shapes.get(b) for b in layer.input]
        if fn is None or any(s is None for s in ins):
            continue
        try:
            outs = fn(layer, ins)
        except (ValueError, IndexError, ZeroDivisionError):
            outs = None
        if outs:
            shapes.update(zip(layer.output, (tuple(int(d) for d in s) for s in outs)))
    return shapes


@rule("activation", "gelu", "unary", "clip", "batchnorm", "scale", "bias", "lrn", "l2normalize", "softmax",
      "softmaxND")
def _same(layer, ins):
    return [ins[0]]


@rule("add", "multiply", "average", "max", "min", "addBroadcastable", "subtractBroadcastable",
      "multiplyBroadcastable", "divideBroadcastable", "maxBroadcastable", "minBroadcastable")
def _broadcast(layer, ins):
    return [tuple(np.broadcast_shapes(*ins))]


def _window(size: int, kernel: int, stride: int, dilation: int, pads: tuple[int, int], same: bool) -> int:
    if same:
        return math.ceil(size / stride)
    effective = (kernel - 1) * dilation + 1
    return (size + pads[0] + pads[1] - effective) // stride + 1


def _pads(valid) -> tuple[tuple[int, int], tuple[int, int]]:
    amounts = list(valid.paddingAmounts.borderAmounts)
    if not amounts:
        return (0, 0), (0, 0)
    return ((amounts[0].startEdgeSize, amounts[0].endEdgeSize), (amounts[1].startEdgeSize, amounts[1].endEdgeSize))


def _pair(values, default: int) -> tuple[int, int]:
    values = list(values)
    return (int(values[0]), int(values[1])) if values else (default, default)


@rule("convolution")
def _conv(layer, ins):
    p = layer.convolution
    if p.isDeconvolution or len(ins) != 1:
        return None
    *lead, _, h, w = ins[0]
    (kh, kw), (sh, sw), (dh, dw) = _pair(p.kernelSize, 3), _pair(p.stride, 1), _pair(p.dilationFactor, 1)
    same = p.WhichOneof("ConvolutionPaddingType") == "same"
    ph, pw = ((0, 0), (0, 0)) if same else _pads(p.valid)
    return [(*lead, int(p.outputChannels), _window(h, kh, sh, dh, ph, same), _window(w, kw, sw, dw, pw, same))]


@rule("pooling")
def _pool(layer, ins):
    p = layer.pooling
    *lead, c, h, w = ins[0]
    if p.globalPooling:
        return [(*lead, c, 1, 1)]
    kind = p.WhichOneof("PoolingPaddingType")
    (kh, kw), (sh, sw) = _pair(p.kernelSize, 3), _pair(p.stride, 1)
    if kind == "includeLastPixel":
        ph, pw = _pair(p.includeLastPixel.paddingAmounts, 0)
        return [(*lead, c, math.ceil((h + 2 * ph - kh) / sh) + 1, math.ceil((w + 2 * pw - kw) / sw) + 1)]
    same = kind == "same"
    ph, pw = ((0, 0), (0, 0)) if same else _pads(p.valid)
    return [(*lead, c, _window(h, kh, sh, 1, ph, same), _window(w, kw, sw, 1, pw, same))]


@rule("innerProduct")
def _inner_product(layer, ins):
    shape, out = ins[0], int(layer.innerProduct.outputChannels)
    if len(shape) <= 3:
        return [(*shape[:-1], out)]
    return [(*shape[:-3], out, 1, 1)]


@rule("batchedMatmul")
def _bmm(layer, ins):
    if len(ins) != 1:
        return None
    return [(*ins[0][:-1], int(layer.batchedMatmul.weightMatrixSecondDimension))]


@rule("flatten")
def _flatten(layer, ins):
    shape = ins[0]
    return [(*shape[:-3], int(np.prod(shape[-3:])), 1, 1)]


@rule("transpose")
def _transpose(layer, ins):
    return [tuple(ins[0][a] for a in layer.transpose.axes)]


@rule("reshapeStatic")
def _reshape_static(layer, ins):
    target = [int(t) for t in layer.reshapeStatic.targetShape]
    if -1 in target:
        target[target.index(-1)] = int(np.prod(ins[0])) // int(np.prod([t for t in target if t != -1]))
    return [tuple(target)] if int(np.prod(target)) == int(np.prod(ins[0])) else None


@rule("expandDims")
def _expand(layer, ins):
    rank = len(ins[0]) + len(layer.expandDims.axes)
    new = {int(a) % rank for a in layer.expandDims.axes}
    it = iter(ins[0])
    return [tuple(1 if i in new else next(it) for i in range(rank))]


@rule("squeeze")
def _squeeze(layer, ins):
    shape = ins[0]
    drop = {i for i, d in enumerate(shape) if d == 1} if layer.squeeze.squeezeAll \
        else {int(a) % len(shape) for a in layer.squeeze.axes}
    return [tuple(d for i, d in enumerate(shape) if i not in drop) or (1,)]


@rule("loadConstantND")
def _constant(layer, ins):
    return [tuple(int(s) for s in layer.loadConstantND.shape)]


@rule("reduceSum", "reduceMean", "reduceMax", "reduceMin", "reduceProd", "reduceL1", "reduceL2", "reduceLogSum",
      "reduceSumSquare", "reduceLogSumExp")
def _reduce(layer, ins):
    p = getattr(layer, layer.WhichOneof("layer"))
    shape = ins[0]
    axes = set(range(len(shape))) if p.reduceAll else {int(a) % len(shape) for a in p.axes}
    if p.keepDims:
        return [tuple(1 if i in axes else d for i, d in enumerate(shape))]
    return [tuple(d for i, d in enumerate(shape) if i not in axes) or (1,)]


@rule("concatND")
def _concat_nd(layer, ins):
    a = int(layer.concatND.axis) % len(ins[0])
    out = list(ins[0])
    out[a] = sum(s[a] for s in ins)
    return [tuple(out)]


@rule("concat")
def _concat(layer, ins):
    out = list(ins[0])
    out[-3] = sum(s[-3] for s in ins)
    return [tuple(out)]


@rule("padding")
def _padding(layer, ins):
    *lead, c, h, w = ins[0]
    amounts = list(layer.padding.paddingAmounts.borderAmounts)
    if not amounts:
        return [ins[0]]
    (t, b), (left, r) = ((amounts[0].startEdgeSize, amounts[0].endEdgeSize),
                         (amounts[1].startEdgeSize, amounts[1].endEdgeSize))
    return [(*lead, c, h + t + b, w + left + r)]


@rule("upsample")
def _upsample(layer, ins):
    *lead, c, h, w = ins[0]
    p = layer.upsample
    if len(p.fractionalScalingFactor):
        fh, fw = (float(v) for v in p.fractionalScalingFactor)
        return [(*lead, c, int(math.floor(h * fh)), int(math.floor(w * fw)))]
    sh, sw = _pair(p.scalingFactor, 1)
    return [(*lead, c, h * sh, w * sw)]
