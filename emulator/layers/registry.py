"""The registry of layer implementations: one :class:`Op` per Core ML NeuralNetwork layer type.

An op sees tensors in the emulator's backend layout: every blob is a rank-4 ``(N, H, W, C)`` float32
TensorFlow tensor, where a Core ML blob ``[C, H, W]`` (batch N) maps to ``(N, H, W, C)`` and a Core ML
vector ``[C]`` to ``(N, 1, 1, C)``. Core ML's sequence axis is not modelled (it must be 1).

Weights are read once from the spec into numpy arrays in the backend's layout by ``params`` and, for
the layers Core ML can update, written back into the spec in Core ML's layout by ``write_back``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Params = dict[str, np.ndarray]
Forward = Callable[[Any, list, dict], list]
"""forward(layer_pb, inputs: list[tf.Tensor], params: dict[str, tf.Tensor]) -> list[tf.Tensor]"""


@dataclass(frozen=True)
class Op:
    """How the emulator runs one Core ML layer type (the name of the ``layer`` oneof field)."""

    kind: str
    forward: Forward
    params: Callable[[Any], Params] | None = None
    write_back: Callable[[Any, Params], None] | None = None
    supports: Callable[[Any], str | None] | None = None
    """Optional check of a layer's settings: returns why it is unsupported, or None."""


OPS: dict[str, Op] = {}


def op(kind: str, *, params: Callable[[Any], Params] | None = None,
       write_back: Callable[[Any, Params], None] | None = None,
       supports: Callable[[Any], str | None] | None = None) -> Callable[[Forward], Forward]:
    """Register ``forward`` as the implementation of Core ML layer type ``kind``."""

    def register(forward: Forward) -> Forward:
        if kind in OPS:
            raise RuntimeError(f"emulator op '{kind}' registered twice")
        OPS[kind] = Op(kind, forward, params, write_back, supports)
        return forward

    return register


def layer_kind(layer: Any) -> str:
    """The Core ML type of a ``NeuralNetworkLayer`` message (e.g. 'convolution')."""
    return layer.WhichOneof("layer") or "<empty>"
