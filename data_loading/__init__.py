"""Image classification data sets (MNIST and its kin) and their layout for each side.

Sources (:func:`load`):

- a Keras-layout ``.npz`` (``x_train, y_train, x_test, y_test``), e.g. ``../shared/data/mnist/mnist.npz``;
- a folder of IDX files, gzipped or not: ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]`` (the official MNIST / Fashion-MNIST
  files; Debian's ``dataset-fashion-mnist`` package installs them under ``/usr/share/datasets/fashion-mnist``);
- ``keras:mnist`` / ``keras:fashion_mnist``: Keras' own loader (its cache, or a download).

Images stay uint8 until a side asks for them: :func:`for_coreml` scales to [0, 1] and lays them out
as a Core ML input (``(N, C, H, W)`` or ``(N, D)``), :func:`for_keras` as ``(N, H, W, C)``.
"""
from __future__ import annotations

import gzip
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ground import limits
from ground.errors import BadInputError, from_os_error, out_of_memory
from ground.layout import nhwc_to_nchw

log = logging.getLogger(__name__)

ENV_VAR = "COREML_UPDATABLE_DATA"
"""An environment variable naming the data set, for commands run without ``--data``."""

EXPECTED_MNIST = "../shared/data/mnist/mnist.npz"
"""Where the README's commands expect MNIST: ``shared/`` beside the clone (as in CI)."""

HOW_TO_GET = (f"the README's commands expect MNIST at {EXPECTED_MNIST} (a 'shared' folder beside the clone); "
              f"pass --data PATH or set {ENV_VAR}=PATH to a Keras-layout .npz (x_train, y_train, x_test, y_test) "
              "or a folder of IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
              "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), e.g. /usr/share/datasets/fashion-mnist "
              "after 'apt-get install dataset-fashion-mnist'")


def default_source() -> str | None:
    """The data set named by ``$COREML_UPDATABLE_DATA``, if set."""
    return os.environ.get(ENV_VAR) or None


KERAS_SETS = ("mnist", "fashion_mnist")
IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass
class Dataset:
    x_train: np.ndarray   # (N, H, W) or (N, H, W, C) uint8
    y_train: np.ndarray   # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    class_names: list[str] | None = None   # an image folder's class sub-folders, in label-index order

    def limit(self, n: int | None) -> "Dataset":
        """The first ``n`` training examples (the test split is kept whole)."""
        if n is None:
            return self
        if n <= 0:
            raise BadInputError(f"--limit must be positive, got {n}", fix="pass a positive number of examples")
        return Dataset(self.x_train[:n], self.y_train[:n], self.x_test, self.y_test, self.source, self.class_names)

    @property
    def num_classes(self) -> int:
        """Number of classes (largest label + 1 over both splits)."""
        return int(max(self.y_train.max(initial=0), self.y_test.max(initial=0))) + 1


