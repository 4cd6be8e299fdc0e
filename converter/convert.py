"""The conversion driver: source model -> inference spec -> updatable spec, with a report.

``convert(model_or_path, options=...)`` returns a :class:`ConversionResult`; its ``save`` writes the
``.mlmodel`` atomically. The same input gives the same bytes every time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

from ground import __version__
from ground.protos import Model_pb2
from ground.spec_io import check_output, save_spec
from ground.update_params import COREML_OF, read
from ground.errors import BadInputError
from transforms.options import SourceFacts, UpdateOptions
from transforms.pipeline import make_updatable  # the transforms' entry point
from transforms.report import ConversionReport

from .build import to_inference_spec as _graph_to_spec
from .frontends import ONNX_SUFFIXES, read_source
from .image_input import ImageInput
from .ir import SourceGraph
from .keras.reader import compile_facts
from .reference import dropped_zero_biases, load_reference


@dataclass
class ConversionResult:
    """A converted model: its spec, what the conversion did (report) and the source facts."""

    spec: Model_pb2.Model
    report: ConversionReport
    facts: SourceFacts
    graph: SourceGraph
    options: UpdateOptions = field(default_factory=UpdateOptions)

    @cached_property
    def mlmodel(self):
        """A coremltools ``MLModel`` built from the spec (prediction needs macOS; use ``emulator``)."""
        from ground.protos import coremltools as ct
        return ct.models.MLModel(self.spec)

    def serialized(self) -> bytes:
        return self.spec.SerializeToString(deterministic=True)

    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the ``.mlmodel`` atomically; refuse to overwrite (unless ``force``) or to hit the source."""
        path = check_output(path, self.graph.origin or None, force=force)
        return save_spec(self.spec, path)


def to_inference_spec(model_or_path: Any, *, class_labels: Sequence | None = None,
                      input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
                      allow_unsafe: bool = False, override_unsupported: bool = False,
                      report: ConversionReport | None = None,
                      input_shapes: dict[str, tuple[int, ...]] | None = None,
                      reference: Any = None, image_inputs: Sequence[ImageInput] = (),
                      ) -> tuple[Model_pb2.Model, SourceFacts, SourceGraph]:
    """Read the source and map it to a plain (not updatable) Core ML spec: ``(spec, facts, graph)``.

    ``reference``: for an ONNX source, the Keras model (object or path) it was exported from; its compile
    config gives the loss and optimizer, and the zero biases the exporter dropped are listed in
    ``facts.dropped_zero_biases`` for the ``restore_biases`` pass. ``image_inputs``: inputs declared as images.
    """
    ref_model = None
    if reference is not None:
        if not _is_onnx(model_or_path):
            raise BadInputError("a training reference is for ONNX sources; a Keras model is its own reference",
                                where=str(reference), fix="drop the reference")
        ref_model = load_reference(reference)
    if is_coreml(model_or_path):
        return _from_coreml(model_or_path, class_labels=class_labels, input_names=input_names,
                            output_names=output_names, report=report, input_shapes=input_shapes)
    graph, registry = read_source(model_or_path, allow_unsafe=allow_unsafe, input_shapes=input_shapes,
                                  compile_facts=compile_facts(ref_model) if ref_model is not None else None)
    spec, facts = _graph_to_spec(graph, registry=registry, input_names=input_names, output_names=output_names,
                                 class_labels=class_labels, report=report,
                                 override_unsupported=override_unsupported, image_inputs=image_inputs)
    if ref_model is not None:
        facts.dropped_zero_biases = dropped_zero_biases(spec, ref_model)
    return spec, facts, graph


def _is_onnx(source: Any) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).suffix.lower() in ONNX_SUFFIXES
    return type(source).__module__.startswith("onnx")


def is_coreml(source: Any) -> bool:
    """A Core ML model: an ``.mlmodel`` path, a ``Model`` spec or a coremltools ``MLModel``."""
    if isinstance(source, (str, Path)):
        return Path(source).suffix.lower() == ".mlmodel"
    return isinstance(source, Model_pb2.Model) or type(source).__module__.startswith("coremltools")


