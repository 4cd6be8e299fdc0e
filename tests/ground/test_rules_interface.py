"""Apple's model-level, interface and other-model-type rules (30-37): each broken alone, Apple's message matched."""
from __future__ import annotations

from typing import Callable

import pytest

from ground.protos import FeatureTypes_pb2 as FT, Model_pb2
from ground.rules import violations
from tests.emulator.test_pipeline import _extractor, _knn_head, _nn_head, _pipeline
from tests.transforms.specs import mlp_builder, updatable_mlp

A = FT.ArrayFeatureType


def found(spec) -> list[tuple[str, str, str]]:
    return [(v.rule, v.message, v.origin) for v in violations(spec)]


def plain() -> Model_pb2.Model:
    """x[4] -> ... -> probs[3], not updatable, specification version 1."""
    return mlp_builder().spec


def regressor() -> Model_pb2.Model:
    """The builder's regressor names no predicted feature, which Core ML refuses: name it."""
    return _predicted(mlp_builder(mode="regressor").spec, "probs")


def _in(spec) -> FT.FeatureType:
    return spec.description.input[0].type


def _out(spec) -> FT.FeatureType:
    return spec.description.output[0].type


def _set(spec, **fields):
    for k, v in fields.items():
        setattr(spec, k, v)
    return spec


def _image_input(spec, w=8, h=8, colorspace=10):
    t = _in(spec)
    t.ClearField("multiArrayType")
    t.imageType.width, t.imageType.height, t.imageType.colorSpace = w, h, colorspace
    return spec


def _enumerated(spec, *shapes, default=None):
    t = _in(spec).multiArrayType
    for s in shapes:
        t.enumeratedShapes.shapes.add().shape.extend(s)
    if default is not None:
        del t.shape[:]
        t.shape.extend(default)
    return spec


def _ranges(spec, *ranges, default=None):
    t = _in(spec).multiArrayType
    for lo, hi in ranges:
        r = t.shapeRange.sizeRanges.add()
        r.lowerBound, r.upperBound = lo, hi
    if default is not None:
        del t.shape[:]
        t.shape.extend(default)
    return spec


def _optional_default(spec, value=0.5, kind="doubleDefaultValue"):
    t = _in(spec)
    t.isOptional = True
    setattr(t.multiArrayType, kind, value)
    return spec


def _tensors(spec, layer=0, ranks=(5,), outputs=False, dims=()):
    lay = spec.neuralNetwork.layers[layer]
    group = lay.outputTensor if outputs else lay.inputTensor
    for r in ranks:
        t = group.add()
        t.rank = r
        t.dimValue.extend(dims)
    return spec


def _two_layer_ranks(spec):
    _tensors(spec, 1, (4,))                       # act reads h_out as rank 4
    return _tensors(spec, 0, (3,), outputs=True)  # h writes h_out as rank 3


def _exact(spec):
    spec.neuralNetwork.arrayInputShapeMapping = 1
    return spec


