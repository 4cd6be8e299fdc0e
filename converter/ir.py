"""The plain description of a source model that front ends produce and mappers read.

A front end (Keras, ONNX) turns its model into a :class:`SourceGraph`: layers in topological order,
each a :class:`SourceLayer` holding its config, its named numpy weights (in the *source* layout) and
the shapes of its tensors (source layout, no batch axis). Mappers never see Keras or ONNX objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TensorInfo:
    """A graph input or intermediate tensor: name, shape (source layout, no batch axis), dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass
class SourceLayer:
    """One Keras layer or ONNX node."""

    name: str
    kind: str                                   # 'Dense', 'Conv2D', ... or an ONNX op type 'Gemm'
    config: dict[str, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)   # named, source layout
    inputs: list[str] = field(default_factory=list)                # tensor names
    outputs: list[str] = field(default_factory=list)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)   # no batch axis
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    trainable: bool = True                      # the source's own flag (Keras); ONNX: the layer has weights


@dataclass
class CompileFacts:
    """What the source says about training (Keras' compile config), as plain data."""

    loss: str | None = None                     # 'categorical_crossentropy', 'mse', ...
    from_logits: bool = False
    label_smoothing: float = 0.0
    optimizer: str | None = None                # 'adam' | 'sgd' | other Keras names
    optimizer_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceGraph:
    """A whole source model."""

    name: str
    layers: list[SourceLayer]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    channels_last: bool = True                  # Keras' image_data_format / ONNX is channels-first
    compile: CompileFacts | None = None
    origin: str = ""                            # e.g. the file path, for metadata and messages
    framework: str = "keras"                    # 'keras' | 'onnx'
    trainable_flags: bool = True                # False: the source has none (ONNX), see SourceFacts
