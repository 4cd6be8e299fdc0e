"""The classic layers (specification 1-3) on rank-N blobs: how the rank-N engine runs them.

NeuralNetwork.proto defines most of them on the last three axes ``[C, H, W]`` of a blob of rank >= 3,
the leading axes all acting as batch (convolution, pooling, batchnorm, softmax over axis -3, flatten,
concat, padding, ...). Those run as their (N, H, W, C) implementation on the folded leading axes
(:func:`on_chw`). Element-wise layers run on any rank; ``innerProduct``, ``permute`` and ``reshape``
have rank-dependent definitions of their own, implemented here.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

from .. import rank_n as R
from .registry import OPS, Forward

CLASSIC_ND: dict[str, Forward] = {}
"""Classic layer type -> forward(layer, inputs, params) on rank-N tensors ``(N, *S)``."""


def nd_form(kind: str) -> Callable[[Forward], Forward]:
    def register(fn: Forward) -> Forward:
        CLASSIC_ND[kind] = fn
        return fn
    return register


def _to_nhwc(x: tf.Tensor) -> tf.Tensor:
    c, h, w = (int(s) for s in x.shape[-3:])
    return tf.transpose(tf.reshape(x, [-1, c, h, w]), [0, 2, 3, 1])


def _from_nhwc(y: tf.Tensor, lead: list[int]) -> tf.Tensor:
    h, w, c = (int(s) for s in y.shape[1:])
    return tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [-1, *lead, c, h, w])


def on_chw(kind: str) -> Forward:
    """``kind``'s (N, H, W, C) forward applied to the last three axes ``[C, H, W]`` of rank >= 3 blobs."""
    classic = OPS[kind].forward

    def forward(layer, inputs, params):
        inputs = R.broadcast_examples(list(inputs))
        for x in inputs:
            if R.rank(x) < 3:
                raise UnsupportedConfigError(
                    f"{kind} needs a blob of rank 3 or more ([..., C, H, W]); this one has rank {R.rank(x)}",
                    where=f"layer '{layer.name}'", fix="reshape the blob to [C, H, W] (e.g. expandDims) first")
        lead = [int(s) for s in inputs[0].shape[1:-3]] if inputs else []
        outs = classic(layer, [_to_nhwc(x) for x in inputs], params)
        return [_from_nhwc(y, lead) for y in outs]
    return forward


CHW_KINDS = ("convolution", "pooling", "batchnorm", "scale", "bias", "padding", "crop", "upsample", "lrn",
             "l2normalize", "softmax", "concat", "flatten", "embedding", "loadConstant")
for _kind in CHW_KINDS:
    CLASSIC_ND[_kind] = on_chw(_kind)


@nd_form("activation")
def activation(layer, inputs, params):
    """Element-wise; the per-channel weights of PReLU / parametricSoftplus act on axis -3."""
    if params and R.rank(inputs[0]) >= 3:
        return on_chw("activation")(layer, inputs, params)
    return OPS["activation"].forward(layer, inputs, params)


def _elementwise(kind: str) -> Forward:
    classic = OPS[kind].forward

    def forward(layer, inputs, params):
        return classic(layer, R.same_rank(*inputs), params)
    return forward


for _kind in ("gelu", "unary", "clip", "add", "multiply", "average", "max", "min"):
    CLASSIC_ND[_kind] = _elementwise(_kind)


@nd_form("innerProduct")
def inner_product(layer, inputs, params):
    """Ranks 1-3: on the last axis; rank 4 ``(x1, C, H, W)`` -> ``(x1, C_out, 1, 1)``; rank 5
    ``(x1, x2, C, H, W)`` -> ``(x1, x2, C_out, 1, 1)`` (NeuralNetwork.proto)."""
    x = inputs[0]
    p = layer.innerProduct
    dims = [int(s) for s in x.shape[1:]]
    r = len(dims)
    flat = dims if r <= 3 else dims[:r - 3] + [int(np.prod(dims[-3:]))]
    if flat[-1] != int(p.inputChannels):
        raise UnsupportedConfigError(
            f"innerProduct expects {p.inputChannels} input values per row, the rank-{r} input {dims} gives {flat[-1]}",
            where=f"layer '{layer.name}'", fix="reshape the input so its last axis (or [C, H, W]) holds inputChannels")
    y = tf.reshape(x, [-1, flat[-1]]) @ params["weights"]
    if p.hasBias:
        y = y + params["bias"]
    out = flat[:-1] + [int(p.outputChannels)] + ([1, 1] if r > 3 else [])
    return [tf.reshape(y, [-1, *out])]


