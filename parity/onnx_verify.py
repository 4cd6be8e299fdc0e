"""``verify`` for ONNX models: forward parity against onnxruntime, and training parity against the Keras
model the ONNX file was exported from (``--reference model.keras``).

The ONNX model is converted by ``convert(model.onnx, reference=model.keras)``, the call users make: the
reference's compile facts (loss, optimizer) and the zero biases the exporter dropped (pass
``restore_biases``), so the converted model trains as the Keras model was compiled; both start from the
same weights because the ONNX file was exported from that Keras model (the initial-weights check shows
it if not).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import data_loading as D
from converter.reference import load_reference
from ground.errors import BadInputError
from ground.layout import nhwc_to_nchw
from transforms.options import UpdateOptions

from .convert_hook import convert_source
from .harness import verify_pair, with_run_settings
from .onnx_forward import FORWARD_ABS, TRAINING_NOTE, ForwardFigures, forward_parity, input_layout
from .report import Check, ParityReport
from .tolerances import DEFAULT, Tolerances


def convert_onnx(source: str | Path, options: UpdateOptions | None = None, *, reference: Any = None,
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> tuple[Any, list[str], Any]:
    """Convert the ONNX model with ``convert`` (and the Keras ``reference``'s compile facts and zero biases,
    as ``convert(..., reference=...)`` does for users): (spec, report lines, graph)."""
    result = convert_source(Path(source), options, reference=reference, input_shapes=input_shapes)
    return result.spec, result.report.lines(), result.graph


def onnx_batch(images: np.ndarray, graph: Any) -> np.ndarray:
    """Data-set images (scaled to [0, 1]) in the ONNX input's own layout."""
    shape, axes = next(iter(input_layout(graph).values()))
    x = D.for_keras(images)                                   # (N, H, W, C)
    if len(shape) == 3 and axes == (0, 1, 2):                 # an NCHW model
        x = nhwc_to_nchw(x)
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        expected = ", ".join(map(str, shape))
        raise BadInputError(f"images of shape {x.shape[1:]} do not fit the ONNX input (N, {expected})",
                            fix="use data with the model's input size")
    return x.reshape((len(x), *shape))


def verify_onnx(source: str | Path, data: str | Path | D.Dataset, *, reference: str | Path | None = None,
                options: UpdateOptions | None = None, epochs: int | None = None, batch_size: int | None = None,
                limit: int | None = None, report_dir: str | Path | None = None, tolerances: Tolerances | None = None,
                progress: bool = False, input_shapes: Mapping[str, tuple[int, ...]] | None = None,
                ) -> ParityReport | ForwardFigures:
    """Without ``reference``: :class:`ForwardFigures` (onnxruntime vs Core ML on the test set). With it: a
    :class:`~parity.report.ParityReport` of training parity against the Keras reference, with the
    onnxruntime forward check added."""
    path = Path(source)
    if not path.exists():
        raise BadInputError("no such model file", where=str(path), fix="check the path")
    dataset = data if isinstance(data, D.Dataset) else D.load(data)
    if reference is None:
        spec, _, graph = convert_onnx(path, options, input_shapes=input_shapes)
        return forward_parity(path, spec, graph, onnx_batch(dataset.x_test, graph))
    ref = Path(reference)
    keras_model = load_reference(ref)
    options = with_run_settings(options, epochs, batch_size)
    spec, lines, graph = convert_onnx(path, options, reference=keras_model, input_shapes=input_shapes)
    report = verify_pair(keras_model, spec, dataset, options=options, epochs=epochs, batch_size=batch_size,
                         limit=limit, tolerances=tolerances or DEFAULT, progress=progress, source=str(path),
                         conversion=lines)
    fwd = forward_parity(path, spec, graph, onnx_batch(dataset.x_test, graph))
    report.checks.insert(0, Check("forward vs onnxruntime", fwd.max_abs, FORWARD_ABS, fwd.passed,
                                  f"max |onnxruntime - Core ML| over {fwd.examples} test images"))
    report.notes.append(f"training reference: {ref} (the Keras model the ONNX file was exported from)")
    if report_dir is not None:
        report.save(report_dir)
    return report


__all__ = ["TRAINING_NOTE", "ForwardFigures", "convert_onnx", "onnx_batch", "verify_onnx"]
