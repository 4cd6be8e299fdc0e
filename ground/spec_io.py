"""Reading Core ML specs from anything a user holds, and writing them atomically."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .protos import Model_pb2
from .errors import BadInputError, UnsupportedModelError
from google.protobuf.message import DecodeError

NEURAL_NETWORK_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")


def read_spec(source: Any) -> Model_pb2.Model:
    """Return a Core ML ``Model`` spec from a path, bytes, a spec, or a coremltools ``MLModel``.

    The spec is a private copy: callers may change it freely.
    """
    spec = Model_pb2.Model()
    if isinstance(source, Model_pb2.Model):
        spec.CopyFrom(source)
        return spec
    if hasattr(source, "get_spec") and callable(source.get_spec):  # coremltools.models.MLModel
        spec.CopyFrom(source.get_spec())
        return spec
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, where = bytes(source), "the given bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if path.is_dir():
            raise BadInputError(
                "is a folder (an .mlpackage or compiled .mlmodelc?), not an .mlmodel file; updatable models "
                "are NeuralNetwork .mlmodel files", where=where,
                fix="pass the .mlmodel file; convert ML Programs with this project's converter instead")
        if not path.exists():
            raise BadInputError("no such file", where=where, fix="check the path")
        data = path.read_bytes()
    else:
        raise BadInputError(f"cannot read a Core ML model from a {type(source).__name__}",
                            fix="pass a path, bytes, a Model spec or a coremltools MLModel")
    if not data:
        raise BadInputError("the file is empty, not a Core ML model", where=where,
                            fix="re-export or re-download the model")
    try:
        spec.ParseFromString(data)
    except DecodeError as exc:
        raise BadInputError(f"not a Core ML model, or a truncated one (protobuf: {exc})", where=where,
                            fix="check that this is a complete .mlmodel file") from None
    if spec.specificationVersion <= 0 or spec.WhichOneof("Type") is None:
        raise BadInputError("not a Core ML model (no specification version or model type)", where=where,
                            fix="check that this is an .mlmodel file")
    return spec


def model_type(spec: Model_pb2.Model) -> str:
    """The spec's model type, refused unless it is one of the three NeuralNetwork types."""
    kind = spec.WhichOneof("Type")
    if kind not in NEURAL_NETWORK_TYPES:
        raise UnsupportedModelError(
            f"model type '{kind}' is not supported; the runtime handles {', '.join(NEURAL_NETWORK_TYPES)}",
            fix="convert the source model with 'coreml-updatable convert' (ML Programs cannot be updatable)")
    return kind


def network_of(spec: Model_pb2.Model):
    """The NeuralNetwork / NeuralNetworkClassifier / NeuralNetworkRegressor message of a spec."""
    return getattr(spec, model_type(spec))


def check_output(output: str | os.PathLike, sources: Any = None, *, force: bool = False) -> Path:
    """Refuse an output path that is a source file, a folder, in a missing folder, or (without
    ``force``) an existing file. ``sources``: a path, several, or anything else (ignored)."""
    path = Path(output)
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    for source in sources if isinstance(sources, (list, tuple)) else []:
        if isinstance(source, (str, os.PathLike)) and _same_file(path, Path(source)):
            raise BadInputError("the output path is the source model file", where=str(path),
                                fix="write the result to another path")
    if path.is_dir():
        raise BadInputError("the output path is a folder", where=str(path), fix="give a file path")
    if path.exists() and not force:
        raise BadInputError("the output file exists", where=str(path),
                            fix="choose another path or pass --force (Python: force=True)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BadInputError("the output folder does not exist", where=str(parent), fix="create it first")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A crash or an error never leaves a half-written file at ``path``.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError("the output folder does not exist", where=str(folder), fix="create it first")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes 0600; a saved model is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_spec(spec: Model_pb2.Model, path: str | os.PathLike) -> Path:
    """Serialize ``spec`` deterministically and write it atomically to ``path``."""
    return write_atomic(path, spec.SerializeToString(deterministic=True))
