"""Core ML's rules for the other model types a pipeline may hold before an updatable network (rule 36).

None of these can be updatable (rule 2); a pipeline may still put a scaler, a one-hot encoder, a GLM,
an SVM or a Vision feature print in front of its updatable last model, and Core ML
refuses the whole pipeline when one of them is broken. Each function restates the static part of its
validator (``LinearModelValidator.cpp``, ``SVMValidator.cpp``, ``ScalarValidator.cpp``, ...): feature
counts and types, and the parameter fields that can be read without running the model. Quoted messages
are Apple's, word for word (their slips too: "imput", "tha", "Vectores"). Apple stops at the first
problem of a model; this lists each independent one.
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import RuleViolation

from . import classifier as C

R = "36"
NUMBERS = ("int64Type", "doubleType", "multiArrayType")


def _v(kind: str, message: str, fix: str) -> RuleViolation:
    return RuleViolation(R, message, where=kind, fix=fix)


def _io(spec: Any, n_in: int, ins: tuple[str, ...], n_out: int, outs: tuple[str, ...]) -> list[RuleViolation]:
    desc = spec.description
    return (C.types_with_count(desc.input, n_in, ins, R, "input")
            + C.types_with_count(desc.output, n_out, outs, R, "output"))


def glm_regressor(spec: Any) -> list[RuleViolation]:
    m, out = spec.glmRegressor, C.regressor(spec, R)
    out += [v for fd in spec.description.input for v in C.schema_type(fd, ("doubleType", "multiArrayType",
                                                                             "int64Type"), R, "input")]
    out += [v for fd in spec.description.output for v in C.schema_type(fd, ("doubleType",), R, "output")]
    if len(m.weights) != len(m.offset):
        out.append(_v("glmRegressor", "Weights and offsets must be the same size.", "give one offset per weight vector"))
    if len({len(w.value) for w in m.weights}) > 1:
        out.append(_v("glmRegressor", "All weight coefficients must be the same size.",
                      "give every weight vector one value per input feature"))
    return out


def glm_classifier(spec: Any) -> list[RuleViolation]:
    m, k = spec.glmClassifier, "glmClassifier"
    out = C.classifier(spec, m, rule=R) + [v for fd in spec.description.input
                                           for v in C.schema_type(fd, C.VECTORIZABLE, R, "input")]
    if m.postEvaluationTransform not in (0, 1):
        out.append(_v(k, "Invalid post evaluation transform", "use Logit or Probit"))
    if m.classEncoding not in (0, 1):
        out.append(_v(k, "Invalid class encoding", "use ReferenceClass or OneVsRest"))
    n = len(m.weights)
    if n == 0:
        return out + [_v(k, "The number of DoubleArrays in weights must be greater than zero", "give the weights")]
    if n != len(m.offset):
        out.append(_v(k, "The number of DoubleArrays in weights must match number of offsets",
                      "give one offset per weight vector"))
    which = m.WhichOneof("ClassLabels")
    classes = len(getattr(m, which).vector) if which else -1
    if m.classEncoding == 0:
        if classes != -1 and n != classes - 1:
            out.append(_v(k, "With ReferenceClass encoding the number of DoubleArrays in weights must be one less than "
                             "number of classes", f"give {classes - 1} weight vectors"))
    elif classes == 2 and n != 1:
        out.append(_v(k, "When using OneVsRest encoding for only two classes, the number of DoubleArrays in weights "
                         "must be one", "give one weight vector"))
    elif classes not in (-1, 2) and n != classes:
        out.append(_v(k, "With OneVsRest encoding the number of DoubleArrays in weights must equal the number of "
                         "classes", f"give {classes} weight vectors"))
    if classes > 2 and m.postEvaluationTransform == 1:
        out.append(_v(k, "Probit post evaluation transform is only supported for binary classification", "use Logit"))
    if not len(m.weights[0].value):
        out.append(_v(k, "Weight DoubleArrays must have nonzero length", "give the weights their values"))
    elif len({len(w.value) for w in m.weights}) > 1:
        out.append(_v(k, "Weight DoubleArrays must have the same length", "give every weight vector one length"))
    return out


def _kernel(kernel: Any, k: str) -> list[RuleViolation]:
    which = kernel.WhichOneof("kernel")
    if which is None:
        return [_v(k, "You must specify a supported kernel type", "set a linear, RBF, polynomial or sigmoid kernel")]
    params = getattr(kernel, which)
    if which in ("polyKernel", "rbfKernel", "sigmoidKernel") and params.gamma < 0:
        return [_v(k, "Gamma must be greater than or equal to zero", "set gamma >= 0")]
    if which == "polyKernel" and params.degree < 0:
        return [_v(k, "Degree must be greater than or equal to zero", "set degree >= 0")]
    return []


def _support_vectors(m: Any) -> int | None:
    which = m.WhichOneof("supportVectors")
    return len(getattr(m, which).vectors) if which else None


def svm_regressor(spec: Any) -> list[RuleViolation]:
    m, k = spec.supportVectorRegressor, "supportVectorRegressor"
    out = [v for fd in spec.description.input for v in C.schema_type(fd, C.VECTORIZABLE, R, "input")]
    out += C.regressor(spec, R) + _kernel(m.kernel, k)
    total = _support_vectors(m)
    if total is None:
        return out + [_v(k, "Must specify sparse or dense support vectors", "set the support vectors")]
    if len(m.coefficients.alpha) != total:
        out.append(_v(k, "The number of coefficients must match the number of support vectors.",
                      "give one coefficient per support vector"))
    return out


def svm_classifier(spec: Any) -> list[RuleViolation]:
    m, k = spec.supportVectorClassifier, "supportVectorClassifier"
    out = [v for fd in spec.description.input for v in C.schema_type(fd, C.VECTORIZABLE, R, "input")]
    out += C.classifier(spec, m, rule=R) + _kernel(m.kernel, k)
    which = m.WhichOneof("ClassLabels")
    if which is None:   # "Int64 class labels must be supplied for SVM classifier.": the interface said so first
        return out
    classes = len(getattr(m, which).vector)
    if len(m.coefficients) != classes - 1:
        out.append(_v(k, f"coefficient array must be size numberOfClasses - 1 ({classes - 1}). Instead it is size "
                         f"{len(m.coefficients)}", "give numberOfClasses - 1 coefficient arrays"))
    total = _support_vectors(m)
    if total is None:
        return out + [_v(k, "Must specify sparse or dense support vectors", "set the support vectors")]
    per_class = list(m.numberOfSupportVectorsPerClass)
    if len(per_class) != classes:
        return out + [_v(k, f"numberOfSupportVectoresPerClass array must be size numberOfClasses {classes} instead it "
                            f"is size {len(per_class)}", "give one count per class")]
    if sum(per_class) != total:
        out.append(_v(k, f"sum of numberOfSupportVectorsPerClass {sum(per_class)} must sum to total number of support "
                         f"vectors {total}", "make the per-class counts add up to the support vectors"))
    for c in m.coefficients[:max(classes - 1, 0)]:
        if len(c.alpha) != total:
            out.append(_v(k, f"Incorrect number of coefficients: There should be {total} not {len(c.alpha)}",
                          "give one coefficient per support vector"))
            break
    if len(m.probA) or len(m.probB):
        pairs = classes * (classes - 1) // 2
        if len(m.probA) != len(m.probB):
            out.append(_v(k, "probA and probB must be same size", "give probA and probB one length"))
        elif len(m.probA) != pairs:
            out.append(_v(k, f"Expected length of probA is number of class pairs: {pairs}", f"give {pairs} values"))
    return out


def one_hot(spec: Any) -> list[RuleViolation]:
    m = spec.oneHotEncoder
    out = _io(spec, 1, ("int64Type", "stringType"), 1, ("dictionaryType",) if m.outputSparse else ("multiArrayType",))
    if m.WhichOneof("CategoryType") is None:
        out.append(_v("oneHotEncoder", "OneHotEncoder parameter incorrect type", "set stringCategories or int64Categories"))
    return out


def array_feature_extractor(spec: Any) -> list[RuleViolation]:
    desc, k = spec.description, "arrayFeatureExtractor"
    out = _io(spec, 1, ("multiArrayType",), 1, NUMBERS)
    if out:
        return out
    if len(desc.input) != 1:
        out.append(_v(k, "Exactly one input array column must be specified.", "declare one array input"))
    if len(desc.output) and desc.output[0].type.WhichOneof("Type") == "doubleType" and \
            len(spec.arrayFeatureExtractor.extractIndex) != 1:
        out.append(_v(k, "If output type is Double in interface, exactly one extraction index must be specified.",
                      "give one extractIndex, or output an MLMultiArray"))
    return out


def feature_vectorizer(spec: Any) -> list[RuleViolation]:
    out = _io(spec, 0, ("int64Type", "doubleType", "multiArrayType", "dictionaryType"), 1, ("multiArrayType",))
    if any(e.inputDimensions <= 0 for e in spec.featureVectorizer.inputList):
        out.append(_v("featureVectorizer", "Dimension size must be greater tha zero.",
                      "give every input its (positive) number of dimensions"))
    return out


def dict_vectorizer(spec: Any) -> list[RuleViolation]:
    out = _io(spec, 1, ("dictionaryType",), 1, ("dictionaryType",))
    if spec.dictVectorizer.WhichOneof("Map") is None:
        out.append(_v("dictVectorizer", "DictVectorizerValidator parameter not set", "set stringToIndex or int64ToIndex"))
    return out


def _same_1d(inp: Any, out_fd: Any, what: str) -> list[RuleViolation]:
    """Scaler and imputer: Int64 -> Int64/Double, else one type; 1-d arrays of one length."""
    k, a, b = what, inp.type.WhichOneof("Type"), out_fd.type.WhichOneof("Type")
    if what == "scaler" and a == "int64Type":
        if b not in ("int64Type", "doubleType"):
            return [_v(k, "Input type Int64 must output to Int64 or Double.", "declare the output Int64 or Double")]
    elif a != b:
        return [_v(k, "Type of input feature does not match the output type feature.", "give output the input's type")]
    if a == "multiArrayType":
        if len(inp.type.multiArrayType.shape) != 1:
            return [_v(k, f"Only 1 dimensional arrays input features are supported by the {what}.",
                       "declare the input as a 1-d array")]
        o = out_fd.type.multiArrayType.shape
        if len(o) != 1 or o[0] != inp.type.multiArrayType.shape[0]:
            return [_v(k, "Shape of output array does not match shape of input array.",
                       "declare the output with the input's shape")]
    return []


def scaler(spec: Any) -> list[RuleViolation]:
    out = _io(spec, 1, NUMBERS, 1, NUMBERS)
    desc, m, k = spec.description, spec.scaler, "scaler"
    if out or not len(desc.input) or not len(desc.output):
        return out
    out = _same_1d(desc.input[0], desc.output[0], k)
    if out:
        return out
    shift, scale = len(m.shiftValue), len(m.scaleValue)
    if desc.input[0].type.WhichOneof("Type") == "multiArrayType":
        n = desc.input[0].type.multiArrayType.shape[0]
        if shift not in (0, 1, n):
            out.append(_v(k, "For input type array, specified shift values must be empty, a scalar, or a vector of the "
                             "matching length.", f"give 0, 1 or {n} shift values"))
        if scale not in (0, 1, n):
            out.append(_v(k, "For input type array, specified scale values must be empty, a scalar, or a vector of the "
                             "matching length.", f"give 0, 1 or {n} scale values"))
    else:
        if shift > 1:
            out.append(_v(k, "For a scalar imput type, specified shift value must be empty or a scalar.",
                          "give at most one shift value"))
        if scale > 1:
            out.append(_v(k, "For input type array, specified scale values must be empty or a scalar.",
                          "give at most one scale value"))
    return out


def normalizer(spec: Any) -> list[RuleViolation]:
    out = _io(spec, 1, ("multiArrayType",), 1, ("multiArrayType",))
    if spec.normalizer.normType not in (0, 1, 2):
        out.append(_v("normalizer", "NormalizerValidator normLx invalid", "use L1, L2 or LMax"))
    return out


IMPUTED = {"imputedDoubleValue": (("doubleType", "multiArrayType"), ("replaceDoubleValue",)),
           "imputedInt64Value": (("int64Type",), ("replaceInt64Value",)),
           "imputedDoubleArray": (("multiArrayType",), ("replaceDoubleValue",)),
           "imputedStringValue": (("stringType",), ("replaceStringValue",)),
           "imputedInt64Array": (("multiArrayType",), ("replaceInt64Value",)),
           "imputedStringDictionary": (("dictionaryType",), ()),
           "imputedInt64Dictionary": (("dictionaryType",), ())}


def imputer(spec: Any) -> list[RuleViolation]:
    desc, m, k = spec.description, spec.imputer, "imputer"
    types = ("int64Type", "doubleType", "multiArrayType", "stringType", "dictionaryType")
    out = _io(spec, 1, types, 1, types)
    if out or not len(desc.input) or not len(desc.output):
        return out
    inp = desc.input[0]
    out = _same_1d(inp, desc.output[0], k)
    if out:
        return out
    which = m.WhichOneof("ImputedValue")
    if which is None:
        return [_v(k, "Imputer parameter must be set.", "set the imputed value")]
    feature_types, replace_types = IMPUTED[which]
    if inp.type.WhichOneof("Type") not in feature_types:
        return [_v(k, f"Type of input feature \"{inp.name}\" is not compatible with given imputed value type.",
                   "give the imputed value the input's type")]
    replace = m.WhichOneof("ReplaceValue")
    if replace is not None and replace not in replace_types:
        return [_v(k, "Type of given replace value not compatible with input feature type.",
                   "give the replaced value the input's type")]
    if which in ("imputedDoubleArray", "imputedInt64Array") and \
            inp.type.multiArrayType.shape[0] != len(getattr(m, which).vector):
        return [_v(k, "Shape of imputed array value does not match shape of input array.",
                   "give one imputed value per array element")]
    return []


def categorical_mapping(spec: Any) -> list[RuleViolation]:
    m, k, desc = spec.categoricalMapping, "categoricalMapping", spec.description
    which, unknown = m.WhichOneof("MappingType"), m.WhichOneof("ValueOnUnknown")
    if which is None:
        return [_v(k, "Mapping not set.", "set stringToInt64Map or int64ToStringMap")]
    if which == "stringToInt64Map":
        if unknown == "strValue":
            return [_v(k, "ValueOnUnknown set to string value while mapping produces int64.", "set int64Value")]
        src, dst = "stringType", "int64Type"
    else:
        if unknown == "int64Value":
            return [_v(k, "ValueOnUnknown set to Int64 value while mapping produces string.", "set strValue")]
        src, dst = "int64Type", "stringType"
    out = _io(spec, 1, (src, "sequenceType"), 1, (dst, "sequenceType"))
    if out or not len(desc.input) or not len(desc.output):
        return out
    inp, res = desc.input[0].type, desc.output[0].type
    if inp.WhichOneof("Type") == "sequenceType":
        if inp.sequenceType.WhichOneof("Type") != src:
            return [_v(k, f"Input sequence type does not match input type {C.type_name(src)}of categorical mapping.",
                       f"make the input a sequence of {src[:-4]}")]
        if res.WhichOneof("Type") != "sequenceType":
            return [_v(k, "Output of a sequence categorical mapping must be a sequence", "make the output a sequence")]
        if res.sequenceType.WhichOneof("Type") != dst:
            return [_v(k, f"Output sequence type does not match input type {C.type_name(dst)}of categorical mapping.",
                       f"make the output a sequence of {dst[:-4]}")]
    return []


def vision_feature_print(spec: Any) -> list[RuleViolation]:
    m, k, desc = spec.visionFeaturePrint, "visionFeaturePrint", spec.description
    out = C.types_with_count(desc.input, 1, ("imageType",), R, "input")
    which = m.WhichOneof("VisionFeaturePrintType")
    if which is None:
        return out + [_v(k, "Type for vision feature print not set", "set scene (or objects)")]
    if which == "scene":
        if m.scene.version == 0:
            return out + [_v(k, "Version for scene is invalid", "set the scene version (1 or 2)")]
        if m.scene.version not in (1, 2):
            return out + [_v(k, f"Version: '{m.scene.version}' for scene print is invalid", "use version 1 or 2")]
        return out + C.types_with_count(desc.output, 1, ("multiArrayType",), R, "output")
    if m.objects.version == 0:
        return out + [_v(k, "Version for objects is invalid", "set the objects version (1)")]
    if m.objects.version != 1:
        return out + [_v(k, f"Version: '{m.objects.version}' for object print is invalid", "use version 1")]
    if len(m.objects.output) != 2:
        return out + [_v(k, "Two outputs for objects need to be provided", "name the two outputs")]
    out += C.types_with_count(desc.output, 2, ("multiArrayType",), R, "output")
    for fd in desc.output:
        if fd.name not in m.objects.output:
            out.append(_v(k, f"Model description declares an output: {fd.name} but it is not declared in Vision Feature "
                             "Print output", "declare only the outputs the feature print names"))
            break
    return out


def custom_model(spec: Any) -> list[RuleViolation]:
    m, k = spec.customModel, "customModel"
    if not m.className:
        return [_v(k, "CustomModel must have non-empty className.", "name the app's MLCustomModel class")]
    for key, value in m.parameters.items():
        if not key:
            return [_v(k, "CustomModel.parameters must have non-empty string keys.", "name every parameter")]
        if value.WhichOneof("value") is None:
            return [_v(k, f"CustomModel.parameters['{key}'] does not have a set value", "give the parameter a value")]
    return []


VALIDATORS: dict[str, Callable[[Any], list[RuleViolation]]] = {
    "glmRegressor": glm_regressor, "glmClassifier": glm_classifier, "supportVectorRegressor": svm_regressor,
    "supportVectorClassifier": svm_classifier, "oneHotEncoder": one_hot,
    "arrayFeatureExtractor": array_feature_extractor, "featureVectorizer": feature_vectorizer,
    "dictVectorizer": dict_vectorizer, "scaler": scaler, "normalizer": normalizer, "imputer": imputer,
    "categoricalMapping": categorical_mapping, "visionFeaturePrint": vision_feature_print,
    "customModel": custom_model, "identity": lambda spec: [],
}
"""Model type -> its static checks. Types not listed get the generic checks only (see docs/apple-rules.md)."""


def other_model(spec: Any) -> list[RuleViolation]:
    """The rules of a model type other than NeuralNetwork, pipeline, k-NN and linked model."""
    check = VALIDATORS.get(spec.WhichOneof("Type") or "")
    return check(spec) if check else []
