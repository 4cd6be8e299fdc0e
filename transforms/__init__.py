"""Passes over Core ML specs that make an inference NeuralNetwork updatable, and Core ML's rules.

Entry points: :func:`transforms.pipeline.make_updatable`, :data:`transforms.pipeline.PASSES`,
:func:`transforms.validate.violations` / :func:`transforms.validate.check`,
:func:`transforms.summary.summarize`. Never imports Keras, ONNX, the converter or the
runtime (layouts come from ``ground.layout``).
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """Lazy access to ``make_updatable`` and ``PASSES`` (importing them loads coremltools)."""
    if name in ("make_updatable", "PASSES"):
        from . import pipeline
        return getattr(pipeline, name)
    raise AttributeError(name)
