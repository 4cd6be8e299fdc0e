"""Core ML's model-level rules for every model type: the specification version, the feature descriptions
and optional features (rules 30-32).

Apple's ``Model::validateGeneric`` (``Model.cpp``) runs these before any model type's own validator:
the version field, ``validateModelDescription`` / ``validateFeatureDescription``
(``InterfaceValidators.cpp``, ``Validators.hpp``) and ``validateOptional``. Quoted messages are Apple's,
word for word (their slips too: "verison", "mistmatch", "×"). Apple stops at the first problem; this
lists one per feature and check.
"""
from __future__ import annotations

from typing import Any

from ..errors import RuleViolation

from .. import nn_spec as S
from .interface import new_layers

IOS12, IOS13, IOS14, IOS16, IOS18, IOS26 = 3, 4, 5, 7, 9, 10
NEWEST = IOS26
"""``MLMODEL_SPECIFICATION_VERSION_NEWEST`` of the validator read (coremltools ``e0e2f42b``, Globals.hpp)."""

FLOAT32, DOUBLE, INT32, INT8, FLOAT16 = 65568, 65600, 131104, 131080, 65552
GRAYSCALE, RGB, BGR, GRAYSCALE_FLOAT16 = 10, 20, 30, 40
EMPTY_INPUT_TYPES = S.NN_TYPES + S.PIPELINE_TYPES + ("mlProgram",)
"""``Model::modelTypeAllowsEmptyInput``."""
DEFAULT_VALUE_TYPES = S.NN_TYPES + ("serializedModel", "mlProgram")
ANY_OPTIONAL_INPUT = ("imputer", "treeEnsembleRegressor", "treeEnsembleClassifier", "itemSimilarityRecommender",
                      "identity") + S.PIPELINE_TYPES
OPTIONAL_NN = S.NN_TYPES + ("serializedModel", "mlProgram")


def _v(rule: str, message: str, where: str, fix: str) -> RuleViolation:
    return RuleViolation(rule, message, where=where, fix=fix)


def version(spec: Any) -> list[RuleViolation]:
    """Rule 30: the specification version is set and not newer than Core ML knows."""
    v = spec.specificationVersion
    if v == 0:
        return [_v("30", "Model specification version field missing or corrupt.", "specificationVersion",
                   "set specificationVersion (4 for an updatable NeuralNetwork)")]
    if v > NEWEST:
        return [_v("30", f"The model supplied is of version {v}, intended for a newer version of Xcode. This version "
                         f"of Xcode supports model version {NEWEST} or earlier.", "specificationVersion",
                   f"set specificationVersion to {NEWEST} or lower (the lowest that holds the model's features)")]
    return []


def description(spec: Any) -> list[RuleViolation]:
    """Rule 31: ``validateModelDescription`` with the model type's policy (empty inputs, functions)."""
    desc, kind, v = spec.description, S.model_kind(spec), spec.specificationVersion
    if len(desc.functions) or desc.defaultFunctionName:
        out = [_v("31", m, "model description", "describe the features at the top level (one function)") for m in (
            ["Multi-function model must not use top level input feature description."] * bool(len(desc.input)) +
            ["Multi-function model must not use top level output feature description."] * bool(len(desc.output)))]
        if kind != "mlProgram":
            out.append(_v("31", "This model type doesn't support multi-function syntax.", "model description",
                          "only ML Programs have functions: clear functions and defaultFunctionName"))
        return out
    out = []
    if not len(desc.input):
        if kind not in EMPTY_INPUT_TYPES:
            out.append(_v("31", "Models must have one or more inputs.", "model description", "declare the inputs"))
        elif v < IOS18:
            out.append(_v("31", f"Empty input is only valid in specification verison >= {IOS18}. This model has "
                                f"version {v}", "model description",
                          "declare the model's inputs"))
    if not len(desc.output):
        out.append(_v("31", "Models must have one or more outputs.", "model description", "declare the outputs"))
    for role, group in (("input", desc.input), ("output", desc.output), ("state", desc.state)):
        for fd in group:
            problem = feature(fd, v, role)
            if problem:
                out.append(_v("31", problem[0], f"{role} '{fd.name}'", problem[1]))
    return out


