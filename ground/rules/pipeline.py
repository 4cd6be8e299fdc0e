"""Core ML's rules for pipelines and linked models, checked on Linux.

Quoted messages are Apple's (``PipelineValidator.cpp``, ``LinkedModelValidator.cpp``), word for word
(including their slips: "does not present", a missing quote), so a user can search for them. Rule
numbers continue coreml-update-rules.md (3: which sub-model may be updatable; 20-23 here).
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import RuleViolation

from .. import nn_spec as S

MODEL_DESCRIPTION = "CoreML.Specification.ModelDescription"
"""What Apple's message prints as the model's name (``model.description().GetTypeName()``)."""


def equivalent_types(a: Any, b: Any) -> bool:
    """Apple's ``isEquivalent`` on two FeatureTypes (optionality ignored, as Apple does for pipelines)."""
    kind = a.WhichOneof("Type")
    if kind != b.WhichOneof("Type"):
        return False
    if kind == "multiArrayType":
        x, y = a.multiArrayType, b.multiArrayType
        if x.dataType != y.dataType or _rank(x) != _rank(y):
            return False
        flexible = x.WhichOneof("ShapeFlexibility") or y.WhichOneof("ShapeFlexibility")
        return bool(flexible) or list(x.shape) == list(y.shape)
    if kind == "dictionaryType":
        return a.dictionaryType.WhichOneof("KeyType") == b.dictionaryType.WhichOneof("KeyType")
    if kind == "imageType":
        x, y = a.imageType, b.imageType
        return (x.width, x.height, x.colorSpace) == (y.width, y.height, y.colorSpace)
    if kind == "sequenceType":
        return a.sequenceType.WhichOneof("Type") == b.sequenceType.WhichOneof("Type")
    return True


def _rank(t: Any) -> int:
    which = t.WhichOneof("ShapeFlexibility")
    if which == "enumeratedShapes":
        return len(t.enumeratedShapes.shapes[0].shape) if t.enumeratedShapes.shapes else 0
    if which == "shapeRange":
        return len(t.shapeRange.sizeRanges)
    return len(t.shape)


def feature_types(spec: Any) -> list[RuleViolation]:
    """Rules 20-21: every sub-model's inputs come, with the same type, from the pipeline's inputs or an
    earlier model's outputs; the pipeline's outputs are produced, with the same type."""
    out: list[RuleViolation] = []
    known = {fd.name: fd for fd in spec.description.input}
    for i, model in enumerate(S.sub_models(spec)):
        for fd in model.description.input:
            where = f"pipeline model {i}, input '{fd.name}'"
            if fd.name not in known:
                out.append(RuleViolation(
                    "20", f"Pipeline: the input '{fd.name}' of model '{MODEL_DESCRIPTION}' does not present in "
                    "pipeline input or previous model.", where=where,
                    fix="name the input after a pipeline input or an output of an earlier model"))
            elif not equivalent_types(fd.type, known[fd.name].type):
                out.append(RuleViolation(
                    "20", f"Pipeline: the input '{fd.name}' of model '{MODEL_DESCRIPTION}' does not match the type "
                    "previously specified by the pipeline input or the output of a previous model. For the second "
                    "case, make sure the input and previous model's output has the matching name and shapes.",
                    where=where, fix=f"give '{fd.name}' the same type and shape in both places"))
        for fd in model.description.output:
            known[fd.name] = fd
    for fd in spec.description.output:
        where = f"pipeline output '{fd.name}'"
        if fd.name not in known:
            out.append(RuleViolation("21", f"Pipeline output '{fd.name}' not present in pipeline input or a contained "
                                           "model.", where=where, fix="declare only outputs a sub-model produces"))
        elif not equivalent_types(fd.type, known[fd.name].type):
            out.append(RuleViolation("21", f"Type of pipeline output '{fd.name}' does not match type produced in "
                                           "pipeline input.", where=where,
                                     fix="declare the output with the type its model produces"))
    return out


