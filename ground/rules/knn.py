"""Core ML's rules for k-Nearest-Neighbors classifiers, checked on Linux.

Quoted messages are Apple's (``KNearestNeighborsClassifierValidator.cpp``, ``ParameterValidator.cpp``,
the classifier-interface checks of ``Validators.hpp`` / ``InterfaceValidators.cpp``), word for word
(including their slips: an unclosed quote, the sample count printed as a vector's length). Apple
stops at the first; this lists every one. Rule numbers continue coreml-update-rules.md (25-29).
"""
from __future__ import annotations

from typing import Any

from ..errors import RuleViolation

from . import classifier as C
from . import update as U

MIN_SPEC_VERSION = 4
WHERE = "kNearestNeighborsClassifier"


def _v(rule: str, message: str, fix: str, where: str = WHERE, origin: str = "apple") -> RuleViolation:
    return RuleViolation(rule, message, where=where, fix=fix, origin=origin)


def knn(spec: Any) -> list[RuleViolation]:
    """Every k-NN rule ``spec`` breaks, in Apple's order."""
    k = spec.kNearestNeighborsClassifier
    out = [RuleViolation(v.rule, v.message, WHERE + ", numberOfNeighbors", v.fix)
           for v in U._int_param("numberOfNeighbors", k.numberOfNeighbors, True, "25")]
    if k.WhichOneof("WeightingScheme") is None:
        out.append(_v("26", "KNearestNeighborsClassifier requires a weighting scheme to be set.",
                      "set uniformWeighting or inverseDistanceWeighting"))
    out += labels(spec)
    out += interface(spec)
    out += index(spec)
    out += project(spec)
    return out


def _label_count(k: Any) -> int:
    which = k.WhichOneof("ClassLabels")
    return len(getattr(k, which).vector) if which else 0


def labels_are_int(k: Any) -> bool:
    """The label type Apple expects: the class labels' type, else the default label's."""
    which = k.WhichOneof("ClassLabels")
    if which:
        return which == "int64ClassLabels"
    return k.WhichOneof("DefaultClassLabel") == "defaultInt64Label"


def labels(spec: Any) -> list[RuleViolation]:
    """Rule 27: the default label has the class labels' type; without labels a default is required."""
    k = spec.kNearestNeighborsClassifier
    which, default = k.WhichOneof("ClassLabels"), k.WhichOneof("DefaultClassLabel")
    expected = {"defaultStringLabel": "stringClassLabels", "defaultInt64Label": "int64ClassLabels"}
    if default and which and expected[default] != which:
        return [_v("27", "KNearestNeighborsClassifier's class label and default class label have different types.",
                   "give the default label the class labels' type (both Int64 or both String)")]
    if default is None and _label_count(k) == 0:
        return [_v("27", "KNearestNeighborsClassifier should specify default class labels when class labels are not "
                         "specified.", "set defaultStringLabel or defaultInt64Label")]
    return []


def interface(spec: Any) -> list[RuleViolation]:
    """Rule 28: a classifier interface whose labels may be empty (the label output of the labels' type, else
    of the default label's); the feature counts are :mod:`.features`' (every model type)."""
    k = spec.kNearestNeighborsClassifier
    return [RuleViolation(v.rule, v.message, where=f"{WHERE}, {v.where}" if v.where else WHERE, fix=v.fix,
                          origin=v.origin)
            for v in C.classifier(spec, k, allow_empty=True, default_is_int64=labels_are_int(k), rule="28")]


def index(spec: Any) -> list[RuleViolation]:
    """Rule 29: one label per stored example, examples of numberOfDimensions values, an index type
    (a kd-tree with a positive leaf size) and a distance function."""
    k = spec.kNearestNeighborsClassifier
    nn_index, expected, out = k.nearestNeighborsIndex, _label_count(k), []
    samples = len(nn_index.floatSamples)
    if samples == 0 and expected != 0:
        out.append(_v("29", "KNearestNeighborsClassifier has no data points.",
                      "store one example per class label, or remove the labels"))
    elif samples != expected:
        out.append(_v("29", f"Unexpected number of labels \"{expected}\" for the given number of examples: "
                            f"\"{samples}.", "store exactly one class label per example"))
    for i, v in enumerate(nn_index.floatSamples):
        if len(v.vector) != nn_index.numberOfDimensions:
            out.append(_v("29", f"Unexpected length \"{samples}\" given the provided number of dimensions "
                                f"\"{nn_index.numberOfDimensions}.", f"give example {i} numberOfDimensions values",
                          where=f"{WHERE}, example {i} ({len(v.vector)} values)"))
            break
    which = nn_index.WhichOneof("IndexType")
    if which is None:
        out.append(_v("29", "KNearestNeighborsClassifier has no index type specified.",
                      "set linearIndex or singleKdTreeIndex"))
    elif which == "singleKdTreeIndex" and nn_index.singleKdTreeIndex.leafSize <= 0:
        out.append(_v("29", "KNearestNeighborsClassifier requires leaf size to be a positive integer.",
                      "set the kd-tree's leafSize to 1 or more (30 is usual)"))
    if nn_index.WhichOneof("DistanceFunction") is None:
        out.append(_v("29", "KNearestNeighborsClassifier requires a distance function to be set.",
                      "set squaredEuclideanDistance"))
    return out


def project(spec: Any) -> list[RuleViolation]:
    """Stricter checks (not Apple's validator): coremltools' minimum version for k-NN, and the training
    inputs MLUpdateTask needs to append examples (the embedding and the label)."""
    out = []
    if spec.specificationVersion < MIN_SPEC_VERSION:
        out.append(_v("25", f"coremltools: a k-NN classifier needs specification version {MIN_SPEC_VERSION} (iOS 13) "
                            f"or above, this one has {spec.specificationVersion}",
                      f"set specificationVersion to {MIN_SPEC_VERSION}", origin="coremltools"))
    if spec.isUpdatable:
        desc = spec.description
        names = {fd.name for fd in desc.trainingInput}
        missing = [fd.name for fd in desc.input if fd.name not in names]
        if desc.predictedFeatureName and desc.predictedFeatureName not in names:
            missing.append(desc.predictedFeatureName)
        if missing:
            out.append(_v("25", f"project rule: an updatable k-NN needs its input and label as training inputs; "
                                f"missing {missing}", "declare the embedding input and the label as training inputs",
                          where=f"{WHERE} training inputs", origin="project"))
    return out
