"""From a :class:`SourceGraph` to a Core ML inference spec: run the mappers, declare the interface."""
from __future__ import annotations

from typing import Sequence

from ground.protos import FeatureTypes_pb2 as FT
from ground.protos import Model_pb2
from ground.errors import BadInputError, UnsupportedItem, UnsupportedLayerError
from transforms.options import SourceFacts
from transforms.report import ConversionReport

from . import coreml_layers as L
from .context import MapContext
from .ir import SourceGraph
from .registry import KERAS, Registry

UPDATABLE_KINDS = ("convolution", "innerProduct")
FLOAT32 = FT.ArrayFeatureType.FLOAT32


def to_inference_spec(graph: SourceGraph, *, registry: Registry = KERAS,
                      input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
                      class_labels: Sequence | None = None, report: ConversionReport | None = None,
                      override_unsupported: bool = False) -> tuple[Model_pb2.Model, SourceFacts]:
    """Map every layer of ``graph`` and return ``(spec, facts)``: a plain (not updatable) Core ML spec.

    ``input_names``/``output_names`` rename the model's features (default: the source's names);
    ``class_labels`` makes it a classifier whose single output holds the class probabilities.
    """
    report = report if report is not None else ConversionReport()
    ctx = MapContext(graph, report=report, override_unsupported=override_unsupported, frontend=graph.framework)
    _check_supported(graph, registry)
    in_names = _renames([t.name for t in graph.inputs], input_names, "input")
    out_names = _renames([t.name for t in graph.outputs], output_names, "output")
    for t, name in zip(graph.inputs, in_names):
        ctx.add_tensor(t.name, name, t.shape)
    layers: list = []
    for src in graph.layers:
        if src.kind == "InputLayer" and src.outputs and src.outputs[0] in ctx.blobs:
            continue
        produced = registry.get(src.kind)(src, ctx)
        for t, shape in zip(src.outputs, src.output_shapes):
            if t not in ctx.blobs:
                ctx.add_tensor(t, t, shape)
        for layer in produced:
            _record(ctx, layer, src)
        layers += produced
    renames = {ctx.blobs[t.name].name: new for t, new in zip(graph.outputs, out_names)}
    _rename_blobs(layers, renames, ctx)
    spec = Model_pb2.Model()
    spec.specificationVersion = max([4] + [L.min_spec_version(layer) for layer in layers])
    nn = spec.neuralNetworkClassifier if class_labels is not None else spec.neuralNetwork
    nn.layers.extend(layers)
    for t, name in zip(graph.inputs, in_names):
        _array_feature(spec.description.input.add(), name, ctx.blobs[t.name].shape)
    if class_labels is not None:
        _classifier(spec, nn, list(class_labels), out_names, [ctx.blob_shapes[n] for n in out_names])
    else:
        for name in out_names:
            _array_feature(spec.description.output.add(), name, ctx.blob_shapes[name])
    ctx.facts.blob_shapes = dict(ctx.blob_shapes)
    ctx.facts.trainable_flags = graph.trainable_flags
    _compile_facts(ctx.facts, graph, report)
    return spec, ctx.facts


def _check_supported(graph: SourceGraph, registry: Registry) -> None:
    missing = [UnsupportedItem(layer.name, layer.kind, "no mapper") for layer in graph.layers
               if registry.get(layer.kind) is None]
    if missing:
        raise UnsupportedLayerError(
            missing, context=f"{graph.framework} model '{graph.name}'", supported=registry.kinds(),
            fix="replace those layers with supported ones (or open an issue asking for a mapper)")


def _renames(names: list[str], wanted: Sequence[str] | None, what: str) -> list[str]:
    if not wanted:
        return names
    wanted = list(wanted)
    if len(wanted) != len(names):
        raise BadInputError(f"{len(wanted)} {what} name(s) given for {len(names)} model {what}(s) {names}",
                            fix=f"give one {what} name per model {what}")
    if len(set(wanted)) != len(wanted):
        raise BadInputError(f"{what} names {wanted} repeat a name", fix="give distinct names")
    return wanted


def _record(ctx: MapContext, layer, src) -> None:
    facts = ctx.facts
    facts.source_layer_of[layer.name] = src.name
    if layer.WhichOneof("layer") in UPDATABLE_KINDS:
        facts.updatable_candidates_order.append(layer.name)
        if src.trainable:
            facts.trainable_layers.add(layer.name)


def _rename_blobs(layers: list, renames: dict[str, str], ctx: MapContext) -> None:
    renames = {a: b for a, b in renames.items() if a != b}
    if not renames:
        return
    taken = set(ctx.blob_shapes) - set(renames)
    clash = sorted(set(renames.values()) & taken)
    if clash:
        raise BadInputError(f"name(s) {clash} are already used by blobs inside the model",
                            fix="choose other input/output names")
    for layer in layers:
        for field in (layer.input, layer.output):
            for i, blob in enumerate(field):
                if blob in renames:
                    field[i] = renames[blob]
    for old, new in renames.items():
        ctx.blob_shapes[new] = ctx.blob_shapes.pop(old)


def _array_feature(fd, name: str, shape: tuple[int, ...]) -> None:
    fd.name = name
    fd.type.multiArrayType.dataType = FLOAT32
    fd.type.multiArrayType.shape.extend([int(s) for s in shape])


def _classifier(spec, nn, labels: list, out_names: list[str], shapes: list[tuple[int, ...]]) -> None:
    if len(out_names) != 1:
        raise BadInputError(f"a classifier needs one output, the model has {len(out_names)}",
                            fix="convert without class labels, or keep only the probabilities output")
    size = int(shapes[0][0]) if all(s == 1 for s in shapes[0][1:]) else -1
    if size != len(labels):
        raise BadInputError(f"{len(labels)} class labels given for an output of shape {shapes[0]}",
                            fix="give one label per output unit")
    if len(set(labels)) != len(labels):
        raise BadInputError("class labels repeat a label", fix="give distinct class labels")
    ints = all(isinstance(x, int) for x in labels)
    if ints:
        nn.int64ClassLabels.vector.extend(labels)
    else:
        nn.stringClassLabels.vector.extend([str(x) for x in labels])
    nn.labelProbabilityLayerName = out_names[0]
    desc = spec.description
    probs = desc.output.add()
    probs.name = out_names[0]
    key = probs.type.dictionaryType.int64KeyType if ints else probs.type.dictionaryType.stringKeyType
    key.SetInParent()
    label = desc.output.add()
    label.name = "classLabel"
    (label.type.int64Type if ints else label.type.stringType).SetInParent()
    desc.predictedFeatureName = "classLabel"
    desc.predictedProbabilitiesName = out_names[0]


LOSS_NAMES = {"sparse_categorical_crossentropy": "cce", "categorical_crossentropy": "cce",
              "mse": "mse", "mean_squared_error": "mse", "MSE": "mse"}


def _compile_facts(facts: SourceFacts, graph: SourceGraph, report: ConversionReport) -> None:
    c = graph.compile
    if c is None:
        return
    if c.loss is not None:
        facts.loss = LOSS_NAMES.get(c.loss, c.loss)
        if c.loss not in LOSS_NAMES:
            report.add("map", "note", "loss", f"the source's loss '{c.loss}' has no Core ML equivalent")
    facts.loss_from_logits = c.from_logits
    facts.label_smoothing = c.label_smoothing
    facts.optimizer = c.optimizer
    facts.optimizer_config = dict(c.optimizer_config)
