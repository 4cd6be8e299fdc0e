"""Model inputs/outputs and layout-only ops: Identity, Dropout, Transpose, Reshape, Flatten, Squeeze,
Unsqueeze. Layout-only ops cost no Core ML layer when the data stays where it is (see ``axes.py``)."""
from __future__ import annotations

import numpy as np

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import onnx_op

from ..axes import CANONICAL, blob, blob_grid, relayout, set_blob
from ._util import const


@onnx_op("OnnxInput", coreml="(model input)",
         notes="internal: an (N,H,W,C) input used only through a conversion to NCHW is declared (C,H,W)")
def map_input(layer: SourceLayer, ctx: MapContext) -> list:
    tensor = layer.outputs[0]
    axes = tuple(layer.config["axes"])
    set_blob(ctx, tensor, ctx.blobs[tensor].name, layer.config["onnx_shape"], axes)
    if axes != CANONICAL.get(len(axes)):
        ctx.note(layer, "note", f"ONNX input '{tensor}' is (N,H,W,C) and converted to NCHW at once: the Core ML "
                                "input is (C,H,W); feed x.transpose(0, 3, 1, 2)")
    ctx.note(layer, "note", "ONNX has no trainable flags: policy 'trainable' makes updatable the convolution/"
                            "innerProduct layers the output reaches through back-propagating layers only")
    return []


@onnx_op("OnnxOutput", coreml="(model output)", notes="internal: outputs keep the ONNX output's axis order")
def map_output(layer: SourceLayer, ctx: MapContext) -> list:
    src = blob(ctx, layer)
    tensor = layer.outputs[0]
    if src.canonical or tensor == layer.inputs[0]:
        set_blob(ctx, tensor, src.name, src.source_shape, src.axes, record=False)
        return []
    return relayout(ctx, layer, src, blob_grid(src), tensor, ctx.out(layer), name=ctx.lname(layer, "canonical"),
                    canonical_only=True)


@onnx_op("Identity", "Dropout", coreml="activation linear (identity, dropped by the transforms)",
         notes="Dropout at inference (training_mode false)")
def map_identity(layer: SourceLayer, ctx: MapContext) -> list:
    if layer.kind == "Dropout":
        mode = const(layer, 2)
        ctx.require(mode is None or not bool(np.asarray(mode).ravel()[0]), layer, "training_mode",
                    "dropout in training mode is random", "export the model in inference mode (model.eval())")
    src = blob(ctx, layer)
    set_blob(ctx, layer.outputs[0], ctx.out(layer), src.source_shape, src.axes)
    return [L.identity(layer.name, src.name, ctx.out(layer))]


def _layout(layer: SourceLayer, ctx: MapContext, values: np.ndarray) -> list:
    src = blob(ctx, layer)
    return relayout(ctx, layer, src, values, layer.outputs[0], ctx.out(layer))


@onnx_op("Transpose", coreml="(none) / permute", notes="the batch axis stays first; layout-only ones vanish")
def map_transpose(layer: SourceLayer, ctx: MapContext) -> list:
    src = blob(ctx, layer)
    rank = len(src.source_shape) + 1
    perm = [int(p) for p in layer.config.get("perm", list(range(rank))[::-1])]
    ctx.require(perm and perm[0] == 0, layer, "perm", f"perm {perm} moves the batch axis",
                "keep axis 0 (the batch) first")
    return _layout(layer, ctx, np.transpose(blob_grid(src), [p - 1 for p in perm[1:]]))


@onnx_op("Reshape", "Flatten", "Squeeze", "Unsqueeze", coreml="(none) / flatten / permute + reshape",
         notes="the batch axis stays; a flatten of channels-last data becomes flatten(CHANNEL_LAST)")
def map_reshape(layer: SourceLayer, ctx: MapContext) -> list:
    src = blob(ctx, layer)
    if layer.kind == "Flatten":
        axis = int(layer.config.get("axis", 1))
        rank = len(src.source_shape) + 1
        ctx.require(axis in (1, 1 - rank), layer, "axis", f"Flatten axis {axis} mixes the batch into the features",
                    "flatten from axis 1")
    return _layout(layer, ctx, blob_grid(src).reshape(layer.output_shapes[0]))
