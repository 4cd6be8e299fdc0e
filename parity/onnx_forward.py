"""Forward parity of a converted ONNX model against onnxruntime (the ONNX side has no training).

The Core ML model takes ``(C, H, W)`` arrays; :func:`to_coreml_input` turns a batch in the ONNX input's
own layout (e.g. ``(N, H, W, C)`` for Keras exports) into that. Outputs keep the ONNX output's axis
order, so they compare after a reshape.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ground.errors import BadInputError
from ground.layout import axes_coreml_shape, axes_grid

FORWARD_ABS = 1e-5
TRAINING_NOTE = ("training parity needs a reference model to train: pass --reference model.keras when the ONNX "
                 "model was exported from Keras")


def input_layout(graph: Any) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """ONNX input name -> (ONNX shape without batch, Core ML axis of each ONNX axis)."""
    return {layer.outputs[0]: (tuple(layer.config["onnx_shape"]), tuple(layer.config["axes"]))
            for layer in graph.layers if layer.kind == "OnnxInput"}


def to_coreml_input(x: np.ndarray, graph: Any, name: str | None = None) -> np.ndarray:
    """A batch in the ONNX input's layout -> the Core ML input's layout ``(N, C, H, W)`` / ``(N, F)``."""
    layouts = input_layout(graph)
    name = name or next(iter(layouts))
    shape, axes = layouts[name]
    x = np.asarray(x, np.float32)
    if tuple(x.shape[1:]) != shape:
        raise BadInputError(f"a batch of shape {x.shape} does not fit ONNX input '{name}' (N, {shape})",
                            fix="give arrays in the ONNX model's input layout")
    flat = np.empty((len(x), int(np.prod(shape))), np.float32)
    flat[:, axes_grid(shape, axes).reshape(-1)] = x.reshape(len(x), -1)
    return flat.reshape((len(x),) + axes_coreml_shape(shape, axes))


@dataclass
class ForwardFigures:
    """Forward parity of a converted ONNX model: max |onnxruntime - Core ML| over the examples."""

    examples: int
    max_abs: float
    tolerance: float = FORWARD_ABS
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.max_abs <= self.tolerance

    def as_dict(self) -> dict:
        return {"examples": self.examples, "max_abs": self.max_abs, "tolerance": self.tolerance,
                "passed": self.passed, "notes": list(self.notes)}


def onnx_outputs(source: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The first output of the ONNX model (path or ModelProto) on ``x`` with onnxruntime."""
    import onnxruntime as ort

    data = source.SerializeToString() if hasattr(source, "SerializeToString") else str(Path(source))
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + batch_size]})[0] for i in range(0, len(x), batch_size)])


def forward_parity(source: Any, spec: Any, graph: Any, x: np.ndarray, *,
                   tolerance: float = FORWARD_ABS) -> ForwardFigures:
    """Run the ONNX model (onnxruntime) and the Core ML ``spec`` (emulator) on ``x`` (ONNX layout)."""
    import emulator
    from emulator.model import first_tensor_output

    ref = onnx_outputs(source, np.asarray(x, np.float32))
    cm = emulator.load(spec)
    got = np.asarray(cm.predict(to_coreml_input(x, graph))[first_tensor_output(cm)])
    diff = float(np.max(np.abs(got.reshape(ref.shape) - ref))) if got.size == ref.size else float("inf")
    return ForwardFigures(len(x), diff, tolerance, [TRAINING_NOTE])
