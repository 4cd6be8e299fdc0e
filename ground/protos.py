"""Import coremltools' protobuf modules quietly.

Importing coremltools on Linux logs '_MLModelProxy' warnings (its native runtime is macOS-only) and
loads TensorFlow, whose C++ start-up lines go straight to stderr; both are noise for this project, which
never calls Core ML's own prediction. :func:`ground.quiet.import_backends` keeps them off
the terminal (unless the user asks for them).
"""
from __future__ import annotations

from .quiet import import_backends

import_backends()

import coremltools  # noqa: E402,F401  (imported for its side effect of loading the protos)
from coremltools.proto import FeatureTypes_pb2, Model_pb2, NeuralNetwork_pb2  # noqa: E402,F401

__all__ = ["coremltools", "Model_pb2", "NeuralNetwork_pb2", "FeatureTypes_pb2"]