def feature(fd: Any, v: int, role: str = "input") -> tuple[str, str] | None:
    """Apple's ``validateFeatureDescription``: the first problem of one feature (message, fix), or None."""
    name = fd.name
    if not name:
        return "Feature description must have a non-empty name.", "name every feature"
    if not fd.HasField("type"):
        return f"Feature description {name} must specify a valid feature type.", "give the feature a type"
    which = fd.type.WhichOneof("Type")
    if which == "stateType":
        if role not in ("state", "input"):
            return (f"State feature '{name}' should only be declared in the state feature description.",
                    "declare the state among the model's states")
    elif role == "state":
        return (f"State feature description can declare only state features, but '{name}' is not.",
                "declare it as an input or output")
    if which is None:
        return (f"Feature description has an unspecified or invalid type for feature '{name}'.",
                "give the feature a type")
    if which == "multiArrayType":
        return _array(fd.type.multiArrayType, name, v, role)
    if which == "imageType":
        return _image(fd.type.imageType, name, v)
    if which == "dictionaryType" and fd.type.dictionaryType.WhichOneof("KeyType") is None:
        return (f"Description of dictionary feature '{name}' must contain a key type of either Int64 or String.",
                "set the dictionary's key type")
    if which == "sequenceType":
        return _sequence(fd.type.sequenceType, name, v)
    if which == "stateType":
        return _state(fd.type, name, v)
    return None


def _range_problem(r: Any) -> str | None:
    """Apple's ``validateSizeRange``."""
    if r.upperBound > 0 and r.lowerBound > r.upperBound:
        return f"Size range is invalid ({r.lowerBound}, {r.upperBound} )."
    return None


def _array(t: Any, name: str, v: int, role: str) -> tuple[str, str] | None:
    head = f"Description of multiarray feature '{name}'"
    shape, flex = list(t.shape), t.WhichOneof("ShapeFlexibility")
    if v >= IOS12 and flex == "enumeratedShapes":
        shapes = [list(s.shape) for s in t.enumeratedShapes.shapes]
        if not shapes:
            return f"{head} has enumerated zero permitted sizes.", "list the permitted shapes"
        if any(not s for s in shapes):
            return f"{head} has enumerated shapes with zero dimensions.", "give every enumerated shape its dimensions"
        if shape and shape not in shapes:
            return (f"{head} has a default shape specified  which is not within the allowed enumerated shapes "
                    "specified.", "make the default shape one of the enumerated shapes")
    elif v >= IOS12 and flex == "shapeRange":
        ranges = list(t.shapeRange.sizeRanges)
        for i, r in enumerate(ranges):
            bad = _range_problem(r)
            if bad:
                return f"{head} has an invalid range for dimension {i}. {bad}", "give each range lowerBound <= upperBound"
        if shape and len(shape) != len(ranges):
            return (f"{head} has a default {len(shape)}-d shape but a {len(ranges)}-d shape range",
                    "give the shape range one range per dimension of the default shape")
        if shape and any(d < r.lowerBound or (r.upperBound >= 0 and d > r.upperBound) for d, r in zip(shape, ranges)):
            return (f"{head} has a default shape that is out of the specified shape range",
                    "choose a default shape inside the range")
    if role == "input" and not shape and not (v >= IOS12 and flex):
        return f"{head} has missing shape constraints.", "declare the input's shape"
    for i, d in enumerate(shape):
        if d < 0:
            return (f"{head} has an invalid shape. Element {i} has non-positive value {d}.",
                    "declare non-negative dimensions")
    dt = t.dataType
    if dt == FLOAT16 and v < IOS16:
        return (f"{head} has FLOAT16 dataType, which is only valid in specification version >= {IOS16}. This model "
                f"has version {v}", f"set specificationVersion to {IOS16} or more, or use FLOAT32")
    if dt == INT8 and v < IOS26:
        return (f"{head} has INT8 dataType, which is only valid in specification version >= {IOS26}. This model "
                f"has version {v}", f"set specificationVersion to {IOS26}, or use INT32")
    if dt not in (FLOAT32, DOUBLE, INT32, FLOAT16, INT8):
        return (f"{head} has an invalid or unspecified dataType. It must be specified as DOUBLE, FLOAT32, FLOAT16 or "
                "INT32", "set dataType (FLOAT32)")
    default = t.WhichOneof("defaultOptionalValue")
    mismatch = (f"{head} has mistmatch between dataType and the type of default optional value.",
                "give the default value the array's data type (floatDefaultValue for FLOAT32)")
    if default == "doubleDefaultValue" and dt != DOUBLE:
        return mismatch
    if default == "floatDefaultValue" and dt not in (FLOAT32, FLOAT16):
        return mismatch
    if default == "intDefaultValue":
        if dt == INT8 and not -128 <= t.intDefaultValue <= 127:
            return (f"The default optional value of multiarray feature '{name}' is {t.intDefaultValue}, which is out "
                    "of range for the data type INT8.", "choose a default in [-128, 127]")
        if dt not in (INT32, INT8):
            return mismatch
    return None


