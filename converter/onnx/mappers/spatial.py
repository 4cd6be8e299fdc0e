"""Concat (along channels), Pad (spatial axes) and Resize (integer factors: nearest, or linear)."""
from __future__ import annotations

import numpy as np

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import onnx_op

from ..axes import CANONICAL, blob, canonical, set_blob
from ._util import canonical_out, const


@onnx_op("Concat", coreml="concat", notes="along the Core ML channel axis (axis 1 of NCHW, features of (N, F))")
def map_concat(layer: SourceLayer, ctx: MapContext) -> list:
    ctx.require(len(layer.inputs) == len(layer.config["onnx_inputs"]), layer, "inputs",
                "a constant input to concatenate is not mapped", "concatenate computed tensors only")
    blobs = [blob(ctx, layer, i) for i in range(len(layer.inputs))]
    rank = len(blobs[0].source_shape)
    pre: list = []
    names = [b.name for b in blobs]
    axes = blobs[0].axes
    if any(b.axes != axes for b in blobs):
        for i in range(len(blobs)):
            names[i], made = canonical(ctx, layer, i)
            pre += made
        axes = CANONICAL[rank]
    axis = int(layer.config["axis"])
    axis = axis + rank + 1 if axis < 0 else axis
    ctx.require(1 <= axis <= rank and axes[axis - 1] == 0, layer, "axis",
                f"axis {layer.config['axis']} of (N, {', '.join(map(str, blobs[0].source_shape))}) tensors is not "
                "the Core ML channel axis", "concatenate along the channels (axis 1 of NCHW)")
    out = set_blob(ctx, layer.outputs[0], ctx.out(layer), layer.output_shapes[0], axes)
    return pre + [L.concat(layer.name, names, out.name)]


@onnx_op("Pad", coreml="padding", notes="H and W only; constant, reflect or edge")
def map_pad(layer: SourceLayer, ctx: MapContext) -> list:
    rank = len(layer.input_shapes[0])
    ctx.require(rank in (2, 3), layer, "input rank", "only NCHW (or NCT) tensors are padded", "pad images")
    pads = const(layer, 1)
    ctx.require(pads is not None, layer, "pads", "the pads are computed in the graph", "give constant pads")
    pads = [int(v) for v in np.asarray(pads).ravel()]
    axes_in = const(layer, 3)
    full = [0] * (2 * (rank + 1))
    axes = [int(a) % (rank + 1) for a in np.asarray(axes_in).ravel()] if axes_in is not None else list(range(rank + 1))
    n = len(axes)
    for k, a in enumerate(axes):
        full[a], full[a + rank + 1] = pads[k], pads[k + n]
    begin, end = full[:rank + 1], full[rank + 1:]
    ctx.require(begin[:2] == [0, 0] and end[:2] == [0, 0] and min(full) >= 0, layer, "pads",
                f"pads {pads} pad the batch/channel axes or are negative", "pad the spatial axes only")
    hw = list(zip(begin[2:], end[2:]))
    hw = [(0, 0)] + hw if rank == 2 else hw
    mode = layer.config.get("mode", "constant")
    value = const(layer, 2)
    inp, pre = canonical(ctx, layer, rank=rank)
    out = canonical_out(ctx, layer)
    pad = L.padding(layer.name, inp, out.name, (hw[0], hw[1]),
                    float(np.asarray(value).ravel()[0]) if value is not None and np.asarray(value).size else 0.0)
    if mode in ("reflect", "edge"):
        pad.padding.ClearField("constant")
        (pad.padding.reflection if mode == "reflect" else pad.padding.replication).SetInParent()
    else:
        ctx.require(mode == "constant", layer, "mode", f"mode '{mode}' is not mapped", "use constant, reflect or edge")
    return pre + [pad]


def _nearest_source(out_size: int, in_size: int, cfg: dict) -> np.ndarray:
    """ONNX Resize's nearest source index for each output index along one axis."""
    scale = out_size / in_size
    x = np.arange(out_size, dtype=np.float64)
    mode = cfg.get("coordinate_transformation_mode", "half_pixel")
    if mode == "asymmetric":
        orig = x / scale
    elif mode == "align_corners":
        orig = x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros_like(x)
    elif mode == "pytorch_half_pixel":
        orig = (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(x)
    elif mode == "tf_half_pixel_for_nn":
        orig = (x + 0.5) / scale
    else:
        orig = (x + 0.5) / scale - 0.5
    rounding = cfg.get("nearest_mode", "round_prefer_floor")
    if rounding == "floor":
        idx = np.floor(orig)
    elif rounding == "ceil":
        idx = np.ceil(orig)
    elif rounding == "round_prefer_ceil":
        idx = np.floor(orig + 0.5)
    else:
        idx = np.ceil(orig - 0.5)
    return np.clip(idx, 0, in_size - 1).astype(np.int64)


@onnx_op("Resize", coreml="upsample", notes="integer H/W factors; nearest (any mode giving pixel repeats) or "
                                            "linear with half_pixel / align_corners")
def map_resize(layer: SourceLayer, ctx: MapContext) -> list:
    shape_in, shape_out = layer.input_shapes[0], layer.output_shapes[0]
    ctx.require(len(shape_in) == 3 and shape_in[0] == shape_out[0], layer, "scales",
                "only the H and W axes of an NCHW tensor are resized", "resize images along H and W")
    factors = tuple(o / i for i, o in zip(shape_in[1:], shape_out[1:]))
    ctx.require(all(f >= 1 and float(f).is_integer() for f in factors), layer, "scales",
                f"factors {factors} are not whole numbers >= 1", "upsample by whole-number factors")
    factors = tuple(int(f) for f in factors)
    cfg = layer.config
    mode = cfg.get("mode", "nearest")
    inp, pre = canonical(ctx, layer, rank=3)
    out = canonical_out(ctx, layer)
    if mode == "nearest":
        for i, o in zip(shape_in[1:], shape_out[1:]):
            ctx.require(np.array_equal(_nearest_source(o, i, cfg), np.arange(o) // (o // i)), layer,
                        "coordinate_transformation_mode", "this nearest mode does not repeat pixels",
                        "use asymmetric/floor or half_pixel/round_prefer_floor")
        return pre + [L.upsample(layer.name, inp, out.name, factors)]
    coord = cfg.get("coordinate_transformation_mode", "half_pixel")
    ctx.require(mode == "linear" and coord in ("half_pixel", "pytorch_half_pixel", "align_corners"), layer, "mode",
                f"mode '{mode}' with '{coord}' is not mapped", "use nearest, or linear with half_pixel")
    up = L.upsample(layer.name, inp, out.name, factors, bilinear=True)
    if coord == "align_corners":
        up.upsample.linearUpsampleMode = 1     # ALIGN_CORNERS_TRUE
    return pre + [up]
