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
    shape: tuple[int, ...] = ()   # as declared, no batch axis (multiArray, image as (C, H, W))
    dtype: str = "float32"
    net_shape: tuple[int, ...] | None = None
    """The blob the network sees, ``(C,)`` or ``(C, H, W)``, when it differs from ``shape``: an
    EXACT_ARRAY_MAPPING feature ``[1, C, H, W]`` / ``[1, 1, C, H, W]`` (the leading 1s are Core ML's
    batch and sequence axes of one example)."""

    @property
    def is_tensor(self) -> bool:
        return self.kind in ("multiArray", "image")

    @property
    def blob_shape(self) -> tuple[int, ...]:
        """The network's view of one example: ``(C,)`` or ``(C, H, W)``."""
        return self.net_shape if self.net_shape is not None else self.shape


_ARRAY_DTYPES = {65568: "float32", 65600: "float64", 131104: "int32", 65552: "float16"}


def describe(fd: Any, *, exact: bool = False) -> Feature:
    """A :class:`Feature` from a ``FeatureDescription`` message; ``exact``: a network input or output under
    EXACT_ARRAY_MAPPING (declared ranks are the blobs' ranks)."""
    kind = fd.type.WhichOneof("Type")
    if kind == "multiArrayType":
        t = fd.type.multiArrayType
        shape = tuple(int(s) for s in t.shape)
        if not shape and t.WhichOneof("ShapeFlexibility") == "enumeratedShapes":
            shape = tuple(int(s) for s in t.enumeratedShapes.shapes[0].shape)
        net = _exact_blob_shape(fd.name, shape) if exact else None
        return Feature(fd.name, "multiArray", shape, _ARRAY_DTYPES.get(t.dataType, "float32"), net)
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


def _exact_blob_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """``(C,)`` or ``(C, H, W)`` of an EXACT_ARRAY_MAPPING feature ``[1, C, H, W]`` or ``[1, 1, C, H, W]``
    (None for other shapes)."""
    if len(shape) in (4, 5) and all(s == 1 for s in shape[:-3]):
        c, h, w = shape[-3:]
        return (c,) if h == w == 1 else (c, h, w)
    return None


def check_exact_input(feature: Feature) -> None:
    """Refuse an EXACT_ARRAY_MAPPING model input the emulator cannot lay out as ``(C, H, W)``."""
    if feature.kind == "multiArray" and feature.net_shape is None and feature.shape:
        raise UnsupportedConfigError(
            f"input '{feature.name}' is declared {list(feature.shape)} with EXACT_ARRAY_MAPPING; the emulator runs "
            "rank-4 [1, C, H, W] and rank-5 [1, 1, C, H, W] inputs there (Core ML's convolution, pooling, flatten "
            "and softmax need rank 3 or more)", where=f"input '{feature.name}'",
            fix="declare the input as [1, C, H, W] (a vector: [1, C, 1, 1])")


def to_backend(array: np.ndarray, feature: Feature) -> np.ndarray:
    """Core ML layout ``(N, *shape)`` -> backend ``(N, H, W, C)`` float32, after checking the shape.

    An EXACT_ARRAY_MAPPING feature ``[1, C, H, W]`` also takes ``(N, C, H, W)`` (or ``(N, C)``)."""
    array = np.asarray(array)
    if feature.net_shape is not None:
        declared = feature.shape
        if array.ndim == len(declared) + 1 and tuple(array.shape[1:]) == declared:
            array = array.reshape((len(array), *feature.net_shape))
        elif array.ndim == len(declared) and tuple(array.shape) == declared:
            array = array.reshape((1, *feature.net_shape))
        feature = Feature(feature.name, feature.kind, feature.net_shape, feature.dtype)
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
    return to_backend(np.zeros((1, *feature.blob_shape), np.float32), feature).shape[1:]


def from_backend(array: np.ndarray, feature: Feature | None) -> np.ndarray:
    """Backend ``(N, H, W, C)`` -> Core ML layout: ``(N, C)`` for vectors, ``(N, C, H, W)`` otherwise
    (also for outputs declared with leading 1s under EXACT_ARRAY_MAPPING)."""
    array = np.asarray(array)
    if feature is not None and feature.net_shape is not None:
        # an EXACT_ARRAY_MAPPING output [1, K, 1, 1] / [1, C, H, W]: Core ML hands one such array per
        # example; batched here as (N, K) / (N, C, H, W), the one layout of every output
        flat = from_backend(array, Feature(feature.name, feature.kind, feature.net_shape, feature.dtype))
        return flat.reshape(len(flat), *feature.shape)     # as declared, batch first: (N, 1, K, 1, 1)
    rank = len(feature.shape) if feature is not None and feature.shape else None
    if rank == 1 and (array.shape[1] != 1 or array.shape[2] != 1):
        raise BadInputError(f"output '{feature.name}' is declared as a vector {list(feature.shape)} but the network "
                            f"produces (C, H, W) = {(array.shape[3], array.shape[1], array.shape[2])}",
                            fix="declare the output's real shape, or flatten the blob before it")
    if rank == 1 or (rank is None and array.shape[1] == 1 and array.shape[2] == 1):
        return array.reshape(array.shape[0], array.shape[3])
    return nhwc_to_nchw(array)