def _image(t: Any, name: str, v: int) -> tuple[str, str] | None:
    head = f"Description of image feature '{name}'"
    width, height = t.width, t.height
    has_default = width > 0 and height > 0
    flex = t.WhichOneof("SizeFlexibility") if v >= IOS12 else None
    if flex == "enumeratedSizes":
        sizes = [(s.width, s.height) for s in t.enumeratedSizes.sizes]
        if not sizes:
            return f"{head} has enumerated zero permitted sizes.", "list the permitted sizes"
        if not has_default:
            width, height = sizes[0]
        elif (width, height) not in sizes:
            return (f"{head} has a default size of {width} × {height} which is not within the allowed enumerated "
                    "sizes specified.", "make the default size one of the enumerated sizes")
    elif flex == "imageSizeRange":
        wr, hr = t.imageSizeRange.widthRange, t.imageSizeRange.heightRange
        for side, r in (("width", wr), ("height", hr)):
            bad = _range_problem(r)
            if bad:
                return (f"{head} has an invalid flexible {side} range. {bad}", f"give the {side} range lowerBound <= "
                        "upperBound")
        if not has_default:
            width, height = wr.lowerBound, hr.lowerBound
        else:
            for side, d, r in (("width", width, wr), ("height", height, hr)):
                if d < r.lowerBound or (r.upperBound >= 0 and d > r.upperBound):
                    return (f"{head} default {side} {d} is not within specified flexible {side} range",
                            f"choose a default {side} inside the range")
    if width <= 0:
        return f"{head} has missing or non-positive width {t.width}.", "set the image's width"
    if height <= 0:
        return f"{head} has missing or non-positive height {t.height}.", "set the image's height"
    if t.colorSpace == GRAYSCALE_FLOAT16 and v < IOS16:
        return (f"{head} has GRAYSCALE_FLOAT16 colorspace, which is only valid in specification version >= {IOS16}. "
                f"This model has version {v}", f"set specificationVersion to {IOS16} or more, or use GRAYSCALE")
    if t.colorSpace not in (GRAYSCALE, RGB, BGR, GRAYSCALE_FLOAT16):
        return (f"{head} has missing or invalid colorspace. It must be RGB, BGR or GRAYSCALE.",
                "set colorSpace to GRAYSCALE, RGB or BGR")
    return None


def _sequence(t: Any, name: str, v: int) -> tuple[str, str] | None:
    if v < IOS12:
        return (f"Sequence types are only valid in specification verison >= {IOS12}. This model has version {v}",
                f"set specificationVersion to {IOS12} or more")
    bad = _range_problem(t.sizeRange)
    if bad:
        return (f"Description of sequence feature '{name}' has invalid allowed sizes. {bad}",
                "give the size range lowerBound <= upperBound")
    if t.WhichOneof("Type") is None:
        return (f"Description of sequence feature '{name}' has invalid or missing type. Only Int64 and String "
                "sequences are currently supported", "set int64Type or stringType")
    return None


def _state(ft: Any, name: str, v: int) -> tuple[str, str] | None:
    head = f"Description of State feature '{name}'"
    a = ft.stateType.arrayType
    if v < IOS18:
        return (f"State types are only valid in specification verison >= {IOS18}. This model has version {v}",
                f"set specificationVersion to {IOS18} or more")
    if ft.isOptional:
        return f"State feature '{name}' cannot be optional.", "clear isOptional"
    if not len(a.shape):
        return f"{head} has missing shape constraints.", "declare the state's shape"
    for i, d in enumerate(a.shape):
        if d < 0:
            return f"{head} has an invalid shape. Element {i} has non-positive value {d}.", "declare its dimensions"
    if a.dataType not in (FLOAT16, INT8):
        return f"{head} has an invalid or unspecified dataType. It must be specified as FLOAT16", "use FLOAT16"
    if a.WhichOneof("ShapeFlexibility"):
        return f"State feature '{name}' cannot have flexible shape.", "give the state a fixed shape"
    if a.WhichOneof("defaultOptionalValue"):
        return f"State feature '{name}' cannot have default optional value.", "clear the default value"
    return None


