"""Apple's pipeline, linked-model and k-NN rules: each refused with Apple's message, word for word."""
from __future__ import annotations

import pytest

from ground.protos import Model_pb2
from ground.protos import coremltools as ct  # noqa: F401  (quiet import first)
from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder

from tests.emulator.test_pipeline import _extractor, _knn_head, _nn_head, _pipeline
from ground.rules import violations

TYPE_MISMATCH = ("Pipeline: the input 'embedding' of model 'CoreML.Specification.ModelDescription' does not match "
                 "the type previously specified by the pipeline input or the output of a previous model. For the "
                 "second case, make sure the input and previous model's output has the matching name and shapes.")


def messages(spec) -> list[str]:
    return [v.message for v in violations(spec) if v.origin == "apple"]


def _knn(**kw) -> Model_pb2.Model:
    b = KNearestNeighborsClassifierBuilder("embedding", "classLabel", 3, kw.pop("default", -1), **kw)
    b.add_samples([[0, 0, 0], [1, 1, 1]], [4, 5])
    return b.spec


def test_valid_pipelines_and_knn_pass():
    assert violations(_pipeline(_nn_head())) == []
    assert violations(_pipeline(_knn_head())) == []
    assert violations(_knn()) == []
    assert violations(_knn(index_type="kd_tree", weighting_scheme="inverse_distance")) == []


def test_pipeline_feature_type_mismatch():
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.models[1].description.input[0].type.multiArrayType.shape[0] = 7
    assert TYPE_MISMATCH in messages(spec)
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.models[0].description.output[0].type.multiArrayType.dataType = \
        ct.proto.FeatureTypes_pb2.ArrayFeatureType.DOUBLE
    assert TYPE_MISMATCH in messages(spec)


def test_pipeline_input_not_present():
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.models[1].description.input[0].name = "features"
    assert ("Pipeline: the input 'features' of model 'CoreML.Specification.ModelDescription' does not present in "
            "pipeline input or previous model.") in messages(spec)


def test_pipeline_outputs():
    spec = _pipeline(_knn_head())
    spec.description.output[0].name = "elsewhere"
    assert "Pipeline output 'elsewhere' not present in pipeline input or a contained model." in messages(spec)
    spec = _pipeline(_knn_head())
    spec.description.output[0].type.stringType.SetInParent()
    assert "Type of pipeline output 'classLabel' does not match type produced in pipeline input." in messages(spec)


def test_pipeline_only_the_last_model_updatable():
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.models[0].isUpdatable = True
    assert ("Only the last model in the pipeline can be updatable. Model at position '0' is marked as updatable."
            in messages(spec))
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.models[1].isUpdatable = False
    assert "Last model in an updatable pipeline model should be marked as updatable." in messages(spec)
    spec = _pipeline(_knn_head())
    spec.isUpdatable = False
    assert "Found an updatable model at '1' inside a non-updatable pipeline." in messages(spec)


def test_pipeline_spec_version_of_an_updatable_sub_model():
    spec = _pipeline(_nn_head())
    spec.pipelineClassifier.pipeline.models[1].specificationVersion = 3
    found = [(v.message, v.where) for v in violations(spec)]
    assert ("Model specification version for an updatable model must be '4' or above.", "pipeline model 1") in found
    spec.specificationVersion = 3
    assert "Model specification version for an updatable model must be '4' or above." in messages(spec)


def test_pipeline_names():
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.names.append("third")
    assert "The number of pipeline model names '3' doesn't match the number of models '2'" in messages(spec)
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.names[1] = "extractor"
    assert ("Pipeline model name 'extractor' at index '1 has already been used for previous models"
            in messages(spec))


def test_pipeline_empty_and_sub_model_rules_reported_with_position():
    empty = Model_pb2.Model(specificationVersion=4, isUpdatable=True)
    empty.pipeline.SetInParent()
    assert messages(empty) == ["Empty input is only valid in specification verison >= 9. This model has version 4",
                               "Models must have one or more outputs.", "Pipeline must contain one or more models."]
    spec = _pipeline(_knn_head())
    spec.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier.ClearField("WeightingScheme")
    found = [(v.message, v.where) for v in violations(spec)]
    assert ("KNearestNeighborsClassifier requires a weighting scheme to be set.",
            "pipeline model 1, kNearestNeighborsClassifier") in found


def test_pipeline_training_inputs_project_rule():
    spec = _pipeline(_knn_head())
    del spec.description.trainingInput[1]                      # the label
    found = [v for v in violations(spec) if v.origin == "project"]
    assert [v.rule for v in found] == ["23"]
    assert "the last model trains on 'classLabel', which is not among the pipeline's training inputs" in found[0].message