INTERFACE_CASES: list[tuple[str, Callable[[], Model_pb2.Model], str, str]] = [
    ("version missing", lambda: _set(plain(), specificationVersion=0), "30",
     "Model specification version field missing or corrupt."),
    ("version too new", lambda: _set(plain(), specificationVersion=11), "30",
     "The model supplied is of version 11, intended for a newer version of Xcode. This version of Xcode supports "
     "model version 10 or earlier."),
    ("no name", lambda: _noname(), "31",
     "Feature description must have a non-empty name."),
    ("no type message", lambda: _cleared(plain()), "31", "Feature description x must specify a valid feature type."),
    ("empty NN inputs before 9", lambda: _no_inputs(plain()), "31",
     "Empty input is only valid in specification verison >= 9. This model has version 1"),
    ("no outputs", lambda: _no_outputs(plain()), "31", "Models must have one or more outputs."),
    ("enumerated zero shapes", lambda: _enumerated_empty(plain()), "31",
     "Description of multiarray feature 'x' has enumerated zero permitted sizes."),
    ("enumerated rank 0", lambda: _set(_enumerated(plain(), [4], []), specificationVersion=4), "31",
     "Description of multiarray feature 'x' has enumerated shapes with zero dimensions."),
    ("enumerated default", lambda: _set(_enumerated(plain(), [2], [3]), specificationVersion=4), "31",
     "Description of multiarray feature 'x' has a default shape specified  which is not within the allowed "
     "enumerated shapes specified."),
    ("range invalid", lambda: _set(_ranges(plain(), (5, 2)), specificationVersion=4), "31",
     "Description of multiarray feature 'x' has an invalid range for dimension 0. Size range is invalid (5, 2 )."),
    ("range rank", lambda: _set(_ranges(plain(), (1, 8), (1, 8)), specificationVersion=4), "31",
     "Description of multiarray feature 'x' has a default 1-d shape but a 2-d shape range"),
    ("range default", lambda: _set(_ranges(plain(), (5, 8)), specificationVersion=4), "31",
     "Description of multiarray feature 'x' has a default shape that is out of the specified shape range"),
    ("missing shape", lambda: _no_shape(plain()), "31",
     "Description of multiarray feature 'x' has missing shape constraints."),
    ("negative dimension", lambda: _dim(plain(), -2), "31",
     "Description of multiarray feature 'x' has an invalid shape. Element 0 has non-positive value -2."),
    ("float16 before 7", lambda: _dtype(updatable_mlp(), A.FLOAT16), "31",
     "Description of multiarray feature 'x' has FLOAT16 dataType, which is only valid in specification version "
     ">= 7. This model has version 4"),
    ("int8 before 10", lambda: _dtype(updatable_mlp(), A.INT8), "31",
     "Description of multiarray feature 'x' has INT8 dataType, which is only valid in specification version >= 10. "
     "This model has version 4"),
    ("default value type", lambda: _set(_optional_default(plain(), 1, "intDefaultValue"), specificationVersion=5), "31",
     "Description of multiarray feature 'x' has mistmatch between dataType and the type of default optional value."),
    ("int8 default range", lambda: _int8_default(plain()), "31",
     "The default optional value of multiarray feature 'x' is 300, which is out of range for the data type INT8."),
    ("image enumerated zero", lambda: _image_enumerated(plain(), []), "31",
     "Description of image feature 'x' has enumerated zero permitted sizes."),
    ("image enumerated default", lambda: _image_enumerated(plain(), [(16, 16)]), "31",
     "Description of image feature 'x' has a default size of 8 × 8 which is not within the allowed enumerated "
     "sizes specified."),
    ("image width range", lambda: _image_range(plain(), (9, 4), (1, -1)), "31",
     "Description of image feature 'x' has an invalid flexible width range. Size range is invalid (9, 4 )."),
    ("image default height", lambda: _image_range(plain(), (1, -1), (10, 20)), "31",
     "Description of image feature 'x' default height 8 is not within specified flexible height range"),
    ("image width", lambda: _image_input(plain(), w=0), "31",
     "Description of image feature 'x' has missing or non-positive width 0."),
    ("grayscale16 before 7", lambda: _set(_image_input(plain(), colorspace=40), specificationVersion=4), "31",
     "Description of image feature 'x' has GRAYSCALE_FLOAT16 colorspace, which is only valid in specification "
     "version >= 7. This model has version 4"),
    ("dictionary key", lambda: _dictionary_output(plain()), "31",
     "Description of dictionary feature 'probs' must contain a key type of either Int64 or String."),
    ("sequence before 3", lambda: _sequence_input(plain(), 1), "31",
     "Sequence types are only valid in specification verison >= 3. This model has version 1"),
    ("sequence type", lambda: _sequence_input(plain(), 4, typed=False), "31",
     "Description of sequence feature 's' has invalid or missing type. Only Int64 and String sequences are "
     "currently supported"),
    ("state before 9", lambda: _state(plain()), "31",
     "State types are only valid in specification verison >= 9. This model has version 1"),
    ("state as output", lambda: _state(plain(), output=True), "31",
     "State feature 'st' should only be declared in the state feature description."),
    ("default value before 5", lambda: _set(_optional_default(plain()), specificationVersion=4), "32",
     "Default value for optional inputs is supported from specification 5 (iOS 14) onwards!"),
    ("default value outside NN", lambda: _optional_default_glm(), "32",
     "Default optional values are only allowed for neural networks."),
    ("all NN inputs optional", lambda: _optional(plain()), "32",
     "At least one feature for a neural network must NOT be optional."),
    ("optional input elsewhere", lambda: _optional(_glm_regressor()), "32",
     "Features cannot be optional to this type of model."),
    ("optional output", lambda: _optional_output(plain()), "32", "Outputs cannot be optional."),
    ("NN input type", lambda: _double_input(plain()), "35",
     "Neural Networks require inputs to be images, MLMultiArray, or State."),
    ("NN output type", lambda: _double_output(plain()), "35",
     "Neural Networks require outputs to be images, MLMultiArray, or State."),
    ("rank-5 enumerated ranks", lambda: _set(_enumerated(_no_shape(plain()), [1, 4]), specificationVersion=4), "35",
     "Input MLMultiArray to neural networks must have dimension 1 (vector) or 3 (image-like arrays)."),
    ("N-d range rank", lambda: _set(_ranges(_exact(plain()), (1, 8), (1, 8)), specificationVersion=4), "35",
     "For MLMultiArray input: Rank of the flexible shape range must match the rank of the default shape."),
    ("tensor count", lambda: _tensors(_exact(plain()), ranks=(1, 1)), "35",
     "Layer 'h''s input and inputTensors have different lengths"),
    ("output tensor count", lambda: _tensors(_exact(plain()), ranks=(1, 1), outputs=True), "35",
     "Layer 'h''s output and \"outputTensors\" property have different lengths"),
    ("tensor dimValue", lambda: _tensors(_exact(plain()), ranks=(2,), outputs=True, dims=(1, 8, 1)), "35",
     "Tensor in layer 'h': rank must match the length of dimValue"),
    ("inconsistent rank", lambda: _two_layer_ranks(_exact(plain())), "35",
     "Inconsistent rank for the blob named 'h_out'."),
    ("regressor predicted name", lambda: _predicted(regressor(), ""), "34",
     "Specification is missing regressor predictedFeatureName."),
    ("regressor predicted absent", lambda: _predicted(regressor(), "nowhere"), "34",
     "Expected feature 'nowhere' to the model is not present in the model description."),
    ("classifier labels", lambda: _no_labels(_nn_head()), "33", "Classifier models must provide class labels."),
    ("classifier empty labels", lambda: _empty_labels(_nn_head()), "33",
     "Classifier declared to have Int64 class labels must provide labels."),
    ("classifier predicted name", lambda: _predicted(_nn_head(), ""), "33",
     "Specification is missing classifier predictedFeatureName"),
    ("classifier label type", lambda: _string_labels(_nn_head()), "33",
     'Unsupported type "MLFeatureTypeType_int64Type" for feature "classLabel". Should be one of: '
     'MLFeatureTypeType_stringType.'),
    ("classifier probabilities type", lambda: _probabilities_string(_nn_head()), "33",
     'Unsupported type "MLFeatureTypeType_stringType" for feature "probs". Should be one of: '
     'MLFeatureTypeType_multiArrayType, MLFeatureTypeType_dictionaryType.'),
    ("multi-function", lambda: _functions(), "31",
     "This model type doesn't support multi-function syntax."),
    ("multi-function top level", lambda: _functions(), "31",
     "Multi-function model must not use top level input feature description."),
    ("no inputs outside networks", lambda: _no_inputs(_glm_regressor()), "31", "Models must have one or more inputs."),
    ("state description", lambda: _state_description(plain()), "31",
     "State feature description can declare only state features, but 'x2' is not."),
    ("pipeline's own features", lambda: _pipeline_feature(), "31",
     "Description of multiarray feature 'x' has missing shape constraints."),
]


