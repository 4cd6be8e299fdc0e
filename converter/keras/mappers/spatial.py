"""Spatial reshaping: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D."""
from __future__ import annotations

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer


def _pads_2d(value) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras ((top, bottom), (left, right)) from an int, a pair or a pair of pairs."""
    if isinstance(value, int):
        return (value, value), (value, value)
    a, b = value
    a = (a, a) if isinstance(a, int) else tuple(a)
    b = (b, b) if isinstance(b, int) else tuple(b)
    return (int(a[0]), int(a[1])), (int(b[0]), int(b[1]))


def _pads_1d(value) -> tuple[tuple[int, int], tuple[int, int]]:
    a = (value, value) if isinstance(value, int) else tuple(value)
    return (0, 0), (int(a[0]), int(a[1]))


@keras_layer("ZeroPadding2D", "ZeroPadding1D", coreml="padding (constant 0)")
def map_zero_padding(layer: SourceLayer, ctx: MapContext) -> list:
    value = layer.config["padding"]
    pads = _pads_1d(value) if layer.kind.endswith("1D") else _pads_2d(value)
    return [L.padding(layer.name, ctx.inp(layer).name, ctx.out(layer), pads)]


@keras_layer("Cropping2D", "Cropping1D", coreml="crop")
def map_cropping(layer: SourceLayer, ctx: MapContext) -> list:
    value = layer.config["cropping"]
    pads = _pads_1d(value) if layer.kind.endswith("1D") else _pads_2d(value)
    return [L.crop(layer.name, ctx.inp(layer).name, ctx.out(layer), pads)]


@keras_layer("UpSampling2D", "UpSampling1D", coreml="upsample",
             notes="nearest, or bilinear (half-pixel centres, specification 5)")
def map_upsampling(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    if layer.kind.endswith("1D"):
        factors = (1, int(cfg.get("size", 2)))
        interpolation = "nearest"
    else:
        size = cfg.get("size", 2)
        factors = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        interpolation = cfg.get("interpolation", "nearest")
    ctx.require(interpolation in ("nearest", "bilinear"), layer, "interpolation",
                f"'{interpolation}' interpolation is not mapped", "use 'nearest' or 'bilinear'")
    return [L.upsample(layer.name, ctx.inp(layer).name, ctx.out(layer), factors, interpolation == "bilinear")]
