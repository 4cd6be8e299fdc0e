"""Loading any NeuralNetwork model and predicting with it; bad files and bad inputs."""
from __future__ import annotations

import numpy as np
import pytest

import emulator
from ground.protos import Model_pb2, coremltools as ct
from ground.errors import BadInputError, UnsupportedModelError
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from .nets import dense_softmax

W = np.arange(15, dtype=np.float32).reshape(3, 5) / 10
B = np.array([0.1, -0.2, 0.3], np.float32)
X = np.random.default_rng(0).normal(0, 1, (4, 5)).astype(np.float32)


def _expected(x):
    z = x @ W.T + B
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def spec():
    return dense_softmax(W, B)


@pytest.mark.parametrize("kind", ["spec", "bytes", "path", "mlmodel"])
def test_loads_from_every_source(spec, kind, tmp_path):
    if kind == "spec":
        source = spec
    elif kind == "bytes":
        source = spec.SerializeToString()
    elif kind == "path":
        source = tmp_path / "m.mlmodel"
        source.write_bytes(spec.SerializeToString())
    else:
        source = ct.models.MLModel(spec)
    out = emulator.load(source).predict({"x": X})
    np.testing.assert_allclose(out["probs"], _expected(X), atol=1e-6)


@pytest.mark.parametrize("content, message", [
    (b"", r"the file is empty"),
    (b"this is plain text, not a model", r"not a Core ML model"),
])
def test_files_that_are_not_models_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.mlmodel"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        emulator.load(path)


def test_truncated_model_is_refused(spec, tmp_path):
    path = tmp_path / "cut.mlmodel"
    path.write_bytes(spec.SerializeToString()[:-7])
    with pytest.raises(BadInputError, match=r"truncated"):
        emulator.load(path)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(BadInputError, match=r"no such file"):
        emulator.load(tmp_path / "nope.mlmodel")
    with pytest.raises(BadInputError, match=r"is a folder"):
        emulator.load(tmp_path)


def test_unsupported_model_type_is_refused():
    spec = Model_pb2.Model(specificationVersion=4)
    spec.glmClassifier.offset.append(0.0)
    with pytest.raises(UnsupportedModelError, match=r"model type 'glmClassifier' is not supported"):
        emulator.load(spec)


def test_wrong_input_shape_and_name_are_refused(spec):
    model = emulator.load(spec)
    with pytest.raises(BadInputError, match=r"input 'x' has shape \(4, 6\), expected \(N, 5\)"):
        model.predict({"x": np.zeros((4, 6), np.float32)})
    with pytest.raises(BadInputError, match=r"unknown \['y'\], missing \['x'\]"):
        model.predict({"y": X})


def test_classifier_returns_labels_and_probabilities():
    b = NeuralNetworkBuilder([("x", datatypes.Array(5))], [("probs", datatypes.Array(3))], mode="classifier")
    b.add_inner_product("fc", W, B, 5, 3, True, "x", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_class_labels(["cat", "dog", "bird"], predicted_feature_name="label")
    model = emulator.load(b.spec)
    out = model.predict(X)
    np.testing.assert_allclose(out["probs"], _expected(X), atol=1e-6)
    assert out["label"].tolist() == np.array(["cat", "dog", "bird"])[_expected(X).argmax(1)].tolist()
    dicts = model.probabilities_as_dicts(out["probs"])
    assert set(dicts[0]) == {"cat", "dog", "bird"} and sum(dicts[0].values()) == pytest.approx(1.0)


def test_image_input_accepts_chw_batches():
    b = NeuralNetworkBuilder([("img", datatypes.Array(2, 3, 4))], [("flat", datatypes.Array(24))])
    b.add_flatten("flatten", 0, "img", "flat")
    x = np.arange(2 * 24, dtype=np.float32).reshape(2, 2, 3, 4)
    out = emulator.load(b.spec).predict(x)["flat"]
    np.testing.assert_array_equal(out, x.reshape(2, 24))     # CHANNEL_FIRST: C-major, as the CHW array


def test_image_preprocessing_scaler_applies_before_the_first_layer():
    b = NeuralNetworkBuilder([("img", datatypes.Array(1, 2, 3))], [("flat", datatypes.Array(6))])
    b.add_flatten("flatten", 0, "img", "flat")
    spec = b.spec
    image = spec.description.input[0].type
    image.ClearField("multiArrayType")
    image.imageType.width, image.imageType.height = 3, 2
    image.imageType.colorSpace = 10                          # GRAYSCALE
    pre = spec.neuralNetwork.preprocessing.add(featureName="img")
    pre.scaler.channelScale, pre.scaler.grayBias = 2.0, -1.0
    x = np.arange(12, dtype=np.float32).reshape(2, 1, 2, 3)
    out = emulator.load(spec).predict({"img": x})["flat"]
    np.testing.assert_allclose(out, 2.0 * x.reshape(2, 6) - 1.0)


def test_saved_files_follow_the_umask_not_mkstemps_0600(spec, tmp_path):
    import os
    import stat

    from ground.spec_io import save_spec

    old = os.umask(0o022)
    try:
        save_spec(spec, tmp_path / "m.mlmodel")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.mlmodel").stat().st_mode) == 0o644
