"""``verify`` for ONNX models: forward parity against onnxruntime, and training parity against the Keras
model the ONNX file was exported from (``--reference model.keras``).

The ONNX model is converted with the reference's compile facts (loss, optimizer), so the converted model
trains as the Keras model was compiled; both start from the same weights because the ONNX file was
exported from that Keras model (the initial-weights check shows it if not).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import data_loading as D
from ground.errors import BadInputError

from .onnx_forward import FORWARD_ABS, TRAINING_NOTE, ForwardFigures, forward_parity, input_layout


def convert_onnx(source: str | Path, options: Any | None = None, *, reference: Any = None,
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> tuple[Any, list[str], Any]:
    """Convert the ONNX model (with the Keras ``reference`` model's compile facts): (spec, report lines, graph)."""
    from converter.build import to_inference_spec
    from converter.keras.reader import compile_facts
    from converter.onnx.reader import read_onnx
    from converter.registry import ONNX
    from transforms.options import UpdateOptions
    from transforms.pipeline import make_updatable
    from transforms.report import ConversionReport

    options = options if options is not None else UpdateOptions()
    facts = compile_facts(reference) if reference is not None else None
    graph = read_onnx(str(source), input_shapes=input_shapes, compile_facts=facts)
    report = ConversionReport()
    spec, source_facts = to_inference_spec(graph, registry=ONNX, class_labels=options.class_labels, report=report,
                                           override_unsupported=options.override_unsupported)
    if reference is not None:
        for name in restore_biases(spec, reference):
            report.add("map", "note", name, "zero bias added: the Keras reference layer has a bias the ONNX "
                                            "exporter dropped (all zeros)")
    spec = make_updatable(spec, source_facts, options, report)
    return spec, report.lines(), graph


def restore_biases(spec: Any, reference: Any) -> list[str]:
    """Give a zero bias to each convolution/innerProduct whose Keras counterpart (in order) has one.

    tf2onnx drops a bias that is all zeros (an untrained model's), but Keras trains it: without it the
    two sides would not train alike. Returns the Core ML layers changed.
    """
    from ground.protos import NeuralNetwork_pb2  # noqa: F401  (protos loaded quietly)

    from .mapping import keras_weighted_layers

    nn = getattr(spec, spec.WhichOneof("Type"))
    weighted = [layer for layer in nn.layers if layer.WhichOneof("layer") in ("convolution", "innerProduct")]
    changed = []
    for layer, k in zip(weighted, keras_weighted_layers(reference)):
        p = getattr(layer, layer.WhichOneof("layer"))
        if p.hasBias or not getattr(k, "use_bias", False) or k.bias is None:
            continue
        bias = np.asarray(k.bias)
        if bias.shape != (p.outputChannels,) or np.any(bias != 0):
            continue
        p.hasBias = True
        p.bias.floatValue.extend([0.0] * int(p.outputChannels))
        changed.append(layer.name)
    return changed


def onnx_batch(images: np.ndarray, graph: Any) -> np.ndarray:
    """Data-set images (scaled to [0, 1]) in the ONNX input's own layout."""
    shape, axes = next(iter(input_layout(graph).values()))
    x = D.for_keras(images)                                   # (N, H, W, C)
    if len(shape) == 3 and axes == (0, 1, 2):                 # an NCHW model
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        expected = ", ".join(map(str, shape))
        raise BadInputError(f"images of shape {x.shape[1:]} do not fit the ONNX input (N, {expected})",
                            fix="use data with the model's input size")
    return x.reshape((len(x), *shape))


def verify_onnx(source: str | Path, data: str | Path | D.Dataset, *, reference: str | Path | None = None,
                options: Any | None = None, epochs: int | None = None, batch_size: int | None = None,
                limit: int | None = None, report_dir: str | Path | None = None, tolerances: Any = None,
                progress: bool = False, input_shapes: Mapping[str, tuple[int, ...]] | None = None):
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
    import keras

    from .report import Check
    from .tolerances import DEFAULT
    from .verify import _with_run_settings, verify_pair

    ref = Path(reference)
    if ref.suffix.lower() not in (".keras", ".h5", ".hdf5") or not ref.exists():
        raise BadInputError("the training reference must be an existing Keras model file (.keras / .h5)",
                            where=str(ref), fix="pass the Keras model the ONNX file was exported from")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Skipping variable loading for optimizer.*")
        keras_model = keras.models.load_model(ref, compile=True)
    options = _with_run_settings(options, epochs, batch_size)
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
