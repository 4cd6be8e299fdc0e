"""Keras files as users have them: built-in losses stored as functions, legacy Keras 2 / tf.keras ``.h5``
(made by ``fixtures/legacy_h5.py`` with tf-keras), SavedModel folders."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from converter.keras.reader import load_keras, read_keras
from ground.errors import BadInputError, UnsupportedModelError

from .conftest import FIXTURES

LEGACY = FIXTURES / "legacy"


def _mlp(keras, loss, metrics):
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="probs")(inp))
    model.compile(optimizer="sgd", loss=loss, metrics=metrics)
    return model


def test_builtin_loss_and_metric_stored_as_functions_load(tmp_path, keras_mod):
    keras = keras_mod
    path = tmp_path / "fn_loss.keras"
    _mlp(keras, keras.losses.categorical_crossentropy, [keras.metrics.categorical_accuracy]).save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert config["compile_config"]["loss"]["module"] == "builtins"
    assert config["compile_config"]["loss"]["class_name"] == "function"
    graph = read_keras(path)
    assert graph.compile.loss == "categorical_crossentropy"


def test_a_function_keras_does_not_know_is_refused(tmp_path, keras_mod):
    keras = keras_mod

    def my_loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(y_true - y_pred))

    path = tmp_path / "custom_loss.keras"
    _mlp(keras, my_loss, None).save(path)
    with pytest.raises(UnsupportedModelError, match=r"function 'my_loss' \(not one of Keras' own\).*"
                                                    r"--allow-unsafe-code"):
        read_keras(path)


@pytest.mark.parametrize("name, shape", [("tfkeras_sequential", (13,)), ("keras206_sequential", (13,)),
                                         ("tfkeras_functional", (12, 12, 1))])
def test_legacy_h5_loads_with_its_batch_input_shape(name, shape):
    model = load_keras(LEGACY / f"{name}.h5")
    assert tuple(model.input_shape[1:]) == shape
    ref = np.load(LEGACY / f"{name}.npz")
    np.testing.assert_allclose(model.predict(ref["x"], verbose=0), ref["y"], atol=1e-6)


def test_keras_206_h5_converts_with_its_compile_config():
    import emulator
    from converter.convert import convert

    result = convert(LEGACY / "keras206_sequential.h5")
    spec = result.spec
    assert list(spec.description.input[0].type.multiArrayType.shape) == [13]
    adam = spec.neuralNetwork.updateParams.optimizer.adamOptimizer
    assert adam.learningRate.defaultValue == pytest.approx(0.01)       # Keras 2's 'lr'
    ref = np.load(LEGACY / "keras206_sequential.npz")
    got = emulator.load(spec).predict(ref["x"])[spec.description.output[0].name]
    assert float(np.abs(got - ref["y"]).max()) <= 1e-5


def test_savedmodel_folder_is_refused_with_the_fix(tmp_path):
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"TensorFlow SavedModel.*tf_keras.models.load_model"):
        load_keras(folder)
