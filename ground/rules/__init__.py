"""Core ML's rules for updatable models, checked on Linux: the project's only copy of Apple's rules and messages.

Numbered as in the project's rules document (Core ML's ``mlmodel/src/Validation/`` sources).

:func:`violations` lists every broken rule of any ``.mlmodel`` spec (Core ML itself stops at the first);
:func:`check` raises :class:`ValidationError` (or :class:`BackpropRuleError` when only the
back-propagation rule is broken) listing all of them. Every model first gets Core ML's generic checks
(:mod:`.features`: version, feature descriptions, optional features) and, at the end, coremltools' check of
the declared version against the features used. A model that is not updatable gets only the
inference-level checks Core ML would run on it (a network's classifier or regressor interface:
:mod:`.classifier`; other model types: :mod:`.models`); a pipeline gets its own rules (feature types along it,
which model may be updatable, names, training inputs: :mod:`.pipeline`) and its sub-models' checks; a
k-NN classifier (:mod:`.knn`) and a linked model get theirs. Every layer of a network gets Apple's
per-layer rules (input/output counts, parameters, weight sizes: :mod:`.layers`).
"""
from __future__ import annotations

from typing import Any

from ..errors import BackpropRuleError, RuleViolation, ValidationError

from . import classifier as C
from . import features as F
from . import graph as G
from . import knn as K
from . import layers as L
from . import models as M
from . import pipeline as P
from . import interface as I
from . import update as U
from .. import nn_spec as S

UPDATABLE_MODEL_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor",
                         "kNearestNeighborsClassifier", "pipeline", "pipelineClassifier", "pipelineRegressor")
MIN_UPDATABLE_VERSION = 4


def violations(spec: Any) -> list[RuleViolation]:
    """Every rule ``spec`` breaks, in the order Core ML checks them."""
    out: list[RuleViolation] = F.version(spec) + F.description(spec) + F.training_features(spec)
    kind = S.model_kind(spec)
    if spec.isUpdatable:
        if spec.specificationVersion < MIN_UPDATABLE_VERSION:
            out.append(RuleViolation("1", "Model specification version for an updatable model must be '4' or above.",
                                     fix="set specificationVersion to 4 or more"))
        if kind not in UPDATABLE_MODEL_TYPES:
            out.append(RuleViolation("2", "This model type is not supported for on-device update.",
                                     where=f"model type '{kind or 'unset'}'",
                                     fix="only NeuralNetwork, k-NN classifier and pipeline models can be updatable"))
    out += F.optional(spec)
    if kind in S.PIPELINE_TYPES:
        out += P.pipeline(spec, violations)
    elif kind == "kNearestNeighborsClassifier":
        out += K.knn(spec)
    elif kind == "linkedModel":
        out += P.linked_model(spec)
    elif kind in S.NN_TYPES:
        out += _network(spec, kind)
        if spec.isUpdatable:
            out += G.layers(spec) + U.loss(spec) + U.update_params(spec) + G.backprop(spec)
            out += U.training_inputs(spec)
    else:
        out += M.other_model(spec)
    out += F.versions_needed(spec)
    return _unshadowed(out)


SHADOWED = {"Neural networks produce at least one output.": "Models must have one or more outputs."}
"""A network-level message Core ML never reaches because a generic one (listed first) refused the model."""


def _unshadowed(found: list[RuleViolation]) -> list[RuleViolation]:
    messages = {v.message for v in found}
    return [v for v in found if SHADOWED.get(v.message) not in messages]


def _network(spec: Any, kind: str) -> list[RuleViolation]:
    """The inference-level rules of a network, checked on every model and after every pass: its classifier or
    regressor interface, inputs and shape mapping, graph structure and per-layer rules."""
    return _nn_interface(spec, kind) + I.interface(spec) + G.structure(spec) + L.layer_params(spec)


def _nn_interface(spec: Any, kind: str) -> list[RuleViolation]:
    """A network classifier's or regressor's interface (rules 33-34)."""
    if kind == "neuralNetworkClassifier":
        return C.classifier(spec, spec.neuralNetworkClassifier)
    if kind == "neuralNetworkRegressor":
        return C.regressor(spec)
    return []


def is_ios12_layer(layer: Any) -> bool:
    """Whether Core ML ran ``layer`` in iOS 12 already; any other layer needs EXACT_ARRAY_MAPPING inputs."""
    return I.is_ios12_layer(layer)


def check(spec: Any, *, context: str = "model") -> None:
    """Raise :class:`ValidationError` listing every broken rule (nothing when the spec is valid)."""
    found = violations(spec)
    if not found:
        return
    if all(v.rule == "10" for v in found):
        raise BackpropRuleError(found, context=context)
    raise ValidationError(found, context=context)


def pass_structure(spec: Any) -> list[RuleViolation]:
    """What must hold after every pass: Core ML's inference structure, its per-layer rules, distinct layer names."""
    nn = S.nn_of(spec)
    out = F.generic(spec) + _network(spec, S.model_kind(spec))
    seen: set[str] = set()
    for layer in nn.layers:
        if layer.name in seen:
            out.append(RuleViolation("9", f"two layers are named '{layer.name}'", where=f"layer '{layer.name}'",
                                     fix="give every layer a distinct name"))
        seen.add(layer.name)
    return out


def structure_violations(spec: Any) -> list[RuleViolation]:
    """The inference-level rules Core ML checks before it runs a NeuralNetwork (rule 4), for runtimes."""
    return G.structure(spec) + L.layer_params(spec, L.RECURRENT_TYPES) if S.model_kind(spec) in S.NN_TYPES else []
