"""Import TensorFlow and coremltools without their start-up noise on stderr.

TensorFlow's C++ runtime writes 'oneDNN custom operations are on' and absl warnings straight to file
descriptor 2 before any Python setting can stop it. The CLI imports the backends through
:func:`import_backends`, which sends fd 2 to a temporary file during the import and replays it only if
the import fails.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile


def import_backends() -> None:
    """Import tensorflow and coremltools' protos once, quietly."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
            from . import protos  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
