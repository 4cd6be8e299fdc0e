"""MaxPool, AveragePool (explicit / auto pads, count_include_pad), GlobalAveragePool, GlobalMaxPool."""
from __future__ import annotations

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import onnx_op

from ..axes import canonical
from ._util import canonical_out, ints
from .weighted import conv_pads


def _border(msg, pads) -> None:
    del msg.borderAmounts[:]
    for start, end in pads:
        b = msg.borderAmounts.add()
        b.startEdgeSize, b.endEdgeSize = int(start), int(end)


@onnx_op("MaxPool", "AveragePool", coreml="pooling", notes="2-D (and 1-D); pads, auto_pad, strides; "
         "ceil_mode only where it does not change the size; no dilations")
def map_pool(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    rank = len(layer.input_shapes[0])
    ctx.require(rank in (2, 3), layer, "input rank", "only 1-D and 2-D pooling maps", "use 1-D or 2-D pooling")
    n = rank - 1
    kernel = ints(cfg.get("kernel_shape"), n, 1)
    stride = ints(cfg.get("strides"), n, 1)
    ctx.require(ints(cfg.get("dilations"), n, 1) == (1,) * n, layer, "dilations", "dilated pooling is not mapped",
                "use dilation 1")
    pads = conv_pads(layer, ctx, layer.input_shapes[0][1:], kernel, stride, (1,) * n)
    if int(cfg.get("ceil_mode", 0)):
        for size, k, s, (b, e) in zip(layer.input_shapes[0][1:], kernel, stride, pads):
            ctx.require((size + b + e - k) % s == 0, layer, "ceil_mode",
                        "ceil_mode=1 adds a partial window Core ML's pooling does not compute",
                        "export with ceil_mode=0, or pick sizes that divide evenly")
    if n == 1:
        kernel, stride, pads = (1,) + kernel, (1,) + stride, [(0, 0)] + pads
    inp, pre = canonical(ctx, layer, rank=rank)
    out = canonical_out(ctx, layer)
    kind = "max" if layer.kind == "MaxPool" else "average"
    pool = L.pooling(layer.name, inp, out.name, kind, kernel, stride, "valid")
    _border(pool.pooling.valid.paddingAmounts, pads)
    pool.pooling.avgPoolExcludePadding = not int(cfg.get("count_include_pad", 0))
    return pre + [pool]


@onnx_op("GlobalAveragePool", "GlobalMaxPool", coreml="pooling (global)")
def map_global_pool(layer: SourceLayer, ctx: MapContext) -> list:
    rank = len(layer.input_shapes[0])
    inp, pre = canonical(ctx, layer, rank=rank)
    out = canonical_out(ctx, layer)
    kind = "max" if layer.kind == "GlobalMaxPool" else "average"
    return pre + [L.pooling(layer.name, inp, out.name, kind, (1, 1), (1, 1), "valid", global_pool=True)]
