"""Rule 36: the other model types a pipeline may hold before its updatable model, each broken alone."""
from __future__ import annotations

from typing import Callable

import pytest

from ground.protos import FeatureTypes_pb2 as FT, Model_pb2
from ground.rules import violations
from tests.emulator.test_pipeline import _nn_head

A = FT.ArrayFeatureType


def _model(kind: str, inputs: dict, outputs: dict, predicted: str = "") -> Model_pb2.Model:
    """A model of ``kind`` with features name -> 'double' / 'int64' / 'string' / 'dict' / ('array', n) / 'image'."""
    spec = Model_pb2.Model(specificationVersion=4)
    for group, features in ((spec.description.input, inputs), (spec.description.output, outputs)):
        for name, t in features.items():
            ft = group.add(name=name).type
            if isinstance(t, tuple):
                ft.multiArrayType.shape.append(t[1])
                ft.multiArrayType.dataType = A.DOUBLE
            elif t == "dict":
                ft.dictionaryType.stringKeyType.SetInParent()
            elif t == "image":
                ft.imageType.width, ft.imageType.height, ft.imageType.colorSpace = 8, 8, 20
            elif t == "seq":
                ft.sequenceType.stringType.SetInParent()
            else:
                getattr(ft, f"{t}Type").SetInParent()
    spec.description.predictedFeatureName = predicted
    getattr(spec, kind).SetInParent()
    return spec


def glm_regressor() -> Model_pb2.Model:
    spec = _model("glmRegressor", {"x": ("array", 2)}, {"y": "double"}, "y")
    spec.glmRegressor.weights.add().value.extend([1.0, 2.0])
    spec.glmRegressor.offset.append(0.5)
    return spec


def glm_classifier() -> Model_pb2.Model:
    spec = _model("glmClassifier", {"x": ("array", 2)}, {"label": "string"}, "label")
    m = spec.glmClassifier
    m.stringClassLabels.vector.extend(["a", "b", "c"])
    m.classEncoding = 1
    for _ in range(3):
        m.weights.add().value.extend([1.0, 2.0])
        m.offset.append(0.0)
    return spec


def svm_classifier() -> Model_pb2.Model:
    spec = _model("supportVectorClassifier", {"x": ("array", 2)}, {"label": "int64"}, "label")
    m = spec.supportVectorClassifier
    m.int64ClassLabels.vector.extend([0, 1])
    m.kernel.rbfKernel.gamma = 0.5
    for _ in range(3):
        m.denseSupportVectors.vectors.add().values.extend([0.0, 1.0])
    m.numberOfSupportVectorsPerClass.extend([1, 2])
    m.coefficients.add().alpha.extend([1.0, -1.0, 0.5])
    m.rho.append(0.0)
    return spec


def svm_regressor() -> Model_pb2.Model:
    spec = _model("supportVectorRegressor", {"x": ("array", 2)}, {"y": "double"}, "y")
    m = spec.supportVectorRegressor
    m.kernel.linearKernel.SetInParent()
    m.denseSupportVectors.vectors.add().values.extend([0.0, 1.0])
    m.coefficients.alpha.append(1.0)
    return spec


def scaler() -> Model_pb2.Model:
    spec = _model("scaler", {"x": ("array", 3)}, {"y": ("array", 3)})
    spec.scaler.shiftValue.extend([1.0, 2.0, 3.0])
    spec.scaler.scaleValue.append(0.5)
    return spec


def one_hot() -> Model_pb2.Model:
    spec = _model("oneHotEncoder", {"c": "string"}, {"v": ("array", 3)})
    spec.oneHotEncoder.stringCategories.vector.extend(["a", "b", "c"])
    return spec


def normalizer() -> Model_pb2.Model:
    spec = _model("normalizer", {"x": ("array", 3)}, {"y": ("array", 3)})
    spec.normalizer.normType = 2
    return spec


