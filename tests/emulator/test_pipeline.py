"""Pipelines and linked models in the runtime: features by name, only the last model trains, frozen
parts byte for byte, linked files resolved inside the model's folder. Specs come from coremltools'
builders (not this project's converter)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ground.protos import FeatureTypes_pb2, Model_pb2
from ground.protos import coremltools as ct  # noqa: F401  (quiet import first)
from coremltools.models import datatypes
from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder
from coremltools.models.neural_network import AdamParams, NeuralNetworkBuilder

import emulator
from ground.errors import BadInputError, UnsupportedModelError
from ground.spec_io import save_spec


def _extractor() -> Model_pb2.Model:
    """x[4] -> innerProduct 6 -> relu -> 'embedding' [6], frozen."""
    rng = np.random.default_rng(1)
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("embedding", datatypes.Array(6))])
    b.add_inner_product("fc", rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=6).astype(np.float32),
                        4, 6, True, "x", "fc_out")
    b.add_activation("relu", "RELU", "fc_out", "embedding")
    b.spec.specificationVersion = 4
    return _float32(b.spec)


def _float32(spec: Model_pb2.Model) -> Model_pb2.Model:
    """Array features as float32 (the builder declares float64), as the k-NN builder does."""
    for fd in (*spec.description.input, *spec.description.output, *spec.description.trainingInput):
        if fd.type.WhichOneof("Type") == "multiArrayType":
            fd.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    return spec


def _nn_head() -> Model_pb2.Model:
    """'embedding' [6] -> innerProduct 3 -> softmax, updatable (Adam), a classifier of labels 0, 1, 2."""
    rng = np.random.default_rng(2)
    b = NeuralNetworkBuilder([("embedding", datatypes.Array(6))], [("probs", datatypes.Array(3))], mode="classifier")
    b.add_inner_product("out", rng.normal(0, 0.3, (3, 6)).astype(np.float32), np.zeros(3, np.float32), 6, 3, True,
                        "embedding", "logits")
    b.add_softmax("sm", "logits", "probs")
    b.set_class_labels([0, 1, 2], predicted_feature_name="classLabel", prediction_blob="probs")
    b.make_updatable(["out"])
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    b.set_adam_optimizer(AdamParams(lr=0.05, batch=4, beta1=0.9, beta2=0.999, eps=1e-7))
    b.set_epochs(3)
    up = b.spec.neuralNetworkClassifier.updateParams
    up.shuffle.defaultValue = True
    up.lossLayers[0].categoricalCrossEntropyLossLayer.target = "classLabel"
    for t in b.spec.description.trainingInput:
        if t.name != "embedding":
            t.name = "classLabel"
            t.type.int64Type.SetInParent()
    return _float32(b.spec)


def _knn_head() -> Model_pb2.Model:
    b = KNearestNeighborsClassifierBuilder("embedding", "classLabel", 6, -1, number_of_neighbors=1)
    return b.spec


def _pipeline(head: Model_pb2.Model, first: Model_pb2.Model | None = None) -> Model_pb2.Model:
    first = first or _extractor()
    spec = Model_pb2.Model(specificationVersion=4, isUpdatable=True)
    spec.description.input.extend(_extractor().description.input)
    spec.description.output.extend(head.description.output)
    spec.description.predictedFeatureName = head.description.predictedFeatureName
    spec.description.predictedProbabilitiesName = head.description.predictedProbabilitiesName
    spec.description.trainingInput.extend(_extractor().description.input)
    spec.description.trainingInput.extend(t for t in head.description.trainingInput if t.name == "classLabel")
    pipe = spec.pipelineClassifier.pipeline
    pipe.models.add().CopyFrom(first)
    pipe.models.add().CopyFrom(head)
    pipe.names.extend(["extractor", "head"])
    return spec


def _data(n: int = 24):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n)


def _bytes(message) -> bytes:
    return message.SerializeToString(deterministic=True)


def test_pipeline_passes_features_by_name():
    x, y = _data()
    pipeline = emulator.load(_pipeline(_nn_head()))
    out = pipeline.predict(x)
    embedding = emulator.load(_extractor()).predict({"x": x})["embedding"]
    head = emulator.load(_nn_head()).predict({"embedding": embedding})
    np.testing.assert_array_equal(out["probs"], head["probs"])
    np.testing.assert_array_equal(out["classLabel"], head["classLabel"])
    assert pipeline.class_labels == [0, 1, 2] and pipeline.label_output == "classLabel"


def test_only_the_last_model_trains_and_the_rest_is_byte_identical():
    x, y = _data()
    spec = _pipeline(_nn_head())
    result = emulator.load(spec).update({"x": x, "classLabel": y}, seed=5)
    new = result.spec
    old_models, new_models = spec.pipelineClassifier.pipeline.models, new.pipelineClassifier.pipeline.models
    assert _bytes(old_models[0]) == _bytes(new_models[0])
    assert _bytes(old_models[1]) != _bytes(new_models[1])
    for a, b in ((spec, new),):
        a, b = type(a).FromString(_bytes(a)), type(b).FromString(_bytes(b))
        a.pipelineClassifier.pipeline.models[1].Clear()
        b.pipelineClassifier.pipeline.models[1].Clear()
        assert _bytes(a) == _bytes(b)                       # description, names, flags: unchanged
    # the head trained exactly as it would alone on the extractor's embeddings
    embedding = emulator.load(_extractor()).predict({"x": x})["embedding"]
    alone = emulator.load(_nn_head()).update({"embedding": embedding, "classLabel": y}, seed=5)
    assert _bytes(alone.spec) == _bytes(new_models[1])
    assert result.epoch_losses == alone.epoch_losses


def test_knn_pipeline_appends_the_embeddings():
    x, y = _data(9)
    pipeline = emulator.load(_pipeline(_knn_head()))
    assert set(pipeline.predict(x)["classLabel"]) == {-1}           # empty: the default label
    result = pipeline.update({"x": x, "classLabel": y})
    knn = result.model.last
    np.testing.assert_allclose(knn.samples, emulator.load(_extractor()).predict({"x": x})["embedding"], rtol=1e-6)
    assert knn.sample_labels == y.tolist()
    np.testing.assert_array_equal(result.model.predict(x)["classLabel"], y)    # k=1: each finds itself
    assert _bytes(result.spec.pipelineClassifier.pipeline.models[0]) == _bytes(_extractor())


def test_pipeline_training_inputs_are_required():
    x, _ = _data()
    with pytest.raises(BadInputError, match=r"missing \['classLabel'\]"):
        emulator.load(_pipeline(_nn_head())).update({"x": x})


def test_linked_model_resolves_beside_the_model(tmp_path: Path):
    x, y = _data()
    folder = tmp_path / "bundle"
    folder.mkdir()
    save_spec(_extractor(), folder / "Extractor.mlmodel")
    link = Model_pb2.Model(specificationVersion=4)
    link.description.CopyFrom(_extractor().description)
    link.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = "Extractor.mlmodelc"   # as compiled
    link.linkedModel.linkedModelFile.linkedModelSearchPath.defaultValue = "$BUNDLE_MAIN"
    save_spec(_pipeline(_nn_head(), link), folder / "Personal.mlmodel")
    linked = emulator.load(folder / "Personal.mlmodel")
    inline = emulator.load(_pipeline(_nn_head()))
    np.testing.assert_array_equal(linked.predict(x)["probs"], inline.predict(x)["probs"])
    result = linked.update({"x": x, "classLabel": y}, seed=1)
    assert result.spec.pipelineClassifier.pipeline.models[0].WhichOneof("Type") == "linkedModel"
    result.save(folder / "Personal-trained.mlmodel")
    again = emulator.load(folder / "Personal-trained.mlmodel")
    np.testing.assert_array_equal(again.predict(x)["probs"], result.model.predict(x)["probs"])
    with pytest.raises(BadInputError, match="has no folder to find it in"):
        emulator.load((folder / "Personal.mlmodel").read_bytes())


@pytest.mark.parametrize("name", ["../Extractor.mlmodel", "/etc/Extractor.mlmodel", "sub/../../Extractor.mlmodel"])
def test_linked_path_leaving_the_folder_is_refused(tmp_path: Path, name: str):
    folder = tmp_path / "bundle"
    folder.mkdir()
    save_spec(_extractor(), tmp_path / "Extractor.mlmodel")
    link = Model_pb2.Model(specificationVersion=4)
    link.description.CopyFrom(_extractor().description)
    link.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = name
    save_spec(_pipeline(_nn_head(), link), folder / "Personal.mlmodel")
    with pytest.raises(BadInputError, match="lies outside the folder of the model that links it"):
        emulator.load(folder / "Personal.mlmodel")


def test_missing_linked_file_and_other_model_types(tmp_path: Path):
    link = Model_pb2.Model(specificationVersion=4)
    link.description.CopyFrom(_extractor().description)
    link.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = "Nowhere.mlmodel"
    save_spec(_pipeline(_nn_head(), link), tmp_path / "Personal.mlmodel")
    with pytest.raises(BadInputError, match="the linked model 'Nowhere.mlmodel' was not found"):
        emulator.load(tmp_path / "Personal.mlmodel")
    other = Model_pb2.Model(specificationVersion=4)
    other.glmClassifier.SetInParent()
    with pytest.raises(UnsupportedModelError, match="the runtime handles .*kNearestNeighborsClassifier"):
        emulator.load(other)


@pytest.mark.parametrize("kind", ["pipeline", "pipelineRegressor"])
def test_plain_and_regressor_pipelines_predict_by_name(kind: str):
    x, _ = _data(5)
    rng = np.random.default_rng(4)
    b = NeuralNetworkBuilder([("embedding", datatypes.Array(6))], [("y", datatypes.Array(2))])
    b.add_inner_product("reg", rng.normal(size=(2, 6)).astype(np.float32), None, 6, 2, False, "embedding", "y")
    head = _float32(b.spec)
    head.specificationVersion = 4
    spec = Model_pb2.Model(specificationVersion=4)
    spec.description.input.extend(_extractor().description.input)
    spec.description.output.extend(head.description.output)
    pipe = spec.pipeline if kind == "pipeline" else spec.pipelineRegressor.pipeline
    pipe.models.add().CopyFrom(_extractor())
    pipe.models.add().CopyFrom(head)
    model = emulator.load(spec)
    embedding = emulator.load(_extractor()).predict({"x": x})["embedding"]
    np.testing.assert_array_equal(model.predict({"x": x})["y"], emulator.load(head).predict({"embedding": embedding})["y"])
    assert model.class_labels is None
    with pytest.raises(BadInputError, match="the pipeline is not updatable"):
        model.update({"x": x, "y": np.zeros((5, 2))})
