"""The runtime's view of ``WeightParams``: float32 arrays of the shape a layer's fields imply."""
from __future__ import annotations

from typing import Any

import numpy as np

from ground import weight_params as WP
from ground.errors import UnsupportedConfigError


def read(wp: Any, shape: tuple[int, ...], *, where: str, what: str = "weights") -> np.ndarray:
    """Return the values of ``wp`` as a float32 array of ``shape`` (Core ML layout).

    Accepts float32 (``floatValue``) and float16 (``float16Value``) storage; quantized weights are refused.
    """
    count = int(np.prod(shape)) if shape else 1
    if WP.precision(wp) in ("quantized", "raw"):
        raise UnsupportedConfigError(
            f"{what} are quantized, which the emulator does not implement", where=f"layer '{where}'",
            fix="convert with float32 weights")
    arr = WP.read_floats(wp)
    if arr.size != count:
        raise UnsupportedConfigError(
            f"{what} hold {arr.size} values but the layer's fields imply {count} {tuple(shape)}",
            where=f"layer '{where}'", fix="re-create the layer with consistent weights")
    return arr.reshape(shape)


write = WP.write
"""Store values (Core ML layout, any shape) into a WeightParams as float32, keeping its other fields."""


def read_vector(wp: Any, *, where: str, what: str) -> np.ndarray:
    """A 1-D float32 array of every value in ``wp``, whatever its length (callers check it)."""
    return read(wp, (WP.value_count(wp),), where=where, what=what)