def test_linked_model_rules():
    link = Model_pb2.Model(specificationVersion=4, isUpdatable=True)
    link.description.CopyFrom(_extractor().description)
    link.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = ""
    found = messages(link)
    assert "LinkedModel cannot be marked as updatable" in found
    assert "LinkedModel.linkedModelFile.linkedModeFileName.defaultValue cannot be empty." in found
    link = Model_pb2.Model(specificationVersion=4)
    link.linkedModel.SetInParent()
    assert "LinkedModel.LinkType not set." in messages(link)


def test_knn_number_of_neighbors():
    spec = _knn()
    spec.kNearestNeighborsClassifier.numberOfNeighbors.defaultValue = 0
    assert "Default Value (0) for 'numberOfNeighbors' expected to be a positive value." in messages(spec)
    spec = _knn()
    spec.kNearestNeighborsClassifier.numberOfNeighbors.defaultValue = 2000
    assert "Specified Default Value (2000) out of Allowed Value Range for 'numberOfNeighbors'" in messages(spec)
    spec = _knn()
    p = spec.kNearestNeighborsClassifier.numberOfNeighbors
    p.set.values.extend([1, 3])
    p.defaultValue = 5
    assert "Specified Default Value (5) not found in Allowed Values Set for 'numberOfNeighbors'" in messages(spec)


def test_knn_weighting_index_distance_leaf_size():
    spec = _knn()
    k = spec.kNearestNeighborsClassifier
    k.ClearField("WeightingScheme")
    k.nearestNeighborsIndex.ClearField("IndexType")
    k.nearestNeighborsIndex.ClearField("DistanceFunction")
    found = messages(spec)
    assert "KNearestNeighborsClassifier requires a weighting scheme to be set." in found
    assert "KNearestNeighborsClassifier has no index type specified." in found
    assert "KNearestNeighborsClassifier requires a distance function to be set." in found
    spec = _knn(index_type="kd_tree")
    spec.kNearestNeighborsClassifier.nearestNeighborsIndex.singleKdTreeIndex.leafSize = 0
    assert "KNearestNeighborsClassifier requires leaf size to be a positive integer." in messages(spec)


def test_knn_labels_and_samples_consistent():
    spec = _knn()
    spec.kNearestNeighborsClassifier.int64ClassLabels.vector.append(6)
    assert 'Unexpected number of labels "3" for the given number of examples: "2.' in messages(spec)
    spec = _knn()
    spec.kNearestNeighborsClassifier.nearestNeighborsIndex.ClearField("floatSamples")
    assert "KNearestNeighborsClassifier has no data points." in messages(spec)
    spec = _knn()
    spec.kNearestNeighborsClassifier.nearestNeighborsIndex.floatSamples[1].vector.append(9.0)
    assert 'Unexpected length "2" given the provided number of dimensions "3.' in messages(spec)


def test_knn_default_label():
    spec = _knn()
    spec.kNearestNeighborsClassifier.defaultStringLabel = "none"
    assert ("KNearestNeighborsClassifier's class label and default class label have different types."
            in messages(spec))
    spec = KNearestNeighborsClassifierBuilder("embedding", "classLabel", 3, -1).spec
    spec.kNearestNeighborsClassifier.ClearField("DefaultClassLabel")
    assert ("KNearestNeighborsClassifier should specify default class labels when class labels are not specified."
            in messages(spec))


@pytest.mark.parametrize("change, message", [
    (lambda d: setattr(d, "predictedFeatureName", ""), "Specification is missing classifier predictedFeatureName"),
    (lambda d: setattr(d, "predictedFeatureName", "nope"),
     "Expected feature 'nope' to the model is not present in the model description."),
    (lambda d: d.output[0].type.stringType.SetInParent(),
     'Unsupported type "MLFeatureTypeType_stringType" for feature "classLabel". Should be one of: '
     'MLFeatureTypeType_int64Type.'),
])
def test_knn_classifier_interface(change, message):
    spec = _knn()
    change(spec.description)
    assert message in messages(spec)


def test_knn_project_rules():
    spec = _knn()
    spec.specificationVersion = 3
    del spec.description.trainingInput[1]
    found = {v.origin: v.message for v in violations(spec) if v.origin != "apple"}
    assert "needs specification version 4 (iOS 13)" in found["coremltools"]
    assert "needs its input and label as training inputs; missing ['classLabel']" in found["project"]
