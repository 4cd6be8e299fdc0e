"""Model inputs and outputs: their description, and the one place layouts change.

Users hand arrays in Core ML's layout, a batch axis first: ``(N, C)`` for a vector feature ``[C]`` and
``(N, C, H, W)`` for ``[C, H, W]``. Inside, the emulator keeps ``(N, H, W, C)`` (TensorFlow's fast
layout on CPU). :func:`to_backend` and :func:`from_backend` are the only layout changes at the edges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ground.errors import BadInputError, UnsupportedConfigError
from ground.layout import nchw_to_nhwc, nhwc_to_nchw


@dataclass(frozen=True)
class Feature:
    """A model input or output as the model description declares it."""

    name: str
    kind: str                     # 'multiArray' | 'image' | 'int64' | 'double' | 'string' | 'dictionary'
    shape: tuple[int, ...] = ()   # Core ML layout, no batch axis (multiArray, image as (C, H, W))
    dtype: str = "float32"

    @property
    def is_tensor(self) -> bool:
        return self.kind in ("multiArray", "image")


_ARRAY_DTYPES = {65568: "float32", 65600: "float64", 131104: "int32", 65552: "float16"}


def describe(fd: Any) -> Feature:
    """A :class:`Feature` from a ``FeatureDescription`` message."""
    kind = fd.type.WhichOneof("Type")
    if kind == "multiArrayType":
        t = fd.type.multiArrayType
        shape = tuple(int(s) for s in t.shape)
        if not shape and t.WhichOneof("ShapeFlexibility") == "enumeratedShapes":
            shape = tuple(int(s) for s in t.enumeratedShapes.shapes[0].shape)
        return Feature(fd.name, "multiArray", shape, _ARRAY_DTYPES.get(t.dataType, "float32"))
    if kind == "imageType":
        t = fd.type.imageType
        channels = 1 if t.colorSpace in (10, 40) else 3  # GRAYSCALE, GRAYSCALE_FLOAT16
        return Feature(fd.name, "image", (channels, int(t.height), int(t.width)))
    simple = {"int64Type": ("int64", "int64"), "doubleType": ("double", "float64"),
              "stringType": ("string", "str"), "dictionaryType": ("dictionary", "object")}
    if kind in simple:
        k, dt = simple[kind]
        return Feature(fd.name, k, (), dt)
    raise UnsupportedConfigError(f"feature type '{kind}' is not supported by the emulator",
                                 where=f"feature '{fd.name}'")


def to_backend(array: np.ndarray, feature: Feature) -> np.ndarray:
    """Core ML layout ``(N, *shape)`` -> backend ``(N, H, W, C)`` float32, after checking the shape."""
    array = np.asarray(array)
    expected = feature.shape
    if array.ndim == len(expected) and len(expected) > 0 and tuple(array.shape) == expected:
        array = array[None]  # one unbatched example
    if array.ndim != len(expected) + 1 or (expected and tuple(array.shape[1:]) != expected):
        raise BadInputError(
            f"input '{feature.name}' has shape {tuple(array.shape)}, expected (N, {', '.join(map(str, expected))})"
            " in Core ML's layout", fix="reshape the batch to the model's input layout "
            "(channels first: (N, C, H, W) for images)")
    array = array.astype(np.float32, copy=False)
    if len(expected) == 1:
        return array.reshape(array.shape[0], 1, 1, expected[0])
    if len(expected) == 3:
        return nchw_to_nhwc(array)
    raise UnsupportedConfigError(
        f"input '{feature.name}' has rank {len(expected)}; the emulator handles rank 1 ([C]) and 3 ([C, H, W])",
        fix="declare the input as [C] or [C, H, W]")


def backend_shape(feature: Feature) -> tuple[int, ...]:
    """The backend (H, W, C) shape of one example of a tensor feature."""
    return to_backend(np.zeros((1, *feature.shape), np.float32), feature).shape[1:]


def from_backend(array: np.ndarray, feature: Feature | None) -> np.ndarray:
    """Backend ``(N, H, W, C)`` -> Core ML layout: ``(N, C)`` for vectors, ``(N, C, H, W)`` otherwise."""
    array = np.asarray(array)
    rank = len(feature.shape) if feature is not None and feature.shape else None
    if rank == 1 and (array.shape[1] != 1 or array.shape[2] != 1):
        raise BadInputError(f"output '{feature.name}' is declared as a vector {list(feature.shape)} but the network "
                            f"produces (C, H, W) = {(array.shape[3], array.shape[1], array.shape[2])}",
                            fix="declare the output's real shape, or flatten the blob before it")
    if rank == 1 or (rank is None and array.shape[1] == 1 and array.shape[2] == 1):
        return array.reshape(array.shape[0], array.shape[3])
    return nhwc_to_nchw(array)
