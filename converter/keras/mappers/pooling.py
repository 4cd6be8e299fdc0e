"""Pooling: Max/AveragePooling1D/2D and their global forms."""
from __future__ import annotations

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer

from .conv import pair


@keras_layer("MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D", coreml="pooling",
             notes="padding valid/same (averages exclude the padding, as Keras)")
def map_pooling(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    kind = "max" if layer.kind.startswith("Max") else "average"
    padding = cfg.get("padding", "valid")
    ctx.require(padding in ("valid", "same"), layer, "padding", f"padding '{padding}' is not mapped",
                "use 'valid' or 'same'")
    if layer.kind.endswith("1D"):
        (k,) = pair(cfg["pool_size"], 1)
        strides = cfg.get("strides") or k
        (s,) = pair(strides, 1)
        kernel, stride = (1, k), (1, s)
    else:
        kernel = pair(cfg["pool_size"])
        stride = pair(cfg.get("strides") or kernel)
    return [L.pooling(layer.name, ctx.inp(layer).name, ctx.out(layer), kind, kernel, stride, padding)]


@keras_layer("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
             coreml="pooling (global)", notes="keepdims too")
def map_global_pooling(layer: SourceLayer, ctx: MapContext) -> list:
    kind = "max" if "Max" in layer.kind else "average"
    blob = ctx.inp(layer)
    hw = tuple(blob.shape[1:3])
    return [L.pooling(layer.name, blob.name, ctx.out(layer), kind, hw, (1, 1), "valid", global_pool=True)]
