"""Pass ``flatten_for_dense``: turn channels-last flattens before dense layers into Core ML's own flatten."""
from __future__ import annotations

from typing import Any

from ground import nn_spec as S
from ground import weight_params as WP
from ground.errors import UnsupportedConfigError
from ground.layout import hwc_to_chw_columns  # the project's one layout module (pure numpy)
from ground.protos import Model_pb2

from .context import PassContext

NAME = "flatten_for_dense"
REQUIRES: tuple[str, ...] = ("drop_identities",)
CHANNEL_FIRST, CHANNEL_LAST = 0, 1
TO_HWC = [0, 2, 3, 1]


def run(spec: Model_pb2.Model, ctx: PassContext) -> None:
    """Rewrite channels-last flattening feeding innerProduct layers as ``flatten(CHANNEL_FIRST)``.

    Pattern A, before::

        flatten f (mode CHANNEL_LAST, x -> v) ; innerProduct d (v -> y, W columns in H,W,C order)

    Pattern B, before::

        permute p (axis [0,2,3,1], x -> t) ; flatten f (CHANNEL_FIRST, t -> v)  [or reshape f to a vector]
        ; innerProduct d (v -> y, W columns in H,W,C order)

    After (both)::

        flatten f (mode CHANNEL_FIRST, x -> v) ; innerProduct d (v -> y, W columns in C,H,W order)

    The (C, H, W) shape of ``x`` comes from ``facts.blob_shapes``. Every consumer of ``v`` must be an
    innerProduct, else the layers are left as they are.
    """
    nn = S.nn_of(spec)
    outputs = set(S.network_output_blobs(spec))
    i = 0
    while i < len(nn.layers):
        layer = nn.layers[i]
        cons = S.consumers(nn)
        k = S.kind(layer)
        if k == "flatten" and layer.flatten.mode == CHANNEL_LAST:
            dense = _dense_consumers(nn, cons, layer.output[0], outputs)
            if dense:
                chw = _chw(ctx, layer.input[0], layer.name)
                for d in dense:
                    _reorder(nn.layers[d], chw, ctx)
                layer.flatten.mode = CHANNEL_FIRST
                ctx.report.add(stage=NAME, action="reordered", subject=layer.name,
                               reason="flatten CHANNEL_LAST -> CHANNEL_FIRST (the dense weights follow)")
        elif k == "permute" and list(layer.permute.axis) == TO_HWC and layer.output[0] not in outputs:
            after = cons.get(layer.output[0], [])
            if len(after) == 1 and _flattens_to_vector(nn.layers[after[0]]):
                flat = nn.layers[after[0]]
                dense = _dense_consumers(nn, cons, flat.output[0], outputs)
                if dense:
                    chw = _chw(ctx, layer.input[0], layer.name)
                    for d in dense:
                        _reorder(nn.layers[d], chw, ctx)
                    source, was = layer.input[0], S.kind(flat)
                    flat.flatten.SetInParent()                 # replaces a reshape's params, if any
                    flat.flatten.mode = CHANNEL_FIRST
                    flat.input[0] = source
                    ctx.report.add(stage=NAME, action="dropped", subject=layer.name,
                                   reason="permute to channels-last before a flatten: the dense weights are "
                                          "reordered instead")
                    ctx.report.add(stage=NAME, action="reordered", subject=flat.name,
                                   reason=f"{was} -> flatten CHANNEL_FIRST on '{source}'")
                    del nn.layers[i]
                    continue
        i += 1


def _flattens_to_vector(layer: Any) -> bool:
    """flatten(CHANNEL_FIRST), or a CHANNEL_FIRST reshape to (N,1,1) / (1,N,1,1)."""
    if S.kind(layer) == "flatten":
        return layer.flatten.mode == CHANNEL_FIRST
    if S.kind(layer) == "reshape" and layer.reshape.mode == CHANNEL_FIRST:
        shape = list(layer.reshape.targetShape)
        return shape[-2:] == [1, 1] and (len(shape) == 3 or (len(shape) == 4 and shape[0] == 1))
    return False


def _dense_consumers(nn: Any, cons: dict, blob: str, outputs: set[str]) -> list[int]:
    """Indices of the innerProduct layers reading ``blob``, or [] unless they are all its readers."""
    readers = cons.get(blob, [])
    if not readers or blob in outputs or any(S.kind(nn.layers[r]) != "innerProduct" for r in readers):
        return []
    return readers


def _chw(ctx: Any, blob: str, layer: str) -> tuple[int, int, int]:
    shape = ctx.blob_shapes.get(blob)
    if shape is None:
        raise UnsupportedConfigError(
            f"the shape of blob '{blob}' is unknown, so the dense weights after it cannot be reordered",
            where=f"layer '{layer}'", fix="the front end must list this blob in SourceFacts.blob_shapes as (C, H, W)")
    shape = tuple(int(s) for s in shape)
    return (shape[0], 1, 1) if len(shape) == 1 else shape[-3:]


def _reorder(layer: Any, chw: tuple[int, int, int], ctx: Any) -> None:
    ip = layer.innerProduct
    c, h, w = chw
    if ip.inputChannels != c * h * w:
        raise UnsupportedConfigError(
            f"innerProduct has {ip.inputChannels} inputs but the flattened blob holds {c}x{h}x{w} = {c * h * w}",
            where=f"layer '{layer.name}'", fix="check SourceFacts.blob_shapes for the blob before the flatten")
    kind = WP.precision(ip.weights)
    if kind not in ("float32", "float16"):
        raise UnsupportedConfigError(f"cannot reorder {kind} weights", where=f"layer '{layer.name}'",
                                     fix="convert without weight quantization")
    if h * w == 1 or c == 1:
        return
    weights = WP.read_floats(ip.weights).reshape(ip.outputChannels, ip.inputChannels)
    WP.write(ip.weights, hwc_to_chw_columns(weights, chw), kind)
    ctx.report.add(stage=NAME, action="reordered", subject=layer.name,
                   reason=f"weight columns from (H,W,C) = ({h},{w},{c}) order to Core ML's (C,H,W)")
