"""The Keras reader: graphs of Sequential/Functional/nested models, safe loading, bad files."""
from __future__ import annotations

import numpy as np
import pytest

from converter.keras.reader import read_keras
from ground.errors import BadInputError, UnsupportedLayerError, UnsupportedModelError

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def lenet_graph():
    return read_keras(FIXTURES / "lenet.keras")


def test_sequential_graph(lenet_graph):
    g = lenet_graph
    assert [layer.kind for layer in g.layers] == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
                                                  "Flatten", "Dense", "Dense"]
    assert g.inputs[0].name == "image" and g.inputs[0].shape == (28, 28, 1)
    assert g.outputs[0].name == "probs" and g.outputs[0].shape == (10,)
    conv1 = g.layers[1]
    assert conv1.inputs == ["image"] and conv1.output_shapes == [(26, 26, 32)]
    assert set(conv1.weights) == {"kernel", "bias"} and conv1.weights["kernel"].shape == (3, 3, 1, 32)
    assert g.layers[5].output_shapes == [(1152,)]
    assert sum(w.size for layer in g.layers for w in layer.weights.values()) == 585_958


def test_compile_facts(lenet_graph):
    c = lenet_graph.compile
    assert c.loss == "sparse_categorical_crossentropy" and not c.from_logits
    assert c.optimizer == "adam"
    assert c.optimizer_config["learning_rate"] == 0.001 and c.optimizer_config["epsilon"] == 1e-7


def test_functional_branches_in_topological_order():
    g = read_keras(FIXTURES / "branches.keras")
    seen = {t.name for t in g.inputs}
    for layer in g.layers[1:]:
        assert set(layer.inputs) <= seen, f"{layer.name} uses a tensor before it is produced"
        seen |= set(layer.outputs)
    by_name = {layer.name: layer for layer in g.layers}
    assert by_name["residual"].inputs == ["stem", "branch_a"]
    assert by_name["concat"].inputs == ["residual", "branch_b"]


def test_nested_model_is_flattened_with_trainable_flags():
    g = read_keras(FIXTURES / "personalization.keras")
    names = {layer.name: layer.trainable for layer in g.layers if layer.kind != "InputLayer"}
    assert names == {"features/conv1": False, "features/pool1": False, "features/conv2": False,
                     "features/pool2": False, "flatten": True, "head1": True, "probs": True}
    assert g.compile.optimizer == "sgd" and g.compile.optimizer_config["momentum"] == 0.9


def test_loss_object_from_logits(keras_mod):
    keras = keras_mod
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="my_loss"))
    c = read_keras(model).compile
    assert (c.loss, c.from_logits, c.optimizer) == ("sparse_categorical_crossentropy", True, "sgd")


def test_uncompiled_model_has_no_compile_facts(keras_mod):
    keras = keras_mod
    inp = keras.Input((3,))
    assert read_keras(keras.Model(inp, keras.layers.Dense(2)(inp))).compile is None


def test_unbuilt_sequential_is_refused(keras_mod):
    model = keras_mod.Sequential([keras_mod.layers.Dense(2)])
    with pytest.raises(BadInputError, match="not built"):
        read_keras(model)


def test_subclassed_model_is_refused(keras_mod):
    keras = keras_mod

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    model = Sub()
    model(np.zeros((1, 3), np.float32))
    with pytest.raises(UnsupportedModelError, match="subclassed"):
        read_keras(model)


def test_unknown_dimension_is_refused(keras_mod):
    keras = keras_mod
    inp = keras.Input((None, 4))
    with pytest.raises(BadInputError, match="unknown dimensions"):
        read_keras(keras.Model(inp, keras.layers.Dense(2)(inp)))


# ---------------------------------------------------------------- files


@pytest.fixture(scope="module")
def lambda_file(tmp_path_factory, keras_mod):
    keras = keras_mod
    inp = keras.Input((3,))
    out = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp)
    path = tmp_path_factory.mktemp("lambda") / "lambda.keras"
    keras.Model(inp, out).save(path)
    return path


def test_lambda_is_refused_in_safe_mode(lambda_file):
    with pytest.raises(UnsupportedModelError, match="Lambda layer 'double'.*--allow-unsafe-code"):
        read_keras(lambda_file)


def test_lambda_loads_when_allowed_then_is_unsupported(lambda_file):
    from converter.convert import to_inference_spec
    g = read_keras(lambda_file, allow_unsafe=True)
    assert [layer.kind for layer in g.layers] == ["InputLayer", "Lambda"]
    with pytest.raises(UnsupportedLayerError, match="'double' \\(Lambda\\)"):
        to_inference_spec(lambda_file, allow_unsafe=True)


def test_custom_layer_is_refused(tmp_path, keras_mod):
    keras = keras_mod

    @keras.saving.register_keras_serializable(package="ConverterTests")
    class Twice(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inp = keras.Input((3,))
    path = tmp_path / "custom.keras"
    keras.Model(inp, Twice(name="twice")(inp)).save(path)
    with pytest.raises(UnsupportedModelError, match="custom Twice 'twice'"):
        read_keras(path)


def test_truncated_file(tmp_path):
    data = (FIXTURES / "branches.keras").read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="truncated.*Fix: re-save"):
        read_keras(path)


def test_not_a_keras_file(tmp_path):
    path = tmp_path / "text.keras"
    path.write_text("hello")
    with pytest.raises(BadInputError, match="not a .keras archive"):
        read_keras(path)
    h5 = tmp_path / "text.h5"
    h5.write_text("hello")
    with pytest.raises(BadInputError, match="not an HDF5 file"):
        read_keras(h5)


def test_wrong_suffix_missing_file_and_folder(tmp_path):
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(BadInputError, match="not a Keras model file suffix"):
        read_keras(tmp_path / "m.txt")
    with pytest.raises(BadInputError, match="no such file"):
        read_keras(tmp_path / "missing.keras")
    with pytest.raises(BadInputError, match="is a folder, not a Keras model file"):
        read_keras(tmp_path)


def test_h5_round_trip_and_weights_only(tmp_path, keras_mod):
    keras = keras_mod
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, keras.layers.Dense(3, activation="relu", name="d")(inp))
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.h5")
    g = read_keras(tmp_path / "m.h5")
    assert [layer.name for layer in g.layers] == ["x", "d"] and g.compile.loss == "mse"
    np.testing.assert_array_equal(g.layers[1].weights["kernel"], model.layers[1].get_weights()[0])
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(BadInputError, match="weights only"):
        read_keras(tmp_path / "w.weights.h5")


def test_h5_compile_facts_with_loss_object(tmp_path, keras_mod):
    keras = keras_mod
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, keras.layers.Dense(3, name="d")(inp))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "m.h5")
    c = read_keras(tmp_path / "m.h5").compile
    assert (c.loss, c.from_logits, c.optimizer) == ("sparse_categorical_crossentropy", True, "sgd")
    assert c.optimizer_config["learning_rate"] == 0.05 and c.optimizer_config["momentum"] == 0.5
