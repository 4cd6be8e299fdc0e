"""The state mappers share while a source graph becomes Core ML layers: blob names, layouts, facts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ground import layout
from ground.errors import UnsupportedConfigError
from transforms.options import SourceFacts
from transforms.report import ConversionReport

from .ir import SourceGraph, SourceLayer


@dataclass(frozen=True)
class Blob:
    """A Core ML blob standing for a source tensor: its name, Core ML shape and source shape."""

    name: str
    shape: tuple[int, ...]           # Core ML layout, no batch axis: (C, H, W) or (F,)
    source_shape: tuple[int, ...]    # source layout, no batch axis

    @property
    def rank(self) -> int:
        """The source tensor's rank (1 vector, 2 sequence, 3 image)."""
        return len(self.source_shape)

    @property
    def channels(self) -> int:
        return self.shape[0]


@dataclass
class MapContext:
    """Handed to every mapper: blob lookup, naming, layout questions, options and errors."""

    graph: SourceGraph
    report: ConversionReport = field(default_factory=ConversionReport)
    facts: SourceFacts = field(default_factory=SourceFacts)
    override_unsupported: bool = False
    blobs: dict[str, Blob] = field(default_factory=dict)          # source tensor name -> Blob
    blob_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)   # every Core ML blob
    frontend: str = "keras"

    @property
    def channels_last(self) -> bool:
        return self.graph.channels_last

    # ------------------------------------------------------------------ blobs

    def add_tensor(self, tensor: str, blob_name: str, source_shape: tuple[int, ...]) -> Blob:
        """Record that source tensor ``tensor`` lives in Core ML blob ``blob_name``."""
        blob = Blob(blob_name, layout.coreml_shape(source_shape, self.channels_last), tuple(source_shape))
        self.blobs[tensor] = blob
        self.blob_shapes[blob_name] = blob.shape
        return blob

    def inp(self, layer: SourceLayer, i: int = 0) -> Blob:
        """The blob of the layer's ``i``-th input."""
        return self.blobs[layer.inputs[i]]

    def inputs(self, layer: SourceLayer) -> list[Blob]:
        return [self.blobs[t] for t in layer.inputs]

    def out(self, layer: SourceLayer, i: int = 0) -> str:
        """The blob name the layer's ``i``-th output must be written to (blobs are named after tensors)."""
        return layer.outputs[i]

    def out_shape(self, layer: SourceLayer, i: int = 0) -> tuple[int, ...]:
        """The Core ML shape of the layer's ``i``-th output."""
        return layout.coreml_shape(layer.output_shapes[i], self.channels_last)

    def tmp(self, layer: SourceLayer, suffix: str, shape: tuple[int, ...]) -> str:
        """A new intermediate blob named ``<layer>__<suffix>`` of Core ML ``shape``."""
        name = f"{layer.name}__{suffix}"
        self.blob_shapes[name] = tuple(int(s) for s in shape)
        return name

    @staticmethod
    def lname(layer: SourceLayer, suffix: str | None = None) -> str:
        """A Core ML layer name: the source name, or ``<name>__<suffix>`` for extra layers."""
        return layer.name if suffix is None else f"{layer.name}__{suffix}"

    # ------------------------------------------------------------------ layout

    def axis(self, layer: SourceLayer, keras_axis: int, *, i: int = 0) -> str:
        """Core ML axis ('C', 'H', 'W') of a Keras config axis (which counts the batch axis)."""
        rank = len(layer.input_shapes[i])
        a = keras_axis - 1 if keras_axis > 0 else keras_axis
        if keras_axis == 0:
            self.refuse(layer, "axis", "axis 0 is the batch axis", "use an axis of the features")
        return layout.coreml_axis(a, rank, self.channels_last)

    # ------------------------------------------------------------------ errors and notes

    def refuse(self, layer: SourceLayer, option: str, problem: str, fix: str) -> None:
        """Raise UnsupportedConfigError naming the layer, its option, the problem and the fix."""
        raise UnsupportedConfigError(f"option '{option}': {problem}",
                                     where=f"{self.frontend} layer '{layer.name}' ({layer.kind})", fix=fix)

    def require(self, ok: Any, layer: SourceLayer, option: str, problem: str, fix: str) -> None:
        if not ok:
            self.refuse(layer, option, problem, fix)

    def note(self, layer: SourceLayer, action: str, reason: str) -> None:
        self.report.add("map", action, layer.name, reason)
