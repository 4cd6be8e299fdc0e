"""Import coremltools' protobuf modules quietly.

Importing coremltools on Linux logs '_MLModelProxy' warnings (its native runtime is macOS-only);
they are noise for this project, which never calls Core ML's own prediction.
"""
from __future__ import annotations

import logging

_ct_logger = logging.getLogger("coremltools")
_previous = _ct_logger.level
_ct_logger.setLevel(logging.ERROR)
try:
    import coremltools  # noqa: F401  (imported for its side effect of loading the protos)
    from coremltools.proto import FeatureTypes_pb2, Model_pb2, NeuralNetwork_pb2  # noqa: F401
finally:
    _ct_logger.setLevel(_previous)

__all__ = ["coremltools", "Model_pb2", "NeuralNetwork_pb2", "FeatureTypes_pb2"]