def _functions():
    spec = plain()
    spec.description.defaultFunctionName = "main"
    return spec


def _state_description(spec):
    spec.description.state.add().CopyFrom(spec.description.input[0])
    spec.description.state[0].name = "x2"
    return spec


def _noname():
    spec = plain()
    spec.description.input[0].name = ""
    return spec


def _cleared(spec):
    spec.description.input[0].ClearField("type")
    return spec


def _no_inputs(spec):
    del spec.description.input[:]
    return spec


def _no_outputs(spec):
    del spec.description.output[:]
    return spec


def _enumerated_empty(spec):
    _in(spec).multiArrayType.enumeratedShapes.SetInParent()
    spec.specificationVersion = 4
    return spec


def _no_shape(spec):
    del _in(spec).multiArrayType.shape[:]
    return spec


def _dim(spec, d):
    _in(spec).multiArrayType.shape[0] = d
    return spec


def _dtype(spec, dt):
    _in(spec).multiArrayType.dataType = dt
    return spec


def _int8_default(spec):
    spec.specificationVersion = 10
    _in(spec).multiArrayType.dataType = A.INT8
    return _optional_default(spec, 300, "intDefaultValue")


def _image_enumerated(spec, sizes):
    _image_input(spec)
    spec.specificationVersion = 4
    t = _in(spec).imageType
    t.enumeratedSizes.SetInParent()
    for w, h in sizes:
        s = t.enumeratedSizes.sizes.add()
        s.width, s.height = w, h
    return spec


