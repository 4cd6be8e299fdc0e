"""Reading and writing Core ML ``WeightParams`` as float32 numpy arrays (Core ML layout)."""
from __future__ import annotations

from typing import Any

import numpy as np

from coreml_updatable.errors import UnsupportedConfigError


def read(wp: Any, shape: tuple[int, ...], *, where: str, what: str = "weights") -> np.ndarray:
    """Return the values of ``wp`` as a float32 array of ``shape`` (Core ML layout).

    Accepts float32 (``floatValue``) and float16 (``float16Value``) storage; quantized weights are refused.
    """
    count = int(np.prod(shape)) if shape else 1
    if len(wp.floatValue):
        arr = np.asarray(wp.floatValue, dtype=np.float32)
    elif len(wp.float16Value):
        arr = np.frombuffer(wp.float16Value, dtype=np.float16).astype(np.float32)
    elif len(wp.rawValue) or len(wp.int8RawValue):
        raise UnsupportedConfigError(
            f"{what} are quantized, which the emulator does not implement", where=f"layer '{where}'",
            fix="convert with float32 weights")
    else:
        arr = np.zeros(0, dtype=np.float32)
    if arr.size != count:
        raise UnsupportedConfigError(
            f"{what} hold {arr.size} values but the layer's fields imply {count} {tuple(shape)}",
            where=f"layer '{where}'", fix="re-create the layer with consistent weights")
    return arr.reshape(shape)


def write(wp: Any, values: np.ndarray) -> None:
    """Store ``values`` (Core ML layout, any shape) into ``wp`` as float32, keeping its other fields."""
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    del wp.floatValue[:]
    wp.floatValue.extend(flat.tolist())


def count(wp: Any) -> int:
    """How many float values ``wp`` holds (float32 or float16 storage; 0 for quantized or empty)."""
    if len(wp.floatValue):
        return len(wp.floatValue)
    return len(wp.float16Value) // 2


def read_vector(wp: Any, *, where: str, what: str) -> np.ndarray:
    """A 1-D float32 array of every value in ``wp``, whatever its length (callers check it)."""
    return read(wp, (count(wp),), where=where, what=what)