def updatable_order(spec: Any) -> list[RuleViolation]:
    """Rule 3: in an updatable pipeline only (and exactly) the last model is updatable."""
    models, out = S.sub_models(spec), []
    if spec.isUpdatable:
        for i, m in enumerate(models[:-1]):
            if m.isUpdatable:
                out.append(RuleViolation("3", f"Only the last model in the pipeline can be updatable. Model at position "
                                              f"'{i}' is marked as updatable.", where=f"pipeline model {i}",
                                         fix="freeze every sub-model but the last"))
        if models and not models[-1].isUpdatable:
            out.append(RuleViolation("3", "Last model in an updatable pipeline model should be marked as updatable.",
                                     where=f"pipeline model {len(models) - 1}", fix="mark the last sub-model updatable"))
    else:
        for i, m in enumerate(models):
            if m.isUpdatable:
                out.append(RuleViolation("3", f"Found an updatable model at '{i}' inside a non-updatable pipeline.",
                                         where=f"pipeline model {i}",
                                         fix="mark the pipeline updatable too, or freeze the sub-model"))
    return out


def names(spec: Any) -> list[RuleViolation]:
    """Rule 22: pipeline model names, when given, one per model and distinct."""
    kind = S.model_kind(spec)
    pipe = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
    given, n_models = list(pipe.names), len(pipe.models)
    if not given:
        return []
    if len(given) != n_models:
        return [RuleViolation("22", f"The number of pipeline model names '{len(given)}' doesn't match the number of "
                                    f"models '{n_models}'", fix="give one name per sub-model, or none")]
    seen: set[str] = set()
    for i, name in enumerate(given):
        if name in seen:
            return [RuleViolation("22", f"Pipeline model name '{name}' at index '{i} has already been used for "
                                        "previous models", fix="give every sub-model a distinct name")]
        seen.add(name)
    return []


def training_inputs(spec: Any) -> list[RuleViolation]:
    """Project rule 23: an updatable pipeline declares the training inputs its last model needs, each one
    a pipeline input or the last model's own target (MLUpdateTask feeds the pipeline's training inputs)."""
    models = S.sub_models(spec)
    if not spec.isUpdatable or not models:
        return []
    declared = {fd.name for fd in spec.description.trainingInput}
    inputs = {fd.name for fd in spec.description.input}
    produced = {fd.name for m in models[:-1] for fd in m.description.output} | inputs
    out = []
    for fd in models[-1].description.trainingInput:
        if fd.name not in produced and fd.name not in declared:
            out.append(RuleViolation(
                "23", f"project rule: the last model trains on '{fd.name}', which is not among the pipeline's training "
                "inputs", where="pipeline training inputs", origin="project",
                fix=f"declare '{fd.name}' as a training input of the pipeline"))
    if not declared & inputs:
        out.append(RuleViolation("23", "project rule: the pipeline's training inputs include none of its inputs",
                                 where="pipeline training inputs", origin="project",
                                 fix="declare the pipeline input(s) the last model depends on as training inputs"))
    return out


def pipeline(spec: Any, sub_violations: Callable[[Any], list[RuleViolation]]) -> list[RuleViolation]:
    """All pipeline rules, then each sub-model's own (``sub_violations``), prefixed with its position."""
    models = S.sub_models(spec)
    if not models:
        return [RuleViolation("3", "Pipeline must contain one or more models.", fix="add the sub-models")]
    out = feature_types(spec) + updatable_order(spec) + names(spec) + training_inputs(spec)
    for i, m in enumerate(models):
        for v in sub_violations(m):
            where = f"pipeline model {i}" + (f", {v.where}" if v.where else "")
            out.append(RuleViolation(v.rule, v.message, where, v.fix, v.origin))
    return out


def linked_model(spec: Any) -> list[RuleViolation]:
    """Rule 24 (Apple's ``LinkedModelValidator``): not updatable, a link type and a file name set."""
    out = []
    if spec.isUpdatable:
        out.append(RuleViolation("24", "LinkedModel cannot be marked as updatable", where="linkedModel",
                                 fix="leave the link frozen; make the pipeline's last model updatable instead"))
    if spec.linkedModel.WhichOneof("LinkType") is None:
        out.append(RuleViolation("24", "LinkedModel.LinkType not set.", where="linkedModel",
                                 fix="set linkedModelFile"))
    elif not spec.linkedModel.linkedModelFile.linkedModelFileName.defaultValue:
        out.append(RuleViolation("24", "LinkedModel.linkedModelFile.linkedModeFileName.defaultValue cannot be empty.",
                                 where="linkedModel", fix="name the linked model file, e.g. Extractor.mlmodelc"))
    return out
