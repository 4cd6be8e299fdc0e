"""Personalization pipelines from a Keras model: structure, predictions against Keras, examples, links, errors."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import emulator  # noqa: E402
from ground.errors import BadInputError, UnsupportedModelError  # noqa: E402
from converter.personalize import KNNOptions, personalize, split_keras  # noqa: E402
from ground.rules import violations  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LENET = FIXTURES / "lenet.keras"


@pytest.fixture(scope="module")
def lenet():
    import keras
    return keras.saving.load_model(LENET)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.random((16, 28, 28, 1), dtype=np.float32)


def test_knn_pipeline_structure_and_embedding(lenet, images):
    result = personalize(lenet, mode="knn", embedding="dense1", knn=KNNOptions(k=5, weighting="distance",
                                                                              index="kdtree", default_label=-1))
    spec = result.spec
    assert spec.WhichOneof("Type") == "pipelineClassifier" and spec.isUpdatable and violations(spec) == []
    extractor, knn = spec.pipelineClassifier.pipeline.models
    assert not extractor.isUpdatable and knn.isUpdatable
    assert list(spec.pipelineClassifier.pipeline.names) == ["extractor", "knn"]
    k = knn.kNearestNeighborsClassifier
    assert k.numberOfNeighbors.defaultValue == 5 and k.HasField("inverseDistanceWeighting")
    assert k.nearestNeighborsIndex.singleKdTreeIndex.leafSize == 30 and k.defaultInt64Label == -1
    assert [t.name for t in spec.description.trainingInput] == ["image", "classLabel"]
    assert spec.description.predictedFeatureName == "classLabel"
    keras_emb = split_keras(lenet, "dense1")[0].predict(images, verbose=0)
    model = emulator.load(spec)
    np.testing.assert_allclose(model.stages[0].predict({"image": images.transpose(0, 3, 1, 2)})["embedding"],
                               keras_emb, atol=1e-5)


def test_knn_filled_from_npz_and_folder(lenet, images, tmp_path: Path):
    np.savez(tmp_path / "ex.npz", x=(images[..., 0] * 255).astype(np.uint8), y=np.arange(16) % 4)
    result = personalize(lenet, mode="knn", embedding="dense1", examples=tmp_path / "ex.npz")
    knn = emulator.load(result.spec).last
    assert result.examples == 16 and knn.sample_labels == (np.arange(16) % 4).tolist() and knn.labels_are_int
    from PIL import Image
    for label in ("cat", "dog"):
        (tmp_path / "shots" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray((images[i, ..., 0] * 255).astype(np.uint8)).save(tmp_path / "shots" / label / f"{i}.png")
    knn = emulator.load(personalize(lenet, mode="knn", embedding="dense1", examples=tmp_path / "shots").spec).last
    assert knn.sample_labels == ["cat", "cat", "dog", "dog"] and knn.class_labels == ["cat", "dog"]


def test_head_pipeline_predicts_as_keras(lenet, images):
    spec = personalize(lenet, mode="head", embedding="dense1").spec
    assert violations(spec) == []
    extractor, head = spec.pipelineClassifier.pipeline.models
    assert head.WhichOneof("Type") == "neuralNetworkClassifier" and head.isUpdatable and not extractor.isUpdatable
    assert [layer.name for layer in head.neuralNetworkClassifier.layers if layer.isUpdatable] == ["probs"]
    out = emulator.load(spec).predict(images.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(out["probs"], lenet.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(out["classLabel"], lenet.predict(images, verbose=0).argmax(1))


def test_linked_extractor_written_beside(lenet, images, tmp_path: Path):
    result = personalize(lenet, mode="knn", embedding="dense1", linked_name="Personal-extractor.mlmodelc")
    written = result.save(tmp_path / "Personal.mlmodel")
    assert [p.name for p in written] == ["Personal.mlmodel", "Personal-extractor.mlmodel"]
    first = result.spec.pipelineClassifier.pipeline.models[0]
    assert first.WhichOneof("Type") == "linkedModel" and violations(result.spec) == []
    x = images.transpose(0, 3, 1, 2)
    linked = emulator.load(tmp_path / "Personal.mlmodel")
    np.testing.assert_array_equal(linked.stages[0].predict({"image": x})["embedding"],
                                  emulator.load(result.extractor).predict({"image": x})["embedding"])


def test_errors(lenet):
    with pytest.raises(BadInputError, match="the model has no layer 'nope'.*pick one of conv1, pool1"):
        personalize(lenet, mode="knn", embedding="nope")
    with pytest.raises(BadInputError, match="'probs' is the model's last layer"):
        personalize(lenet, mode="head", embedding="probs")
    with pytest.raises(BadInputError, match=r"the output of 'pool2' has shape \(32, 6, 6\); a k-NN needs a vector"):
        personalize(lenet, mode="knn", embedding="pool2")
    with pytest.raises(BadInputError, match="--examples fills a k-NN"):
        personalize(lenet, mode="head", embedding="dense1", examples="x.npz")
    with pytest.raises(UnsupportedModelError, match="do not form a chain"):
        personalize(FIXTURES / "branches.keras", mode="head", embedding="stem")


def test_head_cut_before_flatten_trains(lenet, images):
    """A head holding Flatten + Dense layers (the cut on a (C, H, W) blob) predicts as Keras."""
    spec = personalize(lenet, mode="head", embedding="pool2").spec
    out = emulator.load(spec).predict(images.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(out["probs"], lenet.predict(images, verbose=0), atol=1e-5)
