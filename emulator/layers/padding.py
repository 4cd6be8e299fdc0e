"""Padding and small argument helpers shared by the convolution, pooling and shape layers."""
from __future__ import annotations

import tensorflow as tf


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1,
                 top_left_heavy: bool = False) -> tuple[int, int]:
    """(start, end) padding of Core ML's 'same' mode: output = ceil(size / stride)."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    small, large = total // 2, total - total // 2
    return (large, small) if top_left_heavy else (small, large)


def valid_padding(valid) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) explicit padding of a ``ValidPadding`` message."""
    amounts = list(valid.paddingAmounts.borderAmounts)
    if not amounts:
        return (0, 0), (0, 0)
    return ((amounts[0].startEdgeSize, amounts[0].endEdgeSize),
            (amounts[1].startEdgeSize, amounts[1].endEdgeSize))


def pad_hw(x: tf.Tensor, pads_h: tuple[int, int], pads_w: tuple[int, int], value: float = 0.0) -> tf.Tensor:
    """Pad an (N, H, W, C) tensor in H and W (no-op when all pads are zero)."""
    if not any(pads_h) and not any(pads_w):
        return x
    return tf.pad(x, [[0, 0], list(pads_h), list(pads_w), [0, 0]], constant_values=value)


def pair(values, default: int) -> tuple[int, int]:
    """Two ints from a repeated field that may be empty (Core ML's defaults)."""
    values = list(values)
    return (values[0], values[1]) if values else (default, default)
