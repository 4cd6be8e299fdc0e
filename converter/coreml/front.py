"""The Core ML front end: an existing NeuralNetwork ``.mlmodel`` in, an inference spec Core ML can train out.

:func:`read_mlmodel` returns ``(spec, facts, graph)`` as the Keras and ONNX front ends do, so the same
passes (mark updatable, loss, optimizer, validate) follow. A rank-N network (``coremltools.convert``'s
output) goes through :data:`registry.REWRITES` and is then lowered to the rank-5 interpretation; a
classic network (NeuralNetworkBuilder, the old Keras converter, Turi Create) passes through unchanged,
its old update settings cleared so that the ones asked for replace them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ground.errors import UnsupportedModelError
from ground.nn_spec import NN_TYPES
from ground.spec_io import read_spec
from ground.rules.graph import supports_backprop
from transforms.options import SourceFacts
from transforms.report import ConversionReport

from . import graph as G
from . import rewrites as _rewrites  # noqa: F401  (registration)
from .lower import canonical, lower
from .registry import REWRITES, Rewritten
from .shapes import infer

log = logging.getLogger(__name__)
STAGE = "coreml"
ND_MAPPINGS = ("arrayInputShapeMapping", "imageInputShapeMapping")


def is_rank_n(spec: Any) -> bool:
    """An exact input mapping (Core ML refuses specification-4 layers without one)."""
    nn = G.nn_of(spec)
    return any(getattr(nn, f) for f in ND_MAPPINGS)


def rewrite(spec: Any) -> tuple[Any, list[Rewritten], list[str]]:
    """Run every rewrite, then lower: ``(spec, rewrites applied, reasons it stayed rank-N)``.

    When some layer keeps the network rank-N, only the ``rank_n_safe`` rewrites apply (the others' layers
    mean the same only under the rank-5 interpretation), and the reasons come back.
    """
    if not is_rank_n(spec):
        return spec, [], []
    lowered, done = _run(spec, REWRITES)
    lowered, reasons = lower(*lowered)
    if not reasons:
        return lowered, done, []
    (kept, _), done = _run(spec, [rw for rw in REWRITES if rw.rank_n_safe])
    return kept, done, reasons


def _run(spec: Any, rewrites: list) -> tuple[tuple[Any, dict], list[Rewritten]]:
    current, done = spec, []
    shapes = infer(spec)      # the original's shapes: every rewrite keeps the data of the blobs it writes
    for rw in rewrites:
        current, records = rw.fn(current, shapes)
        done += records
    return (current, shapes), done


def read_mlmodel(source: Any, *, report: ConversionReport) -> tuple[Any, SourceFacts, str]:
    """``(inference spec, facts, name)`` of a NeuralNetwork model (a path, bytes, spec or MLModel)."""
    spec = read_spec(source)
    where = str(source) if isinstance(source, (str, Path)) else "the model"
    kind = spec.WhichOneof("Type")
    if kind not in NN_TYPES:
        raise UnsupportedModelError(f"is a '{kind}' model; only NeuralNetwork models (neuralNetwork, classifier, "
                                    "regressor) can be updatable", where=where,
                                    fix="convert the source model to a NeuralNetwork (convert_to='neuralnetwork')")
    facts = _facts_before_clearing(spec)
    _clear_update_settings(spec)
    new, done, reasons = rewrite(spec)
    for r in done:
        report.add(STAGE, "rewritten", ", ".join(r.layers), f"{r.rewrite}: into {r.into}: {r.why}")
    if done and not reasons:
        report.add(STAGE, "set", "input/output shapes", "rank-5 interpretation (RANK5_ARRAY_MAPPING): inputs "
                   + ", ".join(f"'{fd.name}' {list(fd.type.multiArrayType.shape)}" for fd in new.description.input
                               if fd.type.WhichOneof("Type") == "multiArrayType")
                   + "; feed (N, *shape) arrays")
    for why in reasons:
        report.add(STAGE, "note", "rank-N kept", f"{why}; the network keeps Core ML's N-dimensional semantics")
    if not done and not reasons:
        report.add(STAGE, "note", "layers", "a classic (rank-5) network: layers unchanged")
    _trainable(new, facts)
    facts.blob_shapes = _classic_shapes(new)
    name = Path(source).stem if isinstance(source, (str, Path)) else (new.description.metadata.shortDescription
                                                                     or "model")
    return new, facts, name


def _facts_before_clearing(spec: Any) -> SourceFacts:
    """The model's own training setup (if it was updatable) as the source facts: its loss, optimizer and
    updatable layers become the defaults."""
    facts = SourceFacts()
    nn = G.nn_of(spec)
    if not spec.isUpdatable:
        return facts
    facts.trainable_layers = {l.name for l in nn.layers if l.isUpdatable}
    losses = [ll.WhichOneof("LossLayerType") for ll in nn.updateParams.lossLayers]
    facts.loss = {"categoricalCrossEntropyLossLayer": "cce", "meanSquaredErrorLossLayer": "mse"}.get(
        losses[0] if losses else "", None)
    which = nn.updateParams.optimizer.WhichOneof("OptimizerType")
    if which:
        opt = getattr(nn.updateParams.optimizer, which)
        facts.optimizer = {"adamOptimizer": "adam", "sgdOptimizer": "sgd"}.get(which, which)
        keys = {"learningRate": "learning_rate", "beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon",
                "momentum": "momentum"}
        facts.optimizer_config = {keys[f.name]: v.defaultValue for f, v in opt.ListFields() if f.name in keys}
    return facts


def _clear_update_settings(spec: Any) -> None:
    nn = G.nn_of(spec)
    spec.isUpdatable = False
    nn.ClearField("updateParams")
    del spec.description.trainingInput[:]
    for layer in nn.layers:
        layer.isUpdatable = False
        typed = getattr(layer, G.kind(layer))
        for field in ("weights", "bias"):
            if hasattr(typed, field) and typed.HasField(field):
                getattr(typed, field).isUpdatable = False


def _trainable(spec: Any, facts: SourceFacts) -> None:
    """Policy 'trainable': the layers the model had updatable, else the convolution / innerProduct layers
    the outputs reach through layers Core ML back-propagates through (a softmax under the loss included)."""
    nn = G.nn_of(spec)
    order = [l.name for l in nn.layers if G.kind(l) in ("convolution", "innerProduct")]
    facts.updatable_candidates_order = order
    facts.source_layer_of = {l.name: l.name for l in nn.layers}
    if facts.trainable_layers:
        facts.trainable_layers &= set(order)
        return
    outputs = set(G.output_blobs(spec))
    reach = set(outputs)
    for layer in reversed(list(nn.layers)):
        if not any(b in reach for b in layer.output):
            continue
        under_loss = G.kind(layer) == "softmax" and set(layer.output) <= outputs
        if supports_backprop(layer) or under_loss:
            reach.update(layer.input)
            if G.kind(layer) in ("convolution", "innerProduct"):
                facts.trainable_layers.add(layer.name)


def _classic_shapes(spec: Any) -> dict[str, tuple[int, ...]]:
    """Every blob's shape as the passes read shapes, (C, H, W) or (C,) (a rank-N network's blobs where
    they stand for one)."""
    out = {}
    rank_n = is_rank_n(spec)
    for name, shape in infer(spec).items():
        c = canonical(shape if rank_n or len(shape) != 5 else shape[2:])
        if c is not None:
            out[name] = c
    return out
