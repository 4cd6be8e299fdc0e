"""The last step of the rewrites: switch a rank-N network to the rank-5 (``[C, H, W]``) interpretation.

Core ML's classic layers (the ones it trains and back-propagates through) are defined on ``[C, H, W]``
blobs. After the rewrites every blob of a ``coremltools.convert`` MLP or CNN is a ``(1, ..., C, H, W)``
feature map or a ``(1, ..., F)`` vector; dropping the leading 1-axes gives the same network under the
default RANK5 mapping, with ``[C, H, W]`` / ``[F]`` inputs and outputs. :func:`lower` checks, layer by
layer, that each one computes the same values under both interpretations, and says why where not.
"""
from __future__ import annotations

from typing import Any

from . import graph as G
from .registry import Shapes

CHW_LAYERS = ("convolution", "pooling", "batchnorm", "lrn", "padding", "upsample", "crop", "l2normalize",
              "flatten", "scale", "bias", "reorganizeData", "mvn")
ELEMENTWISE = ("activation", "unary", "clip", "gelu")
MERGES = ("add", "multiply", "average", "max", "min")


def canonical(shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The rank-5 ``[C, H, W]`` (or ``[F]`` for a vector) a rank-N shape stands for, or None: the last
    three axes of a ``(1, ..., C, H, W)`` blob, the last axis of a ``(1, ..., F)`` one."""
    if shape is None:
        return None
    dims = [int(d) for d in shape]
    if len(dims) >= 3 and all(d == 1 for d in dims[:-3]):
        c, h, w = dims[-3:]
        return (c,) if h == w == 1 else (c, h, w)
    if len(dims) <= 2 and all(d == 1 for d in dims[:-1]):
        return (dims[-1],)
    return None


def _why_not(layer: Any, shapes: Shapes) -> str | None:
    """Why ``layer`` does not compute the same under the rank-5 interpretation, or None."""
    kind = G.kind(layer)
    ins = [shapes.get(b) for b in layer.input]
    outs = [shapes.get(b) for b in layer.output]
    if any(s is None for s in ins + outs):
        return "blob shapes unknown"
    bad = [s for s in ins + outs if canonical(s) is None]
    if bad:
        return f"blob shape {list(bad[0])} is neither a vector nor [C, H, W]"
    if kind in ELEMENTWISE:
        return None
    if kind in CHW_LAYERS:
        return None if all(len(s) >= 3 for s in ins) else "input rank below 3"
    if kind == "innerProduct":
        return None if len(canonical(ins[0])) == 1 or len(ins[0]) >= 4 else \
            f"an innerProduct on the rows of {list(ins[0])}"
    if kind == "softmax":
        s = ins[0]
        if len(s) < 3 or (s[-3] == canonical(s)[0] and (len(canonical(s)) == 3 or s[-2:] == (1, 1))):
            return None
        return f"softmax over axis -3 of {list(s)} is not over its channels"
    if kind in MERGES:
        return None if len({canonical(s) for s in ins}) == 1 else "operands of different shapes"
    if kind == "concat":
        return None if all(len(s) >= 3 for s in ins) else "input rank below 3"
    return f"{kind} has no rank-5 form here"


def lower(spec: Any, shapes: Shapes) -> tuple[Any, list[str]]:
    """``(rank-5 copy of spec, [])``, or ``(spec, reasons)`` naming each layer that keeps it rank-N."""
    nn = G.nn_of(spec)
    reasons = []
    for layer in nn.layers:
        why = _why_not(layer, shapes)
        if why == "blob shapes unknown":
            reasons.append(f"'{layer.name}' ({G.kind(layer)}): the shapes of its blobs (and of what follows) are "
                           "unknown to the front end")
            break
        if why:
            reasons.append(f"'{layer.name}' ({G.kind(layer)}): {why}")
    for fd in list(spec.description.input) + list(spec.description.output):
        if fd.type.WhichOneof("Type") == "multiArrayType" and canonical(shapes.get(fd.name)) is None:
            reasons.append(f"feature '{fd.name}': shape {shapes.get(fd.name)} is neither a vector nor [C, H, W]")
    if reasons:
        return spec, reasons
    out = G.copy(spec)
    nn = G.nn_of(out)
    nn.arrayInputShapeMapping = 0
    nn.imageInputShapeMapping = 0
    for layer in nn.layers:
        del layer.inputTensor[:]
        del layer.outputTensor[:]
    for fd in list(out.description.input) + list(out.description.output):
        if fd.type.WhichOneof("Type") != "multiArrayType":
            continue
        t = fd.type.multiArrayType
        del t.shape[:]
        t.shape.extend(canonical(shapes[fd.name]))
        t.ClearField("ShapeFlexibility")
    return out, []