def _from_coreml(source: Any, *, class_labels, input_names, output_names, report, input_shapes):
    from .coreml.front import read_mlmodel

    asked = {"--class-labels": class_labels, "--input-name": input_names, "--output-name": output_names,
             "--input-shape": input_shapes}
    given = [k for k, v in asked.items() if v]
    if given:
        raise BadInputError(f"{', '.join(given)} cannot change an existing Core ML model's interface",
                            where=str(source) if isinstance(source, (str, Path)) else "the Core ML model",
                            fix="drop those options (the model keeps its own inputs, outputs and labels)")
    spec, facts, name = read_mlmodel(source, report=report if report is not None else ConversionReport())
    origin = str(source) if isinstance(source, (str, Path)) else ""
    return spec, facts, SourceGraph(name, [], [], [], origin=origin, framework="coreml")


def convert(model_or_path: Any, *, options: UpdateOptions | None = None, class_labels: Sequence | None = None,
            input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
            allow_unsafe: bool = False, input_shapes: dict[str, tuple[int, ...]] | None = None,
            reference: Any = None, image_inputs: Sequence[ImageInput | str] = ()) -> ConversionResult:
    """Convert a Keras model (object, ``.keras``/``.h5``), an ONNX model (``.onnx``, ModelProto) or an
    existing Core ML NeuralNetwork (``.mlmodel``, spec, MLModel) into an updatable Core ML model.
    ``input_shapes`` fixes an ONNX model's dynamic input dimensions;
    ``reference`` (ONNX only) is the Keras model it was exported from, to train as that model does;
    ``image_inputs`` (``ImageInput`` or ``"NAME[:gray|rgb|bgr]"``, default ``options.image_inputs``) makes
    those inputs images."""
    options = options or UpdateOptions()
    labels = class_labels if class_labels is not None else options.class_labels
    report = ConversionReport()
    spec, facts, graph = to_inference_spec(
        model_or_path, class_labels=labels, input_names=input_names, output_names=output_names,
        allow_unsafe=allow_unsafe, override_unsupported=options.override_unsupported, report=report,
        input_shapes=input_shapes, reference=reference,
        image_inputs=[i if isinstance(i, ImageInput) else ImageInput.parse(i)
                      for i in (image_inputs or options.image_inputs)])
    spec = make_updatable(spec, facts, options, report)
    _metadata(spec, graph, report)
    return ConversionResult(spec, report, facts, graph, options)


def _metadata(spec: Model_pb2.Model, graph: SourceGraph, report: ConversionReport) -> None:
    """shortDescription and userDefined entries: source, converter version, update settings."""
    import keras

    meta = spec.description.metadata
    source = Path(graph.origin).name if graph.origin else f"in-memory {graph.framework} model"
    if not meta.shortDescription:
        meta.shortDescription = f"'{graph.name}' converted from {graph.framework} by coreml-updatable"
    ud = meta.userDefined
    ud["coreml_updatable.source"] = source
    ud["coreml_updatable.source_model"] = graph.name
    ud["coreml_updatable.framework"] = (f"keras {keras.__version__}" if graph.framework == "keras"
                                        else graph.framework)
    rewrites = [e.__dict__ for e in report.entries if e.stage == "coreml"]
    if rewrites:
        ud["coreml_updatable.rewrites"] = json.dumps(rewrites, sort_keys=True)
    ud["coreml_updatable.version"] = __version__
    ud["coreml_updatable.update"] = json.dumps(update_metadata(spec), sort_keys=True)


def update_metadata(spec: Model_pb2.Model) -> dict:
    """The spec's update parameters as the model's metadata carries them, by Core ML name (empty if the
    spec is not updatable); read by :func:`ground.update_params.read`."""
    if not spec.isUpdatable:
        return {}
    params = read(getattr(spec, spec.WhichOneof("Type")))
    out: dict[str, Any] = {"updatable_layers": list(params.updatable_layers)}
    if params.optimizer_message:
        out["optimizer"] = params.optimizer_message
    for option, p in params.params.items():
        out[COREML_OF[option]] = p.default
    if params.loss_layers:
        out["loss"] = [layer["type"] for layer in params.loss_layers]
    return out
