"""Import TensorFlow and coremltools without their start-up noise on stderr.

TensorFlow's C++ runtime writes 'oneDNN custom operations are on', cpu_feature_guard and absl lines
straight to file descriptor 2 before any Python setting can stop it, and coremltools logs warnings about
its macOS-only native runtime and untested versions. :func:`import_backends` sends fd 2 to a temporary
file during those imports and replays it only if an import fails. The CLI calls it, and so do the
packages whose import loads TensorFlow (``emulator``, ``parity``, and everything that reaches
coremltools' protos), so ``import emulator, converter`` prints nothing.

The noise is kept when the user asks for it: the environment variable ``COREML_UPDATABLE_TF_LOGS=1``
(or an explicit ``TF_CPP_MIN_LOG_LEVEL``), or Python logging configured at DEBUG before the import.
Before the import it also lets :mod:`ground.kernels` pick TensorFlow's CPU kernels.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from typing import Iterator

from . import kernels

ENV = "COREML_UPDATABLE_TF_LOGS"
"""Set to 1 to see TensorFlow's and coremltools' start-up output."""

_done = False


def wanted() -> bool:
    """Whether the user asked to see the backends' start-up output."""
    if os.environ.get(ENV, "").strip().lower() not in ("", "0", "false", "no", "off"):
        return True
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ and os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("0", "1"):
        return True
    return logging.getLogger("coreml_updatable").isEnabledFor(logging.DEBUG)


@contextlib.contextmanager
def _fd2_silenced() -> Iterator[None]:
    """Send file descriptor 2 (and so sys.stderr) to a temporary file; replay it if the body raises."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:               # no fd 2 at all (a detached process): nothing to protect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_backends() -> None:
    """Import tensorflow and coremltools (with its protos) once, quietly unless :func:`wanted`."""
    global _done
    if _done:
        return
    kernels.choose()            # oneDNN's kernels where they measured faster: before TensorFlow's import
    if wanted():
        import coremltools  # noqa: F401
        import tensorflow  # noqa: F401
        _done = True
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ct_logger = logging.getLogger("coremltools")
    previous = ct_logger.level
    ct_logger.setLevel(logging.ERROR)
    try:
        with _fd2_silenced():
            import tensorflow  # noqa: F401
            import coremltools  # noqa: F401
            from coremltools.proto import Model_pb2  # noqa: F401
    finally:
        ct_logger.setLevel(previous)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    _done = True
