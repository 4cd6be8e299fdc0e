"""Helpers shared by the ONNX mappers: constant inputs, output blobs with their axes."""
from __future__ import annotations

import numpy as np

from converter.context import MapContext
from converter.ir import SourceLayer

from ..axes import OnnxBlob, blob, set_blob


def const(layer: SourceLayer, i: int) -> np.ndarray | None:
    """The ``i``-th ONNX input if it is a constant (initializer or folded), else None."""
    names = layer.config.get("onnx_inputs", [])
    if i >= len(names) or not names[i]:
        return None
    return layer.weights.get(names[i])


def has_input(layer: SourceLayer, i: int) -> bool:
    names = layer.config.get("onnx_inputs", [])
    return i < len(names) and bool(names[i])


def same_as_input(ctx: MapContext, layer: SourceLayer, i: int = 0) -> OnnxBlob:
    """Record the layer's output blob with the shape and axes of its ``i``-th input (element-wise ops)."""
    src = blob(ctx, layer, i)
    return set_blob(ctx, layer.outputs[0], ctx.out(layer), layer.output_shapes[0], src.axes)


def canonical_out(ctx: MapContext, layer: SourceLayer) -> OnnxBlob:
    """Record the layer's output blob in canonical axes."""
    from ..axes import CANONICAL, check_rank

    shape = layer.output_shapes[0]
    check_rank(ctx, layer, shape)
    return set_blob(ctx, layer.outputs[0], ctx.out(layer), shape, CANONICAL[len(shape)])


def ints(value, n: int, default: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if value is not None and len(value) else (default,) * n
