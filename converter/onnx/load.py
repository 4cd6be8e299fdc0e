"""Load an ONNX model safely: file kind, ``onnx.checker``, opset range, external data inside the folder."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ground import limits
from ground.errors import BadInputError, UnsupportedModelError, from_os_error, out_of_memory

log = logging.getLogger(__name__)

MIN_OPSET = 11
DEFAULT_DOMAINS = ("", "ai.onnx")


def max_opset() -> int:
    """The newest default-domain opset the installed ``onnx`` package knows."""
    import onnx

    return int(onnx.defs.onnx_opset_version())


def load_model(source: Any) -> tuple[Any, str]:
    """``(ModelProto, origin)`` from a path or a ``ModelProto``, checked; external data loaded safely."""
    import onnx
    from google.protobuf.message import DecodeError

    if isinstance(source, onnx.ModelProto):
        model, origin, folder = source, "", None
    else:
        path = Path(source)
        origin = str(path)
        limits.check_file(path, "an ONNX model file", fix="pass the .onnx file")
        try:
            limits.check_bytes(path.stat().st_size, "the ONNX file", where=origin)
            model = onnx.load_model(str(path), load_external_data=False)
        except OSError as exc:
            raise from_os_error(exc, where=origin, doing="cannot read the model") from None
        except MemoryError:
            raise out_of_memory(f"{origin}: reading the model") from None
        except RecursionError:
            raise BadInputError("the model's messages are nested too deeply to be an ONNX model", where=origin,
                                fix="pass a .onnx file saved by an ONNX exporter") from None
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise BadInputError(f"not an ONNX model file, or a truncated/corrupt one ({type(exc).__name__})",
                                where=origin, fix="pass a .onnx file saved by an ONNX exporter") from None
        if not model.HasField("graph") or not model.opset_import:
            raise BadInputError("not an ONNX model file (no graph or no opset)", where=origin,
                                fix="pass a .onnx file saved by an ONNX exporter")
        folder = path.resolve().parent
    _check_text(model, origin or "ONNX model")
    external = _external_tensors(model)
    if external:
        if folder is None:
            raise BadInputError(f"the in-memory model refers to external data files ({', '.join(external)})",
                                where="ONNX model", fix="load it with onnx.load(path) first, or pass the path")
        _load_external(model, folder, origin)
    _check(model, origin or "ONNX model")
    return model, origin


def _external_tensors(model: Any) -> list[str]:
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    return [t.name for t in _get_all_tensors(model) if uses_external_data(t)]


def _load_external(model: Any, folder: Path, origin: str) -> None:
    """Read external tensors, refusing any location that leaves the model's folder (or is a link out)."""
    from onnx.external_data_helper import (
        ExternalDataInfo,
        _get_all_tensors,
        load_external_data_for_tensor,
        uses_external_data,
    )

    for tensor in _get_all_tensors(model):
        if not uses_external_data(tensor):
            continue
        location = ExternalDataInfo(tensor).location
        target = (folder / location).resolve()
        if os.path.isabs(location) or not target.is_relative_to(folder):
            raise BadInputError(
                f"tensor '{tensor.name}' keeps its data at '{location}', outside the model's folder; "
                "it is not read", where=origin,
                fix="keep external data files next to the model (relative paths inside its folder)")
        if not target.is_file():
            raise BadInputError(f"tensor '{tensor.name}': external data file '{location}' is missing",
                                where=origin, fix="copy the data file next to the model")
        _check_external_size(tensor, target, origin)
        try:
            load_external_data_for_tensor(tensor, str(folder))
        except OSError as exc:
            raise from_os_error(exc, where=str(target), doing=f"cannot read tensor '{tensor.name}'") from None
        tensor.data_location = 0  # DEFAULT: the data is in the proto now
        del tensor.external_data[:]


def _check_external_size(tensor: Any, target: Path, origin: str) -> None:
    """The external bytes a tensor needs (its dims, or its 'length') must be in the file, under the limit."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo

    info = ExternalDataInfo(tensor)
    offset = int(info.offset or 0)
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        raise BadInputError(f"tensor '{tensor.name}' has an unknown data type {tensor.data_type}", where=origin,
                            fix="re-export the model") from None
    needed = limits.nbytes_of(tensor.dims, itemsize)
    if info.length and int(info.length) != needed:
        raise BadInputError(f"tensor '{tensor.name}': its external data length {info.length} does not match its "
                            f"shape {tuple(tensor.dims)} ({needed} bytes)", where=origin, fix="re-export the model")
    limits.check_bytes(needed, f"tensor '{tensor.name}'", where=origin)
    available = target.stat().st_size - offset
    if available < needed:
        raise BadInputError(f"tensor '{tensor.name}' needs {needed} bytes from '{ExternalDataInfo(tensor).location}' "
                            f"at offset {offset}, but the file holds {max(available, 0)} (truncated)", where=origin,
                            fix="copy the complete external data file next to the model")


def _check_text(model: Any, where: str) -> None:
    """Every string field (names, doc strings) must be UTF-8: proto2 parsing hands invalid ones back as
    bytes, which would break every later use of the name."""
    from google.protobuf.message import Message

    string = 9     # FieldDescriptor.TYPE_STRING
    stack = [model]
    while stack:
        message = stack.pop()
        for field, value in message.ListFields():
            values = [value] if isinstance(value, (str, bytes, int, float, Message)) else list(value)
            if field.type == string and any(isinstance(v, bytes) for v in values):
                raise BadInputError(f"a {field.name} in the model is not valid UTF-8 text; the file is corrupt",
                                    where=where, fix="re-export or re-download the model")
            stack.extend(v for v in values if isinstance(v, Message))


def _check(model: Any, where: str) -> None:
    import onnx

    opset = default_opset(model)
    if opset is None:
        raise BadInputError("the model imports no default-domain (ai.onnx) opset", where=where,
                            fix="export with a standard ONNX opset")
    newest = max_opset()
    if not MIN_OPSET <= opset <= newest:
        raise UnsupportedModelError(
            f"opset {opset} is outside the supported range {MIN_OPSET}..{newest}", where=where,
            fix=f"re-export the model with an opset between {MIN_OPSET} and {newest}, or upgrade it with "
                "onnx.version_converter.convert_version(model, 13)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = " ".join(str(exc).split()) or "invalid graph"     # its message spans lines
        raise BadInputError(f"onnx.checker rejects the model: {first}", where=where,
                            fix="re-export the model, or repair it so that onnx.checker.check_model accepts it"
                            ) from None


def default_opset(model: Any) -> int | None:
    for imp in model.opset_import:
        if imp.domain in DEFAULT_DOMAINS:
            return int(imp.version)
    return None
