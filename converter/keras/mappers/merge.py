"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
from __future__ import annotations

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer

KINDS = {"Add": "add", "Multiply": "multiply", "Average": "average", "Maximum": "max", "Minimum": "min"}


def _same_shapes(layer: SourceLayer, ctx: MapContext) -> list:
    blobs = ctx.inputs(layer)
    shapes = {b.shape for b in blobs}
    ctx.require(len(shapes) == 1, layer, "inputs",
                f"inputs have different shapes {sorted(b.source_shape for b in blobs)}; broadcasting is not mapped",
                "give every input the same shape")
    return blobs


@keras_layer(*KINDS, coreml="add / multiply / average / max / min", notes="inputs of one shape")
def map_elementwise(layer: SourceLayer, ctx: MapContext) -> list:
    blobs = _same_shapes(layer, ctx)
    return [L.elementwise(KINDS[layer.kind], layer.name, [b.name for b in blobs], ctx.out(layer))]


@keras_layer("Subtract", coreml="activation linear (x -1) + add", notes="split in two layers")
def map_subtract(layer: SourceLayer, ctx: MapContext) -> list:
    a, b = _same_shapes(layer, ctx)
    neg = ctx.tmp(layer, "negated", b.shape)
    return [L.linear(ctx.lname(layer, "negate"), b.name, neg, -1.0, 0.0),
            L.elementwise("add", layer.name, [a.name, neg], ctx.out(layer))]


@keras_layer("Concatenate", coreml="concat", notes="along the channel axis only")
def map_concatenate(layer: SourceLayer, ctx: MapContext) -> list:
    axis = int(layer.config.get("axis", -1))
    ctx.require(ctx.axis(layer, axis) == "C", layer, "axis",
                f"concatenates along axis {axis}, not the channels; Core ML's concat joins channels",
                "concatenate along the last (channel) axis")
    blobs = ctx.inputs(layer)
    spatial = {b.shape[1:] for b in blobs}
    ctx.require(len(spatial) == 1, layer, "inputs", "inputs differ in spatial size",
                "give every input the same spatial size")
    return [L.concat(layer.name, [b.name for b in blobs], ctx.out(layer))]
