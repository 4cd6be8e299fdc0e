"""Core ML ``WeightParams`` as numpy: how values are stored, counted, read and written.

Shared by the converter (building layers), the transforms (reordering weights) and the runtime
(reading and writing back trained weights); numpy and protobuf only.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def precision(wp: Any) -> str:
    """'float32' | 'float16' | 'quantized' | 'raw' | 'empty' for one WeightParams."""
    if wp.HasField("quantization") or len(wp.int8RawValue):
        return "quantized"
    if len(wp.floatValue):
        return "float32"
    if len(wp.float16Value):
        return "float16"
    if len(wp.rawValue):
        return "raw"
    return "empty"


def value_count(wp: Any) -> int:
    """How many values ``wp`` stores, whatever its storage."""
    if len(wp.floatValue):
        return len(wp.floatValue)
    if len(wp.float16Value):
        return len(wp.float16Value) // 2
    if len(wp.int8RawValue):
        return len(wp.int8RawValue)
    if len(wp.rawValue):
        bits = wp.quantization.numberOfBits if wp.HasField("quantization") else 32
        return len(wp.rawValue) * 8 // max(bits, 1)
    return 0


def read_floats(wp: Any) -> np.ndarray:
    """A float32 or float16 WeightParams as a flat float32 array (empty for other storage)."""
    if len(wp.floatValue):
        return np.asarray(wp.floatValue, dtype=np.float32)
    if len(wp.float16Value):
        return np.frombuffer(wp.float16Value, dtype=np.float16).astype(np.float32)
    return np.zeros(0, np.float32)


def write(wp: Any, values: np.ndarray, like: str = "float32") -> None:
    """Store ``values`` (any shape, Core ML layout) in ``wp`` in precision ``like`` ('float32' or
    'float16'), replacing what it held and keeping its other fields (``isUpdatable``...)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    wp.ClearField("floatValue")
    wp.ClearField("float16Value")
    if like == "float16":
        wp.float16Value = flat.astype(np.float16).tobytes()
    else:
        wp.floatValue.extend(flat.astype(np.float32).tolist())
