"""Core ML's rules for updatable models, checked on Linux: the project's only copy of Apple's rules and messages.

Numbered as in the project's rules document (Core ML's ``mlmodel/src/Validation/`` sources).

:func:`violations` lists every broken rule of any ``.mlmodel`` spec (Core ML itself stops at the first);
:func:`check` raises :class:`ValidationError` (or :class:`BackpropRuleError` when only the
back-propagation rule is broken) listing all of them. A model that is not updatable gets only the
inference-level checks Core ML would run on it; a pipeline gets its own rules (feature types along it,
which model may be updatable, names, training inputs: :mod:`.pipeline`) and its sub-models' checks; a
k-NN classifier (:mod:`.knn`) and a linked model get theirs.
"""
from __future__ import annotations

from typing import Any

from ..errors import BackpropRuleError, RuleViolation, ValidationError

from . import graph as G
from . import knn as K
from . import pipeline as P
from . import recurrent as R
from . import interface as I
from . import update as U
from .. import nn_spec as S

UPDATABLE_MODEL_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor",
                         "kNearestNeighborsClassifier", "pipeline", "pipelineClassifier", "pipelineRegressor")
MIN_UPDATABLE_VERSION = 4


def violations(spec: Any) -> list[RuleViolation]:
    """Every rule ``spec`` breaks, in the order Core ML checks them."""
    out: list[RuleViolation] = []
    kind = S.model_kind(spec)
    if spec.isUpdatable:
        if spec.specificationVersion < MIN_UPDATABLE_VERSION:
            out.append(RuleViolation("1", "Model specification version for an updatable model must be '4' or above.",
                                     fix="set specificationVersion to 4 or more"))
        if kind not in UPDATABLE_MODEL_TYPES:
            out.append(RuleViolation("2", "This model type is not supported for on-device update.",
                                     where=f"model type '{kind or 'unset'}'",
                                     fix="only NeuralNetwork, k-NN classifier and pipeline models can be updatable"))
    if kind in S.PIPELINE_TYPES:
        out += P.pipeline(spec, violations)
    elif kind == "kNearestNeighborsClassifier":
        out += K.knn(spec)
    elif kind == "linkedModel":
        out += P.linked_model(spec)
    elif kind in S.NN_TYPES:
        out += I.interface(spec) + G.structure(spec) + R.recurrent(spec)
        if spec.isUpdatable:
            out += G.layers(spec) + U.loss(spec) + U.update_params(spec) + G.backprop(spec)
            out += U.training_inputs(spec)
    return out


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
    """What must hold after every pass: Core ML's inference structure plus distinct layer names."""
    nn = S.nn_of(spec)
    out = I.interface(spec) + G.structure(spec) + R.recurrent(spec)
    seen: set[str] = set()
    for layer in nn.layers:
        if layer.name in seen:
            out.append(RuleViolation("9", f"two layers are named '{layer.name}'", where=f"layer '{layer.name}'",
                                     fix="give every layer a distinct name"))
        seen.add(layer.name)
    return out


def structure_violations(spec: Any) -> list[RuleViolation]:
    """The inference-level rules Core ML checks before it runs a NeuralNetwork (rule 4), for runtimes."""
    return G.structure(spec) + R.recurrent(spec) if S.model_kind(spec) in S.NN_TYPES else []
