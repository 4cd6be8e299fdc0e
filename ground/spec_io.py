"""Reading Core ML specs from anything a user holds, and writing them atomically."""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import limits
from .errors import BadInputError, UnsupportedModelError, from_os_error, out_of_memory
from google.protobuf.message import DecodeError

if TYPE_CHECKING:
    from .protos import Model_pb2

NEURAL_NETWORK_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")


def read_spec(source: Any) -> Model_pb2.Model:
    """Return a Core ML ``Model`` spec from a path, bytes, a spec, or a coremltools ``MLModel``.

    The spec is a private copy: callers may change it freely.
    """
    from .protos import Model_pb2   # coremltools' protos (and TensorFlow): only when a spec is read

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
        limits.check_file(path, "an .mlmodel file", folder="is a folder (an .mlpackage or compiled .mlmodelc?), "
                          "not an .mlmodel file; updatable models are NeuralNetwork .mlmodel files",
                          fix="pass the .mlmodel file; convert ML Programs with this project's converter instead")
        data = limits.read_file(path, "the model file")
    else:
        raise BadInputError(f"cannot read a Core ML model from a {type(source).__name__}",
                            fix="pass a path, bytes, a Model spec or a coremltools MLModel")
    if not data:
        raise BadInputError("the file is empty, not a Core ML model", where=where,
                            fix="re-export or re-download the model")
    try:
        spec.ParseFromString(data)
    except MemoryError:
        raise out_of_memory(f"{where}: parsing the model") from None
    except RecursionError:
        raise BadInputError("the model's messages are nested too deeply to be a Core ML model", where=where,
                            fix="check that this is a complete .mlmodel file") from None
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
    """Refuse, before any work, an output path that is one of the inputs (also through links), a folder,
    in a missing or unwritable folder, or (without ``force``) an existing file.

    ``sources``: the files the command reads (a path or several)."""
    path = Path(output)
    for source in _paths(sources):
        if _same_file(path, source):
            raise BadInputError(f"the output path is an input of this command ({source}); it would be overwritten",
                                where=str(path), fix="write the result to another path")
    if path.is_dir():
        raise BadInputError("the output path is a folder", where=str(path), fix="give a file path")
    if path.exists() and not force:
        raise BadInputError("the output file exists", where=str(path),
                            fix="choose another path or pass --force (Python: force=True)")
    parent = path.parent if str(path.parent) else Path(".")
    check_folder(parent)
    return path


def check_folder(folder: str | os.PathLike, *, create: bool = False) -> Path:
    """Refuse an output folder that is a file, missing (unless ``create``: then its nearest existing
    ancestor must be a folder) or not writable; before any work starts."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadInputError("the output folder is an existing file, not a folder", where=str(folder),
                            fix="give a folder path (it is created if missing)" if create else "give a folder path")
    if not folder.exists():
        if not create:
            raise BadInputError("the output folder does not exist", where=str(folder), fix="create it first")
        ancestor = folder.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise BadInputError("a part of the output folder's path is an existing file", where=str(ancestor),
                                fix="give a folder path")
        folder = ancestor
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInputError("the output folder is not writable", where=str(folder),
                            fix="choose a folder you may write to, or change its permissions")
    return Path(folder)


def _paths(sources: Any) -> list[Path]:
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if not isinstance(sources, (list, tuple, set)):
        return []
    return [Path(s) for s in sources if isinstance(s, (str, os.PathLike))]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


TEMPORARY = "{name}.partial-{pid}-{token}.tmp"
"""The atomic writer's temporary file, beside the output: recognisable, so that one left by a killed
process (SIGKILL, power loss) is removed by the next write to the same output."""


def _temporary_pattern(name: str) -> re.Pattern:
    return re.compile(re.escape(name) + r"\.partial-(\d+)-[0-9a-f]{8}\.tmp")


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    An error, Ctrl-C or SIGTERM (the CLI makes it an interrupt) at any moment leaves the old file
    (or none) and no temporary; an OS error becomes a clear :class:`SystemProblemError`.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError("the output folder does not exist", where=str(folder), fix="create it first")
    remove_stale_temporaries(path)
    # the name is known before the file exists, so the clean-up below can never miss it
    tmp = folder / TEMPORARY.format(name=path.name, pid=os.getpid(), token=secrets.token_hex(4))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # umask applies
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with _signals_held():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise from_os_error(exc, where=str(path), doing="cannot write the file") from None
        raise
    return path


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT / SIGTERM (where the OS can) while a temporary is removed."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` whose writing process no longer runs; return them."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern, removed = _temporary_pattern(path.name), []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _running(int(m.group(1))):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def save_spec(spec: Model_pb2.Model, path: str | os.PathLike) -> Path:
    """Serialize ``spec`` deterministically and write it atomically to ``path``."""
    return write_atomic(path, spec.SerializeToString(deterministic=True))