def extractor() -> Model_pb2.Model:
    spec = _model("arrayFeatureExtractor", {"x": ("array", 3)}, {"y": "double"})
    spec.arrayFeatureExtractor.extractIndex.append(1)
    return spec


def vectorizer() -> Model_pb2.Model:
    spec = _model("featureVectorizer", {"a": "double", "b": ("array", 2)}, {"v": ("array", 3)})
    for name, n in (("a", 1), ("b", 2)):
        e = spec.featureVectorizer.inputList.add()
        e.inputColumn, e.inputDimensions = name, n
    return spec


def dict_vectorizer() -> Model_pb2.Model:
    spec = _model("dictVectorizer", {"d": "dict"}, {"v": "dict"})
    spec.dictVectorizer.stringToIndex.vector.extend(["a", "b"])
    return spec


def imputer() -> Model_pb2.Model:
    spec = _model("imputer", {"x": ("array", 2)}, {"y": ("array", 2)})
    spec.imputer.imputedDoubleArray.vector.extend([0.0, 1.0])
    spec.imputer.replaceDoubleValue = -1.0
    return spec


def mapping() -> Model_pb2.Model:
    spec = _model("categoricalMapping", {"s": "string"}, {"i": "int64"})
    spec.categoricalMapping.stringToInt64Map.map["a"] = 1
    spec.categoricalMapping.int64Value = -1
    return spec


def feature_print() -> Model_pb2.Model:
    spec = _model("visionFeaturePrint", {"image": "image"}, {"features": ("array", 2048)})
    spec.visionFeaturePrint.scene.version = 1
    return spec


def custom() -> Model_pb2.Model:
    spec = _model("customModel", {"x": ("array", 2)}, {"y": ("array", 2)})
    spec.customModel.className = "MyModel"
    return spec


VALID = [glm_regressor, glm_classifier, svm_classifier, svm_regressor, scaler, one_hot, normalizer, extractor,
         vectorizer, dict_vectorizer, imputer, mapping, feature_print, custom]


@pytest.mark.parametrize("build", VALID, ids=[b.__name__ for b in VALID])
def test_valid_models_pass(build):
    assert violations(build()) == []


def _do(build: Callable[[], Model_pb2.Model], change: Callable[[Model_pb2.Model], object]) -> Model_pb2.Model:
    spec = build()
    change(spec)
    return spec


def _output_type(spec, kind):
    t = spec.description.output[0].type
    t.Clear()
    getattr(t, kind).SetInParent()


