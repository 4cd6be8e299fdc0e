"""Limits checked from headers before anything is read or allocated.

A file can declare what it cannot hold: an ``.npz`` header claiming 100 million images, a ``.keras``
archive whose ``config.json`` inflates to 5 GiB, an ``.mlmodel`` input of 1 x 60000 x 60000 floats. Every
reader compares the declared size with :func:`max_bytes` first and refuses with :class:`LimitError`.

The default is 4 GiB for one array, archive member or declared input batch
(:data:`DEFAULT_MAX_BYTES`); a model's config (``config.json``, an HDF5 ``model_config``) may take
1/64 of it. Raise it with the CLI's ``--max-bytes SIZE`` (e.g. ``--max-bytes 16G``), the environment
variable ``COREML_UPDATABLE_MAX_BYTES``, or :func:`set_max_bytes` in Python.

Every reader of a user's file goes through :func:`check_file` (a folder or a missing path) and, where it
reads the whole file, :func:`read_file` (the limit, the system's refusals), so all say them in one way.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterable

from .errors import BadInputError, from_os_error, out_of_memory

DEFAULT_MAX_BYTES = 4 * 2**30
ENV_VAR = "COREML_UPDATABLE_MAX_BYTES"
MAX_NESTING = 200
"""Deepest nesting of a model config (JSON) that is walked; Keras' own configs stay below 20."""

_max_bytes: int | None = None
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class LimitError(BadInputError):
    """A file declares more data than the limit allows; nothing was read or allocated."""


def parse_size(text: str) -> int:
    """'4G', '512M', '1000000' -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise BadInputError(f"'{text}' is not a size", fix="give bytes or a size such as 512M, 4G or 16G")
    value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise BadInputError(f"the size '{text}' must be positive", fix="e.g. --max-bytes 8G")
    return value


def max_bytes() -> int:
    """The limit in bytes: :func:`set_max_bytes`, else $COREML_UPDATABLE_MAX_BYTES, else 4 GiB."""
    if _max_bytes is not None:
        return _max_bytes
    env = os.environ.get(ENV_VAR)
    return parse_size(env) if env else DEFAULT_MAX_BYTES


def set_max_bytes(value: int | str | None) -> None:
    """Set the limit (bytes or '16G'); None restores the default."""
    global _max_bytes
    _max_bytes = None if value is None else (parse_size(value) if isinstance(value, str) else int(value))


def max_config_bytes() -> int:
    return max(max_bytes() // 64, 1 << 20)


def human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _fix() -> str:
    return (f"if the file is genuine and the machine has the memory, raise the limit with --max-bytes SIZE "
            f"(or ${ENV_VAR}; Python: ground.limits.set_max_bytes)")


def check_bytes(nbytes: int, what: str, *, where: str | None = None, limit: int | None = None) -> None:
    """Refuse ``nbytes`` above the limit (``limit`` or :func:`max_bytes`)."""
    limit = max_bytes() if limit is None else limit
    if nbytes > limit:
        raise LimitError(f"{what} needs {human(nbytes)}, above the limit of {human(limit)}; nothing was read",
                         where=where, fix=_fix())


def check_file(path: Path, not_a: str, *, fix: str, folder: str | None = None) -> None:
    """Refuse a folder ('is a folder, not ``not_a``', or the message ``folder``; with ``fix``) or a
    missing path ('no such file') before anything is read."""
    where = str(path)
    if path.is_dir():
        raise BadInputError(folder or f"is a folder, not {not_a}", where=where, fix=fix)
    if not path.exists():
        raise BadInputError("no such file", where=where, fix="check the path")


def read_file(path: Path, what: str, *, limit: int | None = None) -> bytes:
    """The bytes of a file, refused above the limit (``limit`` or :func:`max_bytes`) before it is read, or
    when the system refuses ('cannot read ``what``: permission denied') or memory runs out."""
    try:
        check_bytes(path.stat().st_size, what, where=str(path), limit=limit)
        return path.read_bytes()
    except OSError as exc:
        raise from_os_error(exc, where=str(path), doing=f"cannot read {what}") from None
    except MemoryError:
        raise out_of_memory(f"reading {what}") from None


def nbytes_of(shape: Iterable[int], itemsize: int) -> int:
    """Bytes an array of ``shape`` takes (exact integers: no overflow)."""
    return math.prod(int(d) for d in shape) * int(itemsize)


def check_shape(shape: Iterable[int], itemsize: int, what: str, *, where: str | None = None) -> None:
    """Refuse an array of ``shape`` x ``itemsize`` bytes above the limit, before it is allocated."""
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise BadInputError(f"{what} declares a negative dimension {shape}", where=where,
                            fix="check that the file is not corrupt")
    check_bytes(nbytes_of(shape, itemsize), f"{what} of shape {shape}", where=where)


def check_declared_inputs(spec, *, where: str | None = None) -> None:
    """Refuse a Core ML spec whose declared inputs (one example each, as float32) exceed the limit,
    before a runtime allocates them (e.g. a 1 x 60000 x 60000 multi-array: 13.4 GiB)."""
    for fd in list(spec.description.input) + list(spec.description.trainingInput):
        kind = fd.type.WhichOneof("Type")
        if kind == "multiArrayType":
            shape = tuple(fd.type.multiArrayType.shape)
        elif kind == "imageType":
            shape = (3, fd.type.imageType.height, fd.type.imageType.width)
        else:
            continue
        check_shape(shape, 4, f"input '{fd.name}' (one example, float32)", where=where)