def _image_range(spec, width, height):
    _image_input(spec)
    spec.specificationVersion = 4
    r = _in(spec).imageType.imageSizeRange
    r.widthRange.lowerBound, r.widthRange.upperBound = width
    r.heightRange.lowerBound, r.heightRange.upperBound = height
    return spec


def _dictionary_output(spec):
    t = _out(spec)
    t.ClearField("multiArrayType")
    t.dictionaryType.SetInParent()
    return spec


def _sequence_input(spec, version, typed=True):
    spec.specificationVersion = version
    fd = spec.description.input.add(name="s")
    if typed:
        fd.type.sequenceType.int64Type.SetInParent()
    else:
        fd.type.sequenceType.SetInParent()
    return spec


def _state(spec, output=False):
    fd = (spec.description.output if output else spec.description.input).add(name="st")
    fd.type.stateType.arrayType.shape.append(2)
    fd.type.stateType.arrayType.dataType = A.FLOAT16
    if output:
        spec.specificationVersion = 9
    return spec


def _optional(spec):
    for fd in spec.description.input:
        fd.type.isOptional = True
    return spec


def _optional_output(spec):
    _out(spec).isOptional = True
    return spec


def _double_input(spec):
    t = _in(spec)
    t.ClearField("multiArrayType")
    t.doubleType.SetInParent()
    return spec


def _double_output(spec):
    t = _out(spec)
    t.ClearField("multiArrayType")
    t.doubleType.SetInParent()
    return spec


def _predicted(spec, name):
    spec.description.predictedFeatureName = name
    return spec


def _no_labels(spec):
    spec.neuralNetworkClassifier.ClearField("int64ClassLabels")
    return spec


def _empty_labels(spec):
    del spec.neuralNetworkClassifier.int64ClassLabels.vector[:]
    return spec


def _string_labels(spec):
    spec.neuralNetworkClassifier.stringClassLabels.vector.extend(["a", "b", "c"])
    return spec


def _probabilities_string(spec):
    fd = next(f for f in spec.description.output if f.name == "probs")
    fd.type.ClearField("dictionaryType")
    fd.type.stringType.SetInParent()
    return spec


def _pipeline_feature():
    spec = _pipeline(_nn_head())
    del spec.description.input[0].type.multiArrayType.shape[:]
    return spec


def _glm_regressor() -> Model_pb2.Model:
    spec = Model_pb2.Model(specificationVersion=1)
    spec.description.input.add(name="x").type.doubleType.SetInParent()
    spec.description.output.add(name="y").type.doubleType.SetInParent()
    spec.description.predictedFeatureName = "y"
    spec.glmRegressor.weights.add().value.append(2.0)
    spec.glmRegressor.offset.append(1.0)
    return spec


def _optional_default_glm():
    spec = _glm_regressor()
    t = _in(spec)
    t.ClearField("doubleType")
    t.multiArrayType.shape.append(1)
    t.multiArrayType.dataType = A.DOUBLE
    return _set(_optional_default(spec), specificationVersion=5)