def optional(spec: Any) -> list[RuleViolation]:
    """Rule 32: Apple's ``validateOptional``: default values (neural networks, version 5+), which model types
    take optional inputs, and no optional output."""
    desc, kind, out = spec.description, S.model_kind(spec), []
    for fd in desc.input:
        if fd.type.isOptional and fd.type.multiArrayType.WhichOneof("defaultOptionalValue"):
            if kind not in DEFAULT_VALUE_TYPES:
                out.append(_v("32", "Default optional values are only allowed for neural networks.",
                              f"input '{fd.name}'", "clear the input's default value"))
            elif spec.specificationVersion < IOS14:
                out.append(_v("32", "Default value for optional inputs is supported from specification 5 (iOS 14) "
                                    "onwards!", f"input '{fd.name}'", f"set specificationVersion to {IOS14} or more"))
    if kind in OPTIONAL_NN:
        if len(desc.input) and all(fd.type.isOptional and fd.type.WhichOneof("Type") != "stateType"
                                   for fd in desc.input):
            out.append(_v("32", "At least one feature for a neural network must NOT be optional.", "model inputs",
                          "make at least one input non-optional"))
    elif kind not in ANY_OPTIONAL_INPUT:
        for fd in desc.input:
            if fd.type.isOptional:
                out.append(_v("32", "Features cannot be optional to this type of model.", f"input '{fd.name}'",
                              "clear isOptional on the input"))
                break
    for fd in desc.output:
        if fd.type.isOptional:
            out.append(_v("32", "Outputs cannot be optional.", f"output '{fd.name}'", "clear isOptional on the output"))
    return out


def training_features(spec: Any) -> list[RuleViolation]:
    """Rule 31 (project): training inputs are described as well as inputs are (Apple checks their names and
    types in ``validateTrainingInputs``; a nameless or typeless one cannot be fed by MLUpdateTask)."""
    out = []
    for fd in spec.description.trainingInput:
        if not fd.name or fd.type.WhichOneof("Type") is None:
            problem = feature(fd, spec.specificationVersion, "training input")
            if problem:
                out.append(RuleViolation("31", problem[0], where=f"training input '{fd.name}'", fix=problem[1],
                                         origin="project"))
    return out


def generic(spec: Any) -> list[RuleViolation]:
    """``Model::validateGeneric`` for any model type (the updatable-model rules 1-2 are in ``__init__``)."""
    return version(spec) + description(spec) + training_features(spec) + optional(spec)


IOS_NAMES = {3: "iOS 12", 4: "iOS 13"}
IOS12_MODEL_TYPES = ("customModel", "textClassifier", "wordTagger", "visionFeaturePrint", "nonMaximumSuppression",
                     "bayesianProbitRegressor")
IOS13_MODEL_TYPES = ("kNearestNeighborsClassifier", "linkedModel", "itemSimilarityRecommender",
                     "soundAnalysisPreprocessing")


def _needs(model: Any) -> list[tuple[int, str]]:
    """(version, what) for the features of ``model`` itself that coremltools' ``hasIOS12Features`` /
    ``hasIOS13Features`` (``Utils.cpp``) date (updatable models and the version-gated feature types are
    Apple's own checks: rule 1, rule 31)."""
    kind, out = S.model_kind(model), []
    for fd in list(model.description.input) + list(model.description.output):
        which = fd.type.WhichOneof("Type")
        if which == "multiArrayType" and fd.type.multiArrayType.WhichOneof("ShapeFlexibility"):
            out.append((IOS12, f"a flexible shape (feature '{fd.name}')"))
        elif which == "imageType" and fd.type.imageType.WhichOneof("SizeFlexibility"):
            out.append((IOS12, f"a flexible image size (feature '{fd.name}')"))
    if kind in IOS12_MODEL_TYPES:
        out.append((IOS12, f"a {kind} model"))
    if kind in IOS13_MODEL_TYPES:
        out.append((IOS13, f"a {kind} model"))
    if kind in S.NN_TYPES:
        nn = getattr(model, kind)
        newer = new_layers(nn)
        if newer:
            out.append((IOS13, f"layer '{newer[0]}', a layer added in iOS 13"))
        elif nn.arrayInputShapeMapping or nn.imageInputShapeMapping:
            out.append((IOS13, "an input shape mapping added in iOS 13"))
    for sub in S.sub_models(model):
        out += [(n, f"{what} in a sub-model") for n, what in _needs(sub)]
    return out


def versions_needed(spec: Any) -> list[RuleViolation]:
    """Rule 37 (coremltools): the declared specification version is at least the one the model's features
    need, as coremltools' ``downgradeSpecificationVersion`` computes it. Core ML's validator does not check
    this; an older OS that the declared version admits loads the model and then fails on the feature."""
    v = spec.specificationVersion
    if not v:
        return []
    needed = [(n, what) for n, what in _needs(spec) if n > v]
    if not needed:
        return []
    n, what = max(needed)
    return [RuleViolation("37", f"coremltools: the model uses {what}, which needs specification version {n} "
                                f"({IOS_NAMES[n]}) or above; it declares version {v}", where="specificationVersion",
                          fix=f"set specificationVersion to {n}", origin="coremltools")]