def load(source: str | Path) -> Dataset:
    """Load a data set from an ``.npz`` path, a folder of IDX files, or ``keras:NAME``."""
    text = str(source)
    if text.startswith("keras:"):
        return _load_keras(text.split(":", 1)[1])
    path = Path(source)
    if not path.exists():
        shown = str(path) if path.is_absolute() else f"{path} (that is, {path.absolute()})"
        raise BadInputError("no such data file or folder", where=shown, fix=HOW_TO_GET)
    if path.is_dir():
        if any(p.is_dir() for p in path.iterdir()) and not any((path / n).exists() for n in IDX_FILES.values()):
            return load_image_folder(path)
        return _load_idx_folder(path)
    return _load_npz(path)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def read_images(paths: list[Path]) -> np.ndarray:
    """Image files as one uint8 array: ``(N, H, W)`` when all are grayscale, else ``(N, H, W, 3)`` RGB."""
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for p in paths:
        try:
            with Image.open(p) as im:
                arrays.append(im.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise BadInputError(f"not a readable image ({exc})", where=str(p),
                                fix="pass PNG or JPEG files") from None
    gray = all(im.mode in ("L", "1", "I;16") for im in arrays)
    out = [np.asarray(im.convert("L" if gray else "RGB"), dtype=np.uint8) for im in arrays]
    sizes = sorted({a.shape[:2] for a in out})
    if len(sizes) > 1:
        raise BadInputError(f"the images have different sizes {sizes[:4]}", where=str(paths[0].parent),
                            fix="resize them to the model's input size")
    return np.stack(out) if out else np.zeros((0, 0, 0), np.uint8)


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder, sorted by name."""
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: p.name)


def load_image_folder(folder: Path) -> Dataset:
    """A data set from one sub-folder per class (``DIR/<label>/*.png``, as Create ML takes them), or from
    ``DIR/train/<label>/`` and ``DIR/test/<label>/``. Labels: the folder names (whole numbers are class
    indices); without a test split, the test split is the training images."""
    splits = {name: folder / name for name in ("train", "test") if (folder / name).is_dir()}
    if set(splits) != {"train", "test"}:
        splits = {"train": folder}
    classes = sorted({d.name for root in splits.values() for d in root.iterdir() if d.is_dir()})
    if not classes:
        raise BadInputError("the folder holds no class sub-folders", where=str(folder),
                            fix="put each class's images in a sub-folder named after the class: DIR/<label>/*.png")
    numeric = all(c.isdigit() for c in classes)
    index = {c: int(c) if numeric else i for i, c in enumerate(sorted(classes, key=lambda c: (len(c), c)
                                                                       if numeric else c))}
    parts = {}
    for split, root in splits.items():
        paths, labels = [], []
        for c in classes:
            files = image_files(root / c) if (root / c).is_dir() else []
            paths += files
            labels += [index[c]] * len(files)
        if not paths:
            raise BadInputError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the class folders",
                                where=str(root), fix="put PNG or JPEG images in DIR/<label>/")
        parts[split] = (read_images(paths), np.asarray(labels, np.int64))
    x_train, y_train = parts["train"]
    x_test, y_test = parts.get("test", parts["train"])
    names = None if numeric else sorted(classes)
    where = str(folder) + ("" if "test" in parts else " (no test split: tested on the training images)")
    log.info("loaded %s: %d train, %d test images of %s", where, len(x_train), len(x_test), x_train.shape[1:])
    return Dataset(x_train, y_train, x_test, y_test, where, names)


def source_files(source: str | Path) -> list[Path]:
    """The files :func:`load` reads for ``source`` (so that no output overwrites one of them)."""
    path = Path(str(source))
    if str(source).startswith("keras:") or not path.exists():
        return []
    if path.is_dir():
        return [folder_file for stem in IDX_FILES.values() for name in (stem, stem + ".gz")
                if (folder_file := path / name).exists()]
    return [path]


NPY_MAGIC = b"\x93NUMPY"
_KINDS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"PK\x03\x04": "a zip archive (.npz?)", b"\x1f\x8b": "a gzip file", b"\x89HDF": "an HDF5 file",
          b"%PDF": "a PDF file"}


def file_kind(head: bytes) -> str | None:
    """What a file is, from its first bytes (None when unknown)."""
    if head.startswith(NPY_MAGIC):
        return "a .npy array"
    return next((kind for magic, kind in _KINDS.items() if head.startswith(magic)), None)


def _head(path: Path, n: int = 16) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise from_os_error(exc, where=str(path), doing="cannot read the file") from None


def npy_header(fh, size: int, what: str, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Read a .npy header from ``fh`` (``size`` bytes in all) and check it before any data is read:
    numeric dtype, data present in full, size under the limit. Returns (shape, dtype, header bytes)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, SyntaxError, TypeError) as exc:
        raise BadInputError(f"{what} has no readable .npy header ({str(exc).splitlines()[0] if str(exc) else exc})",
                            where=where, fix="save the array with numpy.save / numpy.savez") from None
    check_numeric_dtype(dtype, what, where=where)
    offset = fh.tell()
    needed = limits.nbytes_of(shape, dtype.itemsize)
    if offset + needed > size:
        raise BadInputError(f"{what} declares shape {tuple(shape)} ({limits.human(needed)}) but holds only "
                            f"{limits.human(max(size - offset, 0))} of data (truncated or corrupt)", where=where,
                            fix="re-create the file with numpy.save / numpy.savez")
    limits.check_shape(shape, dtype.itemsize, what, where=where)
    return tuple(int(d) for d in shape), dtype, offset


def check_numeric_dtype(dtype: np.dtype, what: str, *, where: str | None = None) -> None:
    """Refuse arrays of strings, objects, complex numbers, dates, records: images and inputs are numbers."""
    if np.dtype(dtype).kind not in "biuf":
        raise BadInputError(f"{what} holds {np.dtype(dtype)} values ({_KIND_NAMES.get(np.dtype(dtype).kind, 'not numbers')}); "
                            "only real numbers (integers, floats) are accepted", where=where,
                            fix="convert the array to numbers, e.g. array.astype('float32'), before saving it")


_KIND_NAMES = {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers", "V": "records",
               "M": "dates", "m": "time spans"}


def load_array(path: str | Path, what: str = "the input") -> np.ndarray:
    """One ``.npy`` array, checked from its header first (kind of file, dtype, size, limit)."""
    path = Path(path)
    where = str(path)
    limits.check_file(path, "a .npy file", fix="save the batch with numpy.save")
    head = _head(path)
    if not head:
        raise BadInputError("the file is empty, not a .npy array", where=where, fix="save the batch with numpy.save")
    kind = file_kind(head)
    if kind != "a .npy array":
        if kind and kind.startswith("a zip"):
            raise BadInputError(f"is an .npz archive, not a .npy array; {what} is one array", where=where,
                                fix="save one array with numpy.save('x.npy', array), or take it out of the .npz")
        raise BadInputError(f"is {kind or 'not a .npy file'}, not a .npy array", where=where,
                            fix="save the batch with numpy.save('x.npy', array)")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            npy_header(fh, size, what, where)
        return np.load(path, allow_pickle=False)
    except OSError as exc:
        raise from_os_error(exc, where=where, doing="cannot read the file") from None
    except MemoryError:
        raise out_of_memory(f"reading {where}") from None
    except (ValueError, EOFError) as exc:
        raise BadInputError(f"cannot read the .npy array ({exc})", where=where,
                            fix="save the batch with numpy.save") from None


def check_values(x: np.ndarray, what: str, *, allow_nonfinite: bool = False, where: str | None = None) -> None:
    """Refuse empty or non-numeric data, and NaN / inf values unless ``allow_nonfinite``."""
    check_numeric_dtype(x.dtype, what, where=where)
    if x.ndim == 0 or len(x) == 0:
        raise BadInputError(f"{what} is empty (shape {tuple(x.shape)}): nothing to run", where=where,
                            fix="pass at least one example")
    if x.dtype.kind == "f" and not allow_nonfinite:
        bad = ~np.isfinite(x)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), x.shape)
            raise BadInputError(f"{what} holds {int(bad.sum())} NaN or infinite value(s), the first at index "
                                f"{tuple(int(i) for i in first)}", where=where,
                                fix="clean the data, or pass --allow-nonfinite to run on them anyway")


def _load_npz(path: Path) -> Dataset:
    head = _head(path)
    if not head.startswith(b"PK"):
        what = f"it is {file_kind(head)}" if file_kind(head) else "no zip archive"
        raise BadInputError(f"not a readable .npz file ({what})", where=str(path), fix=HOW_TO_GET)
    _check_npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise BadInputError(f"the .npz lacks arrays {missing}", where=str(path), fix=HOW_TO_GET)
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except OSError as exc:
        raise from_os_error(exc, where=str(path), doing="cannot read the data") from None
    except MemoryError:
        raise out_of_memory(f"reading {path}") from None
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, NotImplementedError) as exc:
        raise BadInputError(f"not a readable .npz file ({exc})", where=str(path), fix=HOW_TO_GET) from None
    return _checked(arrays, str(path))


def _check_npz_headers(path: Path) -> None:
    """Each array's header (dtype, shape, size) against its member and the limit, before reading any."""
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if key not in IDX_FILES:
                    continue
                with zf.open(info) as fh:
                    shape, dtype, _ = npy_header(fh, info.file_size, f"array '{key}'", where)
                total += limits.nbytes_of(shape, dtype.itemsize)
            limits.check_bytes(total, "the data set's arrays together", where=where)
    except OSError as exc:
        raise from_os_error(exc, where=where, doing="cannot read the data") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise BadInputError(f"not a readable .npz file ({exc})", where=where, fix=HOW_TO_GET) from None


def _load_idx_folder(folder: Path) -> Dataset:
    arrays, missing = {}, []
    for key, stem in IDX_FILES.items():
        found = [folder / name for name in (stem, stem + ".gz") if (folder / name).is_file()]
        if not found:
            missing.append(stem + "[.gz]")
            continue
        arrays[key] = read_idx(found[0])
    if missing:
        raise BadInputError(f"the folder lacks IDX files {missing}", where=str(folder), fix=HOW_TO_GET)
    for key in ("y_train", "y_test"):
        if arrays[key].ndim != 1:
            raise BadInputError(f"{IDX_FILES[key]} holds an array of shape {arrays[key].shape}, not labels",
                                where=str(folder), fix=HOW_TO_GET)
    return _checked(arrays, str(folder))


def read_idx(path: Path) -> np.ndarray:
    """Decode one IDX file (the MNIST format: 0, 0, dtype code, rank, big-endian int32 dims, data); the
    header is checked against the file and the limit before the data is read."""
    where = str(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            magic = fh.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES or magic[3] == 0:
                raise BadInputError("not an IDX file (bad magic number)", where=where, fix=HOW_TO_GET)
            rank = magic[3]
            dims_raw = fh.read(4 * rank)
            if len(dims_raw) < 4 * rank:
                raise BadInputError("truncated IDX header", where=where, fix=HOW_TO_GET)
            dims = tuple(int(d) for d in np.frombuffer(dims_raw, ">u4", rank))
            dtype = np.dtype(_IDX_DTYPES[magic[2]])
            expected = limits.nbytes_of(dims, dtype.itemsize)
            limits.check_shape(dims, dtype.itemsize, "the IDX array", where=where)
            raw = fh.read(expected + 1)
    except OSError as exc:
        if isinstance(exc, gzip.BadGzipFile):
            raise BadInputError(f"cannot read the IDX file: not a gzip file ({exc})", where=where,
                                fix=HOW_TO_GET) from None
        raise from_os_error(exc, where=where, doing="cannot read the IDX file") from None
    except (EOFError, zlib.error) as exc:
        raise BadInputError(f"cannot read the IDX file ({exc}): truncated or corrupt", where=where,
                            fix=HOW_TO_GET) from None
    if len(raw) != expected:
        raise BadInputError(f"the IDX file holds {'more than ' if len(raw) > expected else ''}{len(raw)} data bytes "
                            f"but its header {dims} needs {expected} (truncated or corrupt)", where=where,
                            fix=HOW_TO_GET)
    return np.frombuffer(raw, dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _load_keras(name: str) -> Dataset:
    if name not in KERAS_SETS:
        raise BadInputError(f"unknown Keras data set '{name}'", where=f"keras:{name}",
                            fix="use keras:mnist or keras:fashion_mnist, or " + HOW_TO_GET)
    import keras

    loader = getattr(keras.datasets, name).load_data
    try:
        (x_train, y_train), (x_test, y_test) = loader()
    except Exception as exc:  # Keras' downloader raises a plain Exception on network errors
        raise BadInputError(
            f"Keras could not load '{name}' (no cached copy and no download: {exc})", where=f"keras:{name}",
            fix="run where the network is reachable once (Keras caches it under ~/.keras/datasets), or "
                + HOW_TO_GET) from None
    return _checked({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
                    f"keras:{name}")


def _checked(a: dict, where: str) -> Dataset:
    for split in ("train", "test"):
        x, y = a[f"x_{split}"], a[f"y_{split}"]
        if len(x) != len(y):
            raise BadInputError(f"x_{split} has {len(x)} images but y_{split} has {len(y)} labels",
                                where=where, fix="use a data set with one label per image")
        if x.ndim not in (3, 4):
            raise BadInputError(f"x_{split} has shape {x.shape}; expected (N, H, W) or (N, H, W, C)",
                                where=where, fix=HOW_TO_GET)
        if len(x) == 0:
            raise BadInputError(f"x_{split} is empty", where=where, fix=HOW_TO_GET)
        check_numeric_dtype(x.dtype, f"x_{split}", where=where)
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise BadInputError(f"y_{split} must hold class indices (non-negative integers), got {y.dtype}",
                                where=where, fix="store labels as class indices 0..K-1, not one-hot rows")
    if a["x_train"].shape[1:] != a["x_test"].shape[1:]:
        raise BadInputError(f"train images {a['x_train'].shape[1:]} and test images {a['x_test'].shape[1:]} "
                            "differ in size", where=where, fix=HOW_TO_GET)
    log.info("loaded %s: %d train, %d test images of %s", where, len(a["x_train"]), len(a["x_test"]),
             a["x_train"].shape[1:])
    return Dataset(a["x_train"], a["y_train"].astype(np.int64).ravel(), a["x_test"],
                   a["y_test"].astype(np.int64).ravel(), where)


def _scaled(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    return images.astype(np.float32)


def for_coreml(images: np.ndarray, shape: tuple[int, ...], *, image: bool = False) -> np.ndarray:
    """Images in a Core ML input layout ``shape`` (``(C, H, W)``, ``(D,)``, or either with leading 1s as
    EXACT_ARRAY_MAPPING declares them), batch first. Array inputs take them scaled to [0, 1]; an image
    input (``image=True``) takes the 0-255 pixel values themselves, as Core ML feeds an image through the
    model's own preprocessing."""
    shape = tuple(int(s) for s in shape)
    core = shape
    while len(core) > 3 and core[0] == 1:
        core = core[1:]
    if len(core) == 3 and core[1:] == (1, 1) and len(shape) > 3:
        core = core[:1]
    x = np.asarray(images).astype(np.float32) if image else _scaled(images)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W, 1)
    n = len(x)
    if len(core) == 3:
        chw = nhwc_to_nchw(x)
        if chw.shape[1:] != tuple(core):
            raise BadInputError(f"images of shape {chw.shape[1:]} (C, H, W) do not fit the model input {tuple(core)}",
                                fix="use data with the model's input size")
        return np.ascontiguousarray(chw.reshape((n, *shape)))
    if len(core) == 1:
        if x[0].size != core[0]:
            raise BadInputError(f"images with {x[0].size} values do not fit the model input ({core[0]},)",
                                fix="use data with the model's input size")
        return x.reshape((n, *shape))
    if x[0].size == int(np.prod(shape)):      # e.g. (28, 28) images into a [1, 28, 28] sequence input
        return np.ascontiguousarray(x[..., 0].reshape((n, *shape)) if x.shape[-1] == 1 else x.reshape((n, *shape)))
    raise BadInputError(f"model input shape {shape} is not an image layout", fix="use a model with an image input")


def for_keras(images: np.ndarray, input_shape: tuple[int, ...] | None = None, *, raw: bool = False) -> np.ndarray:
    """Images scaled to [0, 1] (``raw``: their 0-255 values) as ``(N, H, W, C)`` (or reshaped to a Keras
    ``input_shape``)."""
    x = np.asarray(images).astype(np.float32) if raw else _scaled(images)
    if x.ndim == 3:
        x = x[..., None]
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        if int(np.prod(x.shape[1:])) != int(np.prod(input_shape)):
            raise BadInputError(f"images of shape {x.shape[1:]} do not fit the Keras input {tuple(input_shape)}",
                                fix="use data with the model's input size")
        x = x.reshape((len(x), *input_shape))
    return x