@pytest.mark.parametrize("name,build,rule,message", INTERFACE_CASES, ids=[c[0] for c in INTERFACE_CASES])
def test_interface_rule_refused_with_apples_message(name, build, rule, message):
    assert (rule, message, "apple") in found(build())


BASES = {"plain": plain, "regressor": regressor, "updatable": updatable_mlp, "classifier": _nn_head,
         "knn": _knn_head, "extractor": _extractor, "pipeline": lambda: _pipeline(_nn_head()),
         "knn pipeline": lambda: _pipeline(_knn_head()), "glm": _glm_regressor}


@pytest.mark.parametrize("name", BASES)
def test_valid_bases_pass(name):
    assert violations(BASES[name]()) == []


def test_flexible_shapes_inside_their_limits_pass():
    spec = _set(_ranges(plain(), (1, 8)), specificationVersion=4)
    assert violations(spec) == []
    spec = _set(_enumerated(plain(), [4], [6]), specificationVersion=4)
    assert violations(spec) == []
    assert violations(_set(_image_input(plain()), specificationVersion=4)) == []
    spec = _set(_optional_default(plain(), 0.5, "doubleDefaultValue"), specificationVersion=5)
    spec.description.input.add(name="z").type.multiArrayType.shape.append(1)
    spec.description.input[1].type.multiArrayType.dataType = A.DOUBLE
    assert [v for v in violations(spec) if v.rule in ("31", "32")] == []


def test_probabilities_keyed_by_another_type_is_a_project_rule():
    spec = _nn_head()
    fd = next(f for f in spec.description.output if f.name == "probs")
    fd.type.dictionaryType.stringKeyType.SetInParent()
    assert ("33", "project rule: the probabilities dictionary 'probs' has string keys but the class labels are Int64",
            "project") in found(spec)


@pytest.mark.parametrize("build,message", [
    (lambda: _set(_exact(plain()), specificationVersion=3),
     "coremltools: the model uses an input shape mapping added in iOS 13, which needs specification version 4 "
     "(iOS 13) or above; it declares version 3"),
    (lambda: _set(_ranges(plain(), (1, 8)), specificationVersion=2),
     "coremltools: the model uses a flexible shape (feature 'x'), which needs specification version 3 (iOS 12) or "
     "above; it declares version 2"),
    (lambda: _knn_in_old_pipeline(),
     "coremltools: the model uses a kNearestNeighborsClassifier model in a sub-model, which needs specification "
     "version 4 (iOS 13) or above; it declares version 3"),
])
def test_declared_version_below_the_features(build, message):
    assert ("37", message, "coremltools") in found(build())


def _knn_in_old_pipeline():
    spec = _pipeline(_knn_head())
    spec.isUpdatable = False
    spec.pipelineClassifier.pipeline.models[1].isUpdatable = False
    spec.specificationVersion = 3
    return spec


def test_all_violations_reported_together():
    spec = _optional_output(_dim(_set(plain(), specificationVersion=11), -1))
    rules = [v.rule for v in violations(spec)]
    assert rules.count("30") == 1 and rules.count("31") == 1 and rules.count("32") == 1


def _preprocessed(featureName="x", mean=None, scaler=True):
    spec = _set(_image_input(plain(), colorspace=20), specificationVersion=4)
    pre = spec.neuralNetwork.preprocessing.add(featureName=featureName)
    if mean is not None:
        pre.meanImage.meanImage.extend([0.0] * mean)
    elif scaler:
        pre.scaler.channelScale = 1 / 255
    return spec


@pytest.mark.parametrize("build,message", [
    (lambda: _preprocessed("image"), "project rule: the preprocessing names input 'image', which the model does not "
                                     "have: Core ML applies it to no input"),
    (lambda: _preprocessed(scaler=False), "project rule: the preprocessing sets neither a scaler nor a mean image"),
    (lambda: _preprocessed(mean=64), "project rule: the mean image holds 64 values; the image 'x' has 192 ([C, H, W])"),
])
def test_preprocessing_project_rules(build, message):
    assert ("38", message, "project") in found(build())


def test_preprocessing_that_fits_passes():
    assert [v for v in violations(_preprocessed()) if v.rule == "38"] == []
    assert [v for v in violations(_preprocessed("", mean=192)) if v.rule == "38"] == []