CASES = [
    ("glm offsets", glm_regressor, lambda s: s.glmRegressor.offset.append(1.0),
     "Weights and offsets must be the same size."),
    ("glm weight sizes", glm_regressor, lambda s: (s.glmRegressor.weights.add().value.append(1.0),
                                                   s.glmRegressor.offset.append(0.0)),
     "All weight coefficients must be the same size."),
    ("glm output type", glm_regressor, lambda s: _output_type(s, "int64Type"),
     'Unsupported type "MLFeatureTypeType_int64Type" for feature "y". Should be one of: MLFeatureTypeType_doubleType, '
     'MLFeatureTypeType_multiArrayType.'),
    ("glm transform", glm_classifier, lambda s: setattr(s.glmClassifier, "postEvaluationTransform", 7),
     "Invalid post evaluation transform"),
    ("glm one-vs-rest count", glm_classifier, lambda s: (s.glmClassifier.weights.pop(), s.glmClassifier.offset.pop()),
     "With OneVsRest encoding the number of DoubleArrays in weights must equal the number of classes"),
    ("glm reference count", glm_classifier, lambda s: setattr(s.glmClassifier, "classEncoding", 0),
     "With ReferenceClass encoding the number of DoubleArrays in weights must be one less than number of classes"),
    ("glm probit", glm_classifier, lambda s: setattr(s.glmClassifier, "postEvaluationTransform", 1),
     "Probit post evaluation transform is only supported for binary classification"),
    ("glm no weights", glm_classifier, lambda s: (s.glmClassifier.ClearField("weights"),
                                                  s.glmClassifier.ClearField("offset")),
     "The number of DoubleArrays in weights must be greater than zero"),
    ("glm labels", glm_classifier, lambda s: s.glmClassifier.ClearField("stringClassLabels"),
     "Classifier models must provide class labels."),
    ("svm kernel", svm_classifier, lambda s: s.supportVectorClassifier.kernel.Clear(),
     "You must specify a supported kernel type"),
    ("svm gamma", svm_classifier, lambda s: setattr(s.supportVectorClassifier.kernel.rbfKernel, "gamma", -1.0),
     "Gamma must be greater than or equal to zero"),
    ("svm per class", svm_classifier, lambda s: s.supportVectorClassifier.numberOfSupportVectorsPerClass.append(1),
     "numberOfSupportVectoresPerClass array must be size numberOfClasses 2 instead it is size 3"),
    ("svm sum", svm_classifier, lambda s: s.supportVectorClassifier.denseSupportVectors.vectors.add(),
     "sum of numberOfSupportVectorsPerClass 3 must sum to total number of support vectors 4"),
    ("svm coefficients", svm_classifier, lambda s: s.supportVectorClassifier.coefficients[0].alpha.append(1.0),
     "Incorrect number of coefficients: There should be 3 not 4"),
    ("svm coefficient arrays", svm_classifier, lambda s: s.supportVectorClassifier.coefficients.add(),
     "coefficient array must be size numberOfClasses - 1 (1). Instead it is size 2"),
    ("svm probA", svm_classifier, lambda s: s.supportVectorClassifier.probA.append(0.1),
     "probA and probB must be same size"),
    ("svm vectors", svm_regressor, lambda s: s.supportVectorRegressor.ClearField("denseSupportVectors"),
     "Must specify sparse or dense support vectors"),
    ("svr coefficients", svm_regressor, lambda s: s.supportVectorRegressor.coefficients.alpha.append(2.0),
     "The number of coefficients must match the number of support vectors."),
    ("scaler shift", scaler, lambda s: s.scaler.shiftValue.append(4.0),
     "For input type array, specified shift values must be empty, a scalar, or a vector of the matching length."),
    ("scaler shape", scaler, lambda s: s.description.output[0].type.multiArrayType.shape.__setitem__(0, 4),
     "Shape of output array does not match shape of input array."),
    ("scaler type", scaler, lambda s: _output_type(s, "doubleType"),
     "Type of input feature does not match the output type feature."),
    ("scaler inputs", scaler, lambda s: s.description.input.add(name="z").type.doubleType.SetInParent(),
     "Feature descriptions exceeded 1"),
    ("one-hot categories", one_hot, lambda s: s.oneHotEncoder.ClearField("stringCategories"),
     "OneHotEncoder parameter incorrect type"),
    ("one-hot sparse output", one_hot, lambda s: setattr(s.oneHotEncoder, "outputSparse", True),
     'Unsupported type "MLFeatureTypeType_multiArrayType" for feature "v". Should be one of: '
     'MLFeatureTypeType_dictionaryType.'),
    ("normalizer norm", normalizer, lambda s: setattr(s.normalizer, "normType", 9), "NormalizerValidator normLx invalid"),
    ("extractor index", extractor, lambda s: s.arrayFeatureExtractor.extractIndex.append(2),
     "If output type is Double in interface, exactly one extraction index must be specified."),
    ("vectorizer dimension", vectorizer, lambda s: setattr(s.featureVectorizer.inputList[0], "inputDimensions", 0),
     "Dimension size must be greater tha zero."),
    ("dict vectorizer map", dict_vectorizer, lambda s: s.dictVectorizer.ClearField("stringToIndex"),
     "DictVectorizerValidator parameter not set"),
    ("imputer value", imputer, lambda s: s.imputer.ClearField("imputedDoubleArray"), "Imputer parameter must be set."),
    ("imputer array size", imputer, lambda s: s.imputer.imputedDoubleArray.vector.append(2.0),
     "Shape of imputed array value does not match shape of input array."),
    ("imputer replace type", imputer, lambda s: setattr(s.imputer, "replaceInt64Value", 0),
     "Type of given replace value not compatible with input feature type."),
    ("mapping unknown", mapping, lambda s: setattr(s.categoricalMapping, "strValue", "?"),
     "ValueOnUnknown set to string value while mapping produces int64."),
    ("mapping not set", mapping, lambda s: s.categoricalMapping.ClearField("stringToInt64Map"), "Mapping not set."),
    ("feature print version", feature_print, lambda s: setattr(s.visionFeaturePrint.scene, "version", 0),
     "Version for scene is invalid"),
    ("feature print type", feature_print, lambda s: s.visionFeaturePrint.ClearField("scene"),
     "Type for vision feature print not set"),
    ("custom class", custom, lambda s: setattr(s.customModel, "className", ""),
     "CustomModel must have non-empty className."),
    ("custom parameter", custom, lambda s: s.customModel.parameters["k"].SetInParent(),
     "CustomModel.parameters['k'] does not have a set value"),
]


