"""The rank-N engine: Core ML's real axis semantics, for networks the (N, H, W, C) engine cannot model.

Specification version 4 added layers with N-dimensional semantics (``batchedMatmul``, ``transpose``,
``reshapeStatic``, ...) and the ``EXACT_ARRAY_MAPPING`` / ``RANK4_IMAGE_MAPPING`` input mappings, under
which a blob has exactly the rank and shape its producer gives it (``coremltools.convert`` writes such
networks). Here a Core ML blob of shape ``S`` (rank r) is a TensorFlow tensor of shape ``(N, *S)``: one
leading *example* axis (the batch of examples a prediction or an update runs on, which Core ML runs one
after another), then Core ML's own axes, in Core ML's order. A Core ML axis ``a`` of a rank-r blob is
tensor axis ``a % r + 1``.

Networks with the legacy rank-5 mapping run here too when the (N, H, W, C) engine cannot model them
(a ``permute`` or ``reshape`` that moves the sequence axis): inputs ``[C]`` and ``[C, H, W]`` then become
``[1, 1, C, 1, 1]`` and ``[1, 1, C, H, W]`` (``[Seq, Batch, C, H, W]``), as NeuralNetwork.proto says.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import tensorflow as tf

from ground.errors import BadInputError

EXACT_ARRAY_MAPPING, RANK4_IMAGE_MAPPING = 1, 1

ND_KINDS: set[str] = set()
"""Layer types whose semantics only exist on rank-N blobs (filled by emulator/layers/nd_*.py)."""

SEQUENCE_KINDS: set[str] = set()
"""Classic layer types that read Core ML's sequence axis, which only this engine models (filled by
emulator/layers/recurrent.py)."""


def axis(a: int, rank: int, *, where: str = "") -> int:
    """Tensor axis of Core ML axis ``a`` (negative counts from the end) of a rank-``rank`` blob."""
    if not -rank <= a < rank:
        raise BadInputError(f"axis {a} is out of range for a rank-{rank} blob", where=where,
                            fix="fix the layer's axis parameter")
    return a % rank + 1


def rank(x: tf.Tensor) -> int:
    """Core ML rank of a blob (the tensor's rank without the example axis)."""
    return len(x.shape) - 1


def same_rank(*xs: tf.Tensor) -> list[tf.Tensor]:
    """Broadcast operands to one rank as Core ML does (axes aligned from the end): singleton axes are
    inserted after the example axis of the lower-rank ones."""
    top = max(rank(x) for x in xs)
    out = []
    for x in xs:
        for _ in range(top - rank(x)):
            x = tf.expand_dims(x, 1)
        out.append(x)
    return out


def broadcast_examples(xs: list[tf.Tensor]) -> list[tf.Tensor]:
    """Constants (an example axis of 1) repeated to the examples of the other operands."""
    batched = [x for x in xs if x.shape[0] != 1]
    if not batched or len(batched) == len(xs):
        return list(xs)
    n = tf.shape(batched[0])[:1]
    return [x if x.shape[0] != 1 else tf.tile(x, tf.concat([n, tf.ones([rank(x)], tf.int32)], 0)) for x in xs]


def wants_rank_n(nn: Any, input_features: Iterable[Any]) -> bool:
    """Whether ``nn`` runs with Core ML's N-dimensional semantics (an exact input mapping in use, or a
    specification-version-4 layer that only exists there), or holds a layer of the sequence axis."""
    feats = list(input_features)
    if any(f.kind == "multiArray" for f in feats) and nn.arrayInputShapeMapping == EXACT_ARRAY_MAPPING:
        return True
    if any(f.kind == "image" for f in feats) and nn.imageInputShapeMapping == RANK4_IMAGE_MAPPING:
        return True
    return any(layer.WhichOneof("layer") in ND_KINDS | SEQUENCE_KINDS for layer in nn.layers)


class Layout:
    """How Core ML's input arrays become the engine's tensors and its blobs become output arrays."""

    def __init__(self, nn: Any) -> None:
        self.exact_arrays = nn.arrayInputShapeMapping == EXACT_ARRAY_MAPPING
        self.rank4_images = nn.imageInputShapeMapping == RANK4_IMAGE_MAPPING

    def backend_shape(self, feature: Any) -> tuple[int, ...]:
        """The Core ML shape the network sees for one example of an input feature."""
        shape = tuple(feature.shape)
        if feature.kind == "image":
            return (1, *shape) if self.rank4_images else (1, 1, *shape)
        if self.exact_arrays:
            return shape
        if len(shape) == 1:
            return (1, 1, shape[0], 1, 1)
        if len(shape) == 3:
            return (1, 1, *shape)
        raise BadInputError(f"input '{feature.name}' has rank {len(shape)}; the rank-5 mapping takes [C] or "
                            "[C, H, W]", fix="declare the input as [C] or [C, H, W], or use EXACT_ARRAY_MAPPING")

    def to_backend(self, array: np.ndarray, feature: Any) -> np.ndarray:
        """``(N, *feature.shape)`` (or one example of ``feature.shape``) -> ``(N, *blob_shape)``."""
        array = np.asarray(array)
        expected = tuple(feature.shape)
        if expected and tuple(array.shape) == expected:
            array = array[None]
        lead = next((i for i, d in enumerate(expected) if d != 1), len(expected))
        if array.ndim >= 1 and tuple(array.shape[1:]) != expected and any(
                tuple(array.shape[1:]) == expected[k:] for k in range(1, lead + 1)):
            array = array.reshape(len(array), *expected)   # [1, C, H, W] declared, (N, C, H, W) given
        if array.ndim != len(expected) + 1 or tuple(array.shape[1:]) != expected:
            raise BadInputError(
                f"input '{feature.name}' has shape {tuple(array.shape)}, expected (N, {', '.join(map(str, expected))})"
                " in Core ML's layout", fix="pass one row per example, each of the input's declared shape")
        return np.ascontiguousarray(array.astype(np.float32, copy=False).reshape(len(array), *self.backend_shape(feature)))

    def from_backend(self, array: np.ndarray, feature: Any | None) -> np.ndarray:
        """A blob ``(N, *S)`` as the output array: reshaped to the declared shape when it has one."""
        array = np.asarray(array)
        shape = tuple(feature.shape) if feature is not None and feature.shape else ()
        if shape and int(np.prod(shape)) == int(np.prod(array.shape[1:])):
            return array.reshape(len(array), *shape)
        return array


def image_preprocess(fn):
    """A preprocessing function of (N, H, W, C) images applied to a rank-N image blob (N, ..., C, H, W)."""
    def apply(x: tf.Tensor) -> tf.Tensor:
        lead = [int(s) for s in x.shape[1:-3]]
        c, h, w = (int(s) for s in x.shape[-3:])
        y = fn(tf.transpose(tf.reshape(x, [-1, c, h, w]), [0, 2, 3, 1]))
        return tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [-1, *lead, c, h, w])
    return apply
