"""Where each ONNX tensor's axes live in its Core ML blob, and the layers that move data between layouts.

Core ML blobs are ``(C, H, W)`` per example. An ONNX tensor of shape ``(N, d1, .., dr)`` (r <= 3) sits
in a blob with ``axes[k]`` = the Core ML axis (0 C, 1 H, 2 W) of ONNX axis ``k+1``; Core ML axes no ONNX
axis names have size 1. Canonical axes are ``(0,)`` for vectors, ``(0, 2)`` for ``(F, T)`` and
``(0, 1, 2)`` for NCHW images. A layout-only op (Transpose, Reshape, Flatten, Squeeze, Unsqueeze) is
worked out on a grid of element indices: when the result is the same blob read with other axes it
costs no layer; otherwise it becomes a flatten, a permute and/or a reshape.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from converter import coreml_layers as L
from ground.layout import axes_coreml_shape as coreml_shape  # the one layout module
from ground.layout import axes_full3 as full3
from ground.layout import axes_grid as grid
from converter.context import Blob, MapContext
from converter.ir import SourceLayer

CANONICAL = {1: (0,), 2: (0, 2), 3: (0, 1, 2)}
CHANNEL_FIRST, CHANNEL_LAST = False, True


@dataclass(frozen=True)
class OnnxBlob(Blob):
    """A Core ML blob holding an ONNX tensor; ``axes`` as in the module docstring."""

    axes: tuple[int, ...] = ()

    @property
    def shape3(self) -> tuple[int, int, int]:
        return full3(self.source_shape, self.axes)

    @property
    def canonical(self) -> bool:
        return self.axes == CANONICAL.get(len(self.source_shape))


def blob_grid(blob: OnnxBlob) -> np.ndarray:
    return grid(blob.source_shape, blob.axes)


def check_rank(ctx: MapContext, layer: SourceLayer, shape: tuple[int, ...]) -> None:
    ctx.require(1 <= len(shape) <= 3, layer, "rank",
                f"a tensor of shape (N, {', '.join(map(str, shape))}) has no Core ML (C, H, W) layout",
                "keep tensors at rank 2 to 4 including the batch axis")


def set_blob(ctx: MapContext, tensor: str, name: str, source_shape: tuple[int, ...], axes: tuple[int, ...],
             *, record: bool = True) -> OnnxBlob:
    """Record that ONNX ``tensor`` lives in Core ML blob ``name`` with ``axes``."""
    source_shape = tuple(int(s) for s in source_shape)
    blob = OnnxBlob(name, coreml_shape(source_shape, axes), source_shape, tuple(axes))
    ctx.blobs[tensor] = blob
    if record:
        ctx.blob_shapes[name] = blob.shape
    return blob


def blob(ctx: MapContext, layer: SourceLayer, i: int = 0) -> OnnxBlob:
    """The ONNX blob of the layer's ``i``-th dynamic input."""
    return ctx.blobs[layer.inputs[i]]  # type: ignore[return-value]


def aliases(values: np.ndarray, shape3: tuple[int, int, int], canonical_only: bool = False) -> tuple[int, ...] | None:
    """Axes under which a blob of ``shape3`` read as an ONNX tensor gives ``values`` (None: none do)."""
    rank = values.ndim
    candidates = [CANONICAL[rank]] + ([] if canonical_only else
                                      [p for p in permutations(range(3), rank) if p != CANONICAL[rank]])
    for axes in candidates:
        if full3(values.shape, axes) == tuple(shape3) and np.array_equal(grid(values.shape, axes), values):
            return tuple(axes)
    return None


def _permute_axis(perm: tuple[int, int, int]) -> list[int]:
    """Core ML permute ``axis`` (over Seq, C, H, W) whose output axis i is input axis ``perm[i]``."""
    return [0] + [1 + p for p in perm]