@pytest.mark.parametrize("name,build,change,message", CASES, ids=[c[0] for c in CASES])
def test_model_rule_refused_with_apples_message(name, build, change, message):
    assert message in [v.message for v in violations(_do(build, change)) if v.origin == "apple"]


def test_a_broken_model_before_the_network_breaks_the_pipeline():
    spec = Model_pb2.Model(specificationVersion=4)
    spec.description.input.add().CopyFrom(scaler().description.input[0])
    spec.description.output.add().CopyFrom(scaler().description.output[0])
    broken = scaler()
    broken.scaler.scaleValue.append(1.0)          # 2 values for 3 elements
    spec.pipeline.models.add().CopyFrom(broken)
    found = [(v.message, v.where) for v in violations(spec)]
    assert ("For input type array, specified scale values must be empty, a scalar, or a vector of the matching length.",
            "pipeline model 0, scaler") in found


def test_the_classifier_interface_reaches_every_classifier_type():
    spec = _nn_head()
    assert violations(spec) == []
    spec = glm_classifier()
    spec.description.predictedFeatureName = ""
    assert "Specification is missing classifier predictedFeatureName" in [v.message for v in violations(spec)]


def _coremltools_models() -> dict[str, Model_pb2.Model]:
    from coremltools.models import datatypes
    from coremltools.models.array_feature_extractor import create_array_feature_extractor
    from coremltools.models.feature_vectorizer import create_feature_vectorizer
    from coremltools.models.pipeline import Pipeline
    from coremltools.models.tree_ensemble import TreeEnsembleClassifier, TreeEnsembleRegressor

    x5, x3 = [("x", datatypes.Array(5))], [("x", datatypes.Array(3))]
    trees = {"tree classifier": TreeEnsembleClassifier(x3, class_labels=[0, 1], output_features="label"),
             "tree regressor": TreeEnsembleRegressor(x3, "y")}
    for t in trees.values():
        t.add_branch_node(0, 0, 0, 0.5, "BranchOnValueLessThan", 1, 2)
        t.add_leaf_node(0, 1, -1.0)
        t.add_leaf_node(0, 2, 1.0)
    pipe = Pipeline(x5, [("y", datatypes.Array(2))])
    pipe.add_model(create_array_feature_extractor(x5, "y", [1, 3]))
    return {"extractor one": create_array_feature_extractor(x5, "y", 2),
            "vectorizer": create_feature_vectorizer([("a", datatypes.Double()), ("b", datatypes.Array(3))], "v")[0],
            "pipeline": pipe.spec, **{k: t.spec for k, t in trees.items()}}


def test_coremltools_builders_models_pass():
    """No false positive on the models coremltools' own builders write (version 1, other model types)."""
    for name, spec in _coremltools_models().items():
        assert violations(spec) == [], name
