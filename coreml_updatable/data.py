"""Image classification data sets (MNIST and its kin) and their layout for each side.

Sources: a Keras-layout ``.npz`` (``x_train, y_train, x_test, y_test``), a folder of IDX files
(gzipped or not), or ``keras:mnist`` / ``keras:fashion_mnist`` (Keras' downloader, network needed).
Images stay uint8 until a side asks for them: :func:`for_coreml` scales to [0, 1] and lays them out
as a Core ML input (``(N, C, H, W)`` or ``(N, D)``), :func:`for_keras` as ``(N, H, W, C)``.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BadInputError

HOW_TO_GET = ("pass --data PATH: a Keras-layout .npz (x_train, y_train, x_test, y_test), e.g. "
              "../shared/data/mnist/mnist.npz, or a folder of MNIST IDX files")


@dataclass
class Dataset:
    x_train: np.ndarray   # (N, H, W) or (N, H, W, C) uint8
    y_train: np.ndarray   # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def limit(self, n: int | None) -> "Dataset":
        """The first ``n`` training examples (the test split is kept whole)."""
        if n is None:
            return self
        return Dataset(self.x_train[:n], self.y_train[:n], self.x_test, self.y_test, self.source)


def load(source: str | Path) -> Dataset:
    """Load a data set from an ``.npz`` path (IDX folders and the Keras loader: see parity issue)."""
    path = Path(source)
    if not path.exists():
        raise BadInputError("no such data file or folder", where=str(path), fix=HOW_TO_GET)
    if path.is_file():
        return _load_npz(path)
    raise BadInputError("unrecognised data source", where=str(path), fix=HOW_TO_GET)


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise BadInputError(f"the .npz lacks arrays {missing}", where=str(path), fix=HOW_TO_GET)
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise BadInputError(f"not a readable .npz file ({exc})", where=str(path), fix=HOW_TO_GET) from None
    return _checked(arrays, str(path))


def _checked(a: dict, where: str) -> Dataset:
    for split in ("train", "test"):
        x, y = a[f"x_{split}"], a[f"y_{split}"]
        if len(x) != len(y):
            raise BadInputError(f"x_{split} has {len(x)} images but y_{split} has {len(y)} labels",
                                where=where, fix="use a data set with one label per image")
        if x.ndim not in (3, 4):
            raise BadInputError(f"x_{split} has shape {x.shape}; expected (N, H, W) or (N, H, W, C)",
                                where=where, fix=HOW_TO_GET)
    return Dataset(a["x_train"], a["y_train"].astype(np.int64).ravel(), a["x_test"],
                   a["y_test"].astype(np.int64).ravel(), where)


def _scaled(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    return images.astype(np.float32)


def for_coreml(images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Images scaled to [0, 1] in a Core ML input layout ``shape`` (``(C, H, W)`` or ``(D,)``), batch first."""
    x = _scaled(images)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W, 1)
    n = len(x)
    if len(shape) == 3:
        chw = x.transpose(0, 3, 1, 2)
        if chw.shape[1:] != tuple(shape):
            raise BadInputError(f"images of shape {chw.shape[1:]} (C, H, W) do not fit the model input {tuple(shape)}",
                                fix="use data with the model's input size")
        return np.ascontiguousarray(chw)
    if len(shape) == 1:
        if x[0].size != shape[0]:
            raise BadInputError(f"images with {x[0].size} values do not fit the model input ({shape[0]},)",
                                fix="use data with the model's input size")
        return x.reshape(n, -1)
    raise BadInputError(f"model input shape {shape} is not an image layout", fix="use a model with an image input")


def for_keras(images: np.ndarray, input_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Images scaled to [0, 1] as ``(N, H, W, C)`` (or reshaped to a Keras ``input_shape``)."""
    x = _scaled(images)
    if x.ndim == 3:
        x = x[..., None]
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        x = x.reshape((len(x), *input_shape))
    return x