def relayout(ctx: MapContext, layer: SourceLayer, src: OnnxBlob, values: np.ndarray, out_tensor: str,
             out_blob: str, *, name: str | None = None, canonical_only: bool = False) -> list:
    """Layers that make ``out_tensor`` (whose elements are the blob's elements ``values``) available.

    Tries in order: the same blob read with other axes (no layer), flatten CHANNEL_FIRST / CHANNEL_LAST to a
    vector, a permute, a (permute +) reshape CHANNEL_FIRST to canonical axes. ``canonical_only``: the
    result must have canonical axes.
    """
    name = name or layer.name
    check_rank(ctx, layer, values.shape)
    shape3 = src.shape3
    axes = aliases(values, shape3, canonical_only)
    if axes is not None:
        set_blob(ctx, out_tensor, src.name, values.shape, axes, record=False)
        return []
    flat = values.ravel()
    c, h, w = shape3
    if values.ndim == 1 and np.array_equal(flat, np.arange(flat.size)):
        set_blob(ctx, out_tensor, out_blob, values.shape, (0,))
        return [L.flatten(name, src.name, out_blob, CHANNEL_FIRST)]
    hwc = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
    if values.ndim == 1 and np.array_equal(flat, hwc):
        set_blob(ctx, out_tensor, out_blob, values.shape, (0,))
        return [L.flatten(name, src.name, out_blob, CHANNEL_LAST)]
    base = np.arange(c * h * w).reshape(shape3)
    for perm in permutations(range(3)):
        if perm == (0, 1, 2):
            continue
        moved = base.transpose(perm)
        axes = aliases(_regrid(values, moved), moved.shape, canonical_only)
        if axes is not None:
            set_blob(ctx, out_tensor, out_blob, values.shape, axes)
            return [L.permute(name, src.name, out_blob, _permute_axis(perm))]
    target = full3(values.shape, CANONICAL[values.ndim])
    for perm in [(0, 1, 2)] + [p for p in permutations(range(3)) if p != (0, 1, 2)]:
        if not np.array_equal(base.transpose(perm).ravel(), flat):
            continue
        layers, inp = [], src.name
        if perm != (0, 1, 2):
            inp = ctx.tmp(layer, "permute", base.transpose(perm).shape)
            layers.append(L.permute(ctx.lname(layer, "permute"), src.name, inp, _permute_axis(perm)))
        set_blob(ctx, out_tensor, out_blob, values.shape, CANONICAL[values.ndim])
        return layers + [L.reshape(name, inp, out_blob, target, CHANNEL_FIRST)]
    ctx.refuse(layer, "layout", f"moving the data of a {src.source_shape} tensor into {values.shape} needs more "
               "than one Core ML permute and reshape", "simplify the model's reshapes/transposes")
    return []


def _regrid(values: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """``values`` expressed as indices into the permuted blob ``moved`` (whose entries are old indices)."""
    where = np.empty(moved.size, np.int64)
    where[moved.ravel()] = np.arange(moved.size)
    return where[values]


def canonical(ctx: MapContext, layer: SourceLayer, i: int = 0, *, rank: int | None = None) -> tuple[str, list]:
    """The blob name of the layer's ``i``-th input in canonical axes, and the layers (a permute) needed."""
    src = blob(ctx, layer, i)
    if rank is not None:
        ctx.require(len(src.source_shape) == rank, layer, "input rank",
                    f"the input has shape (N, {', '.join(map(str, src.source_shape))}); rank {rank + 1} is needed",
                    "feed an NCHW image tensor" if rank == 3 else "feed a (N, features) tensor")
    if src.canonical:
        return src.name, []
    values = blob_grid(src)
    tmp_tensor = f"{layer.name}__in{i}"
    out = ctx.tmp(layer, f"in{i}", full3(src.source_shape, CANONICAL[len(src.source_shape)]))
    made = relayout(ctx, layer, src, values, tmp_tensor, out, name=ctx.lname(layer, f"in{i}"), canonical_only=True)
    got = ctx.blobs.pop(tmp_tensor)
    if not made:                       # the same blob happens to be canonical already
        return got.name, []
    return got.name, made


def channel_axis_blob(ctx: MapContext, layer: SourceLayer, axis: int, i: int = 0) -> OnnxBlob:
    """The input blob, checking ONNX ``axis`` (batch counted) is its Core ML channel axis."""
    src = blob(ctx, layer, i)
    rank = len(src.source_shape)
    a = axis + rank + 1 if axis < 0 else axis
    ctx.require(a != 0, layer, "axis", "axis 0 is the batch axis", "use an axis of the features")
    ctx.require(1 <= a <= rank and src.axes[a - 1] == 0, layer, "axis",
                f"axis {axis} of a (N, {', '.join(map(str, src.source_shape))}) tensor is not the Core ML "
                "channel axis", "apply it to the channel axis (axis 1 of an NCHW tensor)")
    return src