@nd_form("permute")
def permute(layer, inputs, params):
    """A rank-5 ``[Seq, B, C, H, W]`` blob; ``axis`` permutes (Seq, C, H, W) and leaves B."""
    x = inputs[0]
    axis = [int(a) for a in layer.permute.axis] or [0, 1, 2, 3]
    if R.rank(x) != 5:
        raise UnsupportedConfigError(f"permute needs a rank-5 blob [Seq, B, C, H, W], got rank {R.rank(x)}",
                                     where=f"layer '{layer.name}'", fix="use transpose for other ranks")
    positions = [0, 2, 3, 4]
    perm = [0, 1, 2, 3, 4]
    for i, a in enumerate(axis):
        perm[positions[i]] = positions[a]
    return [tf.transpose(x, [0] + [p + 1 for p in perm])]


@nd_form("reshape")
def reshape(layer, inputs, params):
    """A rank-5 ``[Seq, B, C, H, W]`` blob reshaped per example sequence (targetShape of 3 or 4 values)."""
    x = inputs[0]
    p = layer.reshape
    if R.rank(x) != 5:
        raise UnsupportedConfigError(f"reshape needs a rank-5 blob [Seq, B, C, H, W], got rank {R.rank(x)}",
                                     where=f"layer '{layer.name}'", fix="use reshapeStatic for other ranks")
    seq, batch, c, h, w = (int(s) for s in x.shape[1:])
    target = [int(t) for t in p.targetShape]
    total = seq * c * h * w
    seq_out = target[0] if len(target) == 4 else seq
    chw = target[-3:]
    if -1 in chw:
        known = int(np.prod([t for t in chw if t != -1]))
        chw[chw.index(-1)] = total // max(known * seq_out, 1)
    if seq_out * int(np.prod(chw)) != total:
        raise UnsupportedConfigError(f"targetShape {target} does not hold the input's {total} values",
                                     where=f"layer '{layer.name}'", fix="make the target shape's product equal the input's")
    c2, h2, w2 = chw
    if p.mode == 1:   # CHANNEL_LAST: flatten H, W, C; reshape [Seq_out, 1, H, W, C]; permute to C, H, W
        y = tf.reshape(tf.transpose(x, [0, 1, 2, 4, 5, 3]), [-1, seq_out, batch, h2, w2, c2])
        return [tf.transpose(y, [0, 1, 2, 5, 3, 4])]
    return [tf.reshape(x, [-1, seq_out, batch, c2, h2, w2])]


def nd_forward(kind: str) -> Forward | None:
    """The rank-N forward of a layer type: its own (spec 4+ layers) or its classic one's rank-N form."""
    if kind in R.ND_KINDS or kind in R.SEQUENCE_KINDS:
        return OPS[kind].forward
    return CLASSIC_ND.get(kind)



@nd_form("embeddingND")
def embedding_nd(layer, inputs, params):
    """NeuralNetwork.proto's EmbeddingND on any rank >= 2: indices in a last axis of size 1 -> that axis
    replaced by the embedding (``(..., 1)`` -> ``(..., embeddingSize)``)."""
    x = inputs[0]
    if R.rank(x) < 2 or int(x.shape[-1]) != 1:
        raise UnsupportedConfigError(f"embeddingND input of shape {[int(s) for s in x.shape[1:]]}: the last axis "
                                     "must be 1 (one index per position) and the rank at least 2",
                                     where=f"layer '{layer.name}'", fix="feed indices shaped (..., 1)")
    y = tf.gather(params["table"], tf.cast(tf.round(x[..., 0]), tf.int32))
    if layer.embeddingND.hasBias:
        y = y + params["bias"]
    return [y]
