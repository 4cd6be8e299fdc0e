"""The conversion driver: end to end, determinism, interface names, classifier, saving, registry."""
from __future__ import annotations

import json

import numpy as np
import pytest

from converter.convert import convert, to_inference_spec
from converter.registry import KERAS, Registry
from ground.errors import BadInputError

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def lenet():
    return convert(FIXTURES / "lenet.keras")


def test_lenet_end_to_end(lenet):
    spec = lenet.spec
    assert spec.specificationVersion == 4 and spec.isUpdatable
    assert [f.name for f in spec.description.input] == ["image"]
    assert list(spec.description.input[0].type.multiArrayType.shape) == [1, 28, 28]
    ud = spec.description.metadata.userDefined
    assert ud["coreml_updatable.source"] == "lenet.keras"
    settings = json.loads(ud["coreml_updatable.update"])
    assert settings["optimizer"] == "adamOptimizer" and settings["eps"] == pytest.approx(1e-7)
    assert lenet.facts.trainable_layers == {"conv1", "conv2", "dense1", "probs"}
    assert lenet.facts.blob_shapes["pool2"] == (32, 6, 6)
    assert lenet.mlmodel.get_spec().specificationVersion == 4


def test_lenet_updatable_spec_predicts_like_keras(lenet):
    import keras

    import emulator
    from ground import layout
    model = keras.saving.load_model(FIXTURES / "lenet.keras", compile=False)
    x = np.random.RandomState(0).rand(4, 28, 28, 1).astype(np.float32)
    got = emulator.load(lenet.spec).predict(layout.keras_batch_to_coreml(x))["probs"]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


def test_same_input_gives_same_bytes(lenet):
    again = convert(FIXTURES / "lenet.keras")
    assert again.serialized() == lenet.serialized()


def test_personalization_facts():
    spec, facts, _ = to_inference_spec(FIXTURES / "personalization.keras")
    assert facts.trainable_layers == {"head1", "probs"}
    assert facts.updatable_candidates_order == ["features/conv1", "features/conv2", "head1", "probs"]
    assert facts.source_layer_of["probs__softmax"] == "probs"
    assert (facts.loss, facts.optimizer) == ("cce", "sgd")


def test_names_and_classifier():
    import emulator
    labels = ["a", "b", "c", "d", "e"]
    spec, _, _ = to_inference_spec(FIXTURES / "branches.keras", input_names=["pixels"], output_names=["p"],
                                   class_labels=labels)
    assert spec.WhichOneof("Type") == "neuralNetworkClassifier"
    assert spec.description.predictedFeatureName == "classLabel"
    assert spec.description.predictedProbabilitiesName == "p"
    assert [f.name for f in spec.description.input] == ["pixels"]
    out = emulator.load(spec).predict(np.zeros((2, 3, 10, 8), np.float32))
    assert out["p"].shape == (2, 5) and set(out["classLabel"]) <= set(labels)


def test_int_class_labels():
    spec, _, _ = to_inference_spec(FIXTURES / "branches.keras", class_labels=[0, 1, 2, 3, 4])
    assert list(spec.neuralNetworkClassifier.int64ClassLabels.vector) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kwargs,pattern", [
    ({"class_labels": ["a", "b"]}, "2 class labels given for an output of shape \\(5,\\)"),
    ({"class_labels": ["a", "a", "b", "c", "d"]}, "repeat a label"),
    ({"input_names": ["a", "b"]}, "2 input name\\(s\\) given for 1 model input"),
    ({"output_names": ["stem"]}, "already used by blobs"),
])
def test_bad_interface_options(kwargs, pattern):
    with pytest.raises(BadInputError, match=pattern):
        to_inference_spec(FIXTURES / "branches.keras", **kwargs)


def test_save_refusals_and_force(tmp_path):
    from transforms.options import UpdateOptions
    result = convert(FIXTURES / "branches.keras", options=UpdateOptions(updatable="last:1"))
    out = tmp_path / "m.mlmodel"
    result.save(out)
    first = out.read_bytes()
    with pytest.raises(BadInputError, match="output file exists.*--force"):
        result.save(out)
    result.save(out, force=True)
    assert out.read_bytes() == first
    with pytest.raises(BadInputError, match="the output path is an input of this command"):
        result.save(FIXTURES / "branches.keras", force=True)
    with pytest.raises(BadInputError, match="output folder does not exist"):
        result.save(tmp_path / "nope" / "m.mlmodel")


def test_branches_all_trainable_breaks_the_backprop_rule():
    from ground.errors import BackpropRuleError
    with pytest.raises(BackpropRuleError, match="layer \\(residual\\)"):
        convert(FIXTURES / "branches.keras")


def test_unknown_suffix():
    with pytest.raises(BadInputError, match="unknown model file suffix '.pt'"):
        to_inference_spec("model.pt")


def test_registry_is_generic():
    reg = Registry("test")

    @reg.register("A", "B", coreml="x")
    def fn(layer, ctx):
        return []

    assert reg.kinds() == ["A", "B"] and reg.get("A") is fn and reg.get("C") is None
    with pytest.raises(RuntimeError, match="registered twice"):
        reg.register("A")(fn)


def test_support_table_lists_every_keras_kind():
    from converter.support_table import markdown
    table = markdown(KERAS)
    for kind in KERAS.kinds():
        assert f"| `{kind}` |" in table
    assert len(KERAS.kinds()) >= 50
