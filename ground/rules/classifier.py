"""Core ML's classifier and regressor interfaces and feature-type helpers (rules 33-34).

Apple's ``validateClassifierInterface`` / ``validateClassifierFeatureDescriptions`` /
``validateRegressorInterface`` (``Validators.hpp``, ``InterfaceValidators.cpp``) and the type helpers of
``ValidatorUtils-inl.hpp`` (``validateSchemaTypes``, ``validateDescriptionsContainFeatureWithNameAndType``,
``validateDescriptionsContainFeatureWithTypes``). Quoted messages are Apple's, word for word.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from ..errors import RuleViolation

FEATURE_TYPE_NAMES = {"int64Type": "MLFeatureTypeType_int64Type", "doubleType": "MLFeatureTypeType_doubleType",
                      "stringType": "MLFeatureTypeType_stringType", "imageType": "MLFeatureTypeType_imageType",
                      "multiArrayType": "MLFeatureTypeType_multiArrayType",
                      "dictionaryType": "MLFeatureTypeType_dictionaryType",
                      "sequenceType": "MLFeatureTypeType_sequenceType", "stateType": "MLFeatureTypeType_stateType"}
VECTORIZABLE = ("doubleType", "int64Type", "multiArrayType")


def type_name(kind: str | None) -> str:
    """How Apple prints a feature type (``MLFeatureTypeType_Name``)."""
    return FEATURE_TYPE_NAMES.get(kind or "", "MLFeatureTypeType_NOT_SET")


def schema_type(fd: Any, allowed: Sequence[str], rule: str, role: str = "feature") -> list[RuleViolation]:
    """Apple's ``validateSchemaTypes``: the feature's type is one of ``allowed``."""
    kind = fd.type.WhichOneof("Type")
    if kind in allowed:
        return []
    return [RuleViolation(rule, f"Unsupported type \"{type_name(kind)}\" for feature \"{fd.name}\". Should be one of: "
                                f"{', '.join(type_name(a) for a in allowed)}.", where=f"{role} '{fd.name}'",
                          fix=f"declare '{fd.name}' as {' or '.join(a[:-4] for a in allowed)}")]


def named_type(features: Iterable[Any], name: str, allowed: Sequence[str], rule: str) -> list[RuleViolation]:
    """Apple's ``validateDescriptionsContainFeatureWithNameAndType`` over the model's outputs."""
    for fd in features:
        if fd.name == name:
            return schema_type(fd, allowed, rule, "output")
    return [RuleViolation(rule, f"Expected feature '{name}' to the model is not present in the model description.",
                          where=f"output '{name}'", fix=f"declare an output named '{name}'")]


def types_with_count(features: Sequence[Any], max_count: int, allowed: Sequence[str], rule: str,
                     role: str) -> list[RuleViolation]:
    """Apple's ``validateDescriptionsContainFeatureWithTypes``: at most ``max_count`` features (0: any number),
    each of an allowed type."""
    if max_count and len(features) > max_count:
        return [RuleViolation(rule, f"Feature descriptions exceeded {max_count}", where=f"model {role}s",
                              fix=f"declare at most {max_count} {role}(s)")]
    return [v for fd in features for v in schema_type(fd, allowed, rule, role)]


def class_labels(params: Any, *, allow_empty: bool = False) -> tuple[list[RuleViolation], str | None]:
    """The class-label half of ``validateClassifierInterface``: (problems, 'int64' / 'string' / None)."""
    which = params.WhichOneof("ClassLabels")
    if which is None:
        if allow_empty:
            return [], None
        return [RuleViolation("33", "Classifier models must provide class labels.", where="class labels",
                              fix="set stringClassLabels or int64ClassLabels")], None
    kind = "int64" if which == "int64ClassLabels" else "string"
    if not allow_empty and not len(getattr(params, which).vector):
        shown = "Int64" if kind == "int64" else "String"
        return [RuleViolation("33", f"Classifier declared to have {shown} class labels must provide labels.",
                              where="class labels", fix="list the class labels")], kind
    return [], kind


def classifier(spec: Any, params: Any, *, allow_empty: bool = False, default_is_int64: bool = False,
               rule: str = "33") -> list[RuleViolation]:
    """Apple's ``validateClassifierInterface``: labels, then the predicted feature of the labels' type and
    the probabilities output (a dictionary, or an array Apple still lets through)."""
    out, kind = class_labels(params, allow_empty=allow_empty)
    is_int = kind == "int64" if kind else default_is_int64
    desc = spec.description
    if not desc.predictedFeatureName:
        return out + [RuleViolation(rule, "Specification is missing classifier predictedFeatureName",
                                    where="predictedFeatureName", fix="set predictedFeatureName to the label output")]
    out += named_type(desc.output, desc.predictedFeatureName, ("int64Type",) if is_int else ("stringType",), rule)
    if desc.predictedProbabilitiesName:
        out += named_type(desc.output, desc.predictedProbabilitiesName, ("multiArrayType", "dictionaryType"), rule)
        out += _probability_keys(desc, is_int, rule)
    return out


def _probability_keys(desc: Any, is_int: bool, rule: str) -> list[RuleViolation]:
    """Project check: the probabilities dictionary is keyed by the class labels' type (Apple leaves it to a
    TODO; Core ML fills the dictionary with the labels, so another key type cannot hold them)."""
    fd = next((f for f in desc.output if f.name == desc.predictedProbabilitiesName), None)
    if fd is None or fd.type.WhichOneof("Type") != "dictionaryType":
        return []
    key = fd.type.dictionaryType.WhichOneof("KeyType")
    want = "int64KeyType" if is_int else "stringKeyType"
    if key is None or key == want:
        return []
    return [RuleViolation(rule, f"project rule: the probabilities dictionary '{fd.name}' has {key[:-7]} keys but the "
                                f"class labels are {'Int64' if is_int else 'String'}", where=f"output '{fd.name}'",
                          fix=f"key the dictionary by {want[:-7]}", origin="project")]


def regressor(spec: Any, rule: str = "34") -> list[RuleViolation]:
    """Apple's ``validateRegressorInterface``: the predicted feature is a Double or MLMultiArray output."""
    desc = spec.description
    if not desc.predictedFeatureName:
        return [RuleViolation(rule, "Specification is missing regressor predictedFeatureName.",
                              where="predictedFeatureName", fix="set predictedFeatureName to the predicted output")]
    return named_type(desc.output, desc.predictedFeatureName, ("doubleType", "multiArrayType"), rule)


def nn_io_types(spec: Any, kind: str) -> list[RuleViolation]:
    """Apple's ``validateInputOutputTypes``: a network's inputs (and a plain network's outputs) are images,
    MLMultiArrays or states."""
    groups = [("inputs", spec.description.input)]
    if kind == "neuralNetwork":
        groups.append(("outputs", spec.description.output))
    out = []
    for what, group in groups:
        bad = [fd.name for fd in group if fd.type.WhichOneof("Type") not in ("imageType", "multiArrayType", "stateType")]
        if bad:
            out.append(RuleViolation("35", f"Neural Networks require {what} to be images, MLMultiArray, or State.",
                                     where=f"{what[:-1]} '{bad[0]}'" + (f" (and {len(bad) - 1} more)" if bad[1:] else ""),
                                     fix="declare it as an MLMultiArray (or an image)"
                                     + ("; a label or dictionary output needs a neuralNetworkClassifier"
                                        if what == "outputs" else "")))
    return out
