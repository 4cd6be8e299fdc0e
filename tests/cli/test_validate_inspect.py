"""`coreml-updatable validate` and `inspect`: exit codes, listed rules, JSON output, the LeNet table."""
from __future__ import annotations

import json

import pytest

from coreml_updatable.cli import main
from ground.spec_io import save_spec
from tests.transforms.specs import lenet_facts, lenet_spec, make, mlp_builder, updatable_mlp


@pytest.fixture(scope="module")
def lenet_path(tmp_path_factory):
    spec, _ = make(lenet_spec(), facts=lenet_facts(), updatable="last:2", seed=5)
    return str(save_spec(spec, tmp_path_factory.mktemp("m") / "lenet.mlmodel"))


def test_validate_valid_model(lenet_path, capsys):
    assert main(["validate", lenet_path]) == 0
    assert "valid updatable Core ML model" in capsys.readouterr().out


def test_validate_lists_every_broken_rule(tmp_path, capsys):
    spec = updatable_mlp()
    spec.specificationVersion = 3
    spec.neuralNetwork.updateParams.ClearField("epochs")
    path = str(save_spec(spec, tmp_path / "bad.mlmodel"))
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out
    assert "breaks 2 rule(s), 2 of them Core ML's own" in out
    assert "[rule 1] Model specification version for an updatable model must be '4' or above." in out
    assert "[rule 17] Epochs should be included in neural network update parameters." in out
    assert main(["validate", path, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and [v["rule"] for v in data["violations"]] == ["1", "17"]


def test_validate_not_updatable_model(tmp_path, capsys):
    path = str(save_spec(mlp_builder().spec, tmp_path / "inference.mlmodel"))
    assert main(["validate", path]) == 3
    assert "valid, but not updatable (isUpdatable is false)" in capsys.readouterr().out
    assert main(["validate", path, "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert (data["updatable"], data["valid"], data["status"], data["violations"]) == (
        False, True, "not_updatable", [])


def test_validate_not_updatable_with_a_broken_rule_exits_1(tmp_path, capsys):
    spec = mlp_builder().spec
    spec.description.output[0].name = "nowhere"
    path = str(save_spec(spec, tmp_path / "broken.mlmodel"))
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out
    assert "the model is not updatable either" in out and "[rule 4]" in out


def test_validate_float16_frozen_weights_are_not_a_violation(tmp_path, capsys):
    import numpy as np
    spec = updatable_mlp()
    frozen = next(layer for layer in spec.neuralNetwork.layers if layer.name == "h")
    frozen.isUpdatable = frozen.innerProduct.weights.isUpdatable = frozen.innerProduct.bias.isUpdatable = False
    ip = frozen.innerProduct
    for wp in (ip.weights, ip.bias):            # both: Core ML refuses float32 mixed with float16 in one layer
        wp.float16Value = np.asarray(wp.floatValue, np.float16).tobytes()
        wp.ClearField("floatValue")
    path = str(save_spec(spec, tmp_path / "fp16.mlmodel"))
    assert main(["validate", path]) == 0
    assert "valid updatable Core ML model" in capsys.readouterr().out


def test_validate_unreadable_file(tmp_path, capsys):
    path = tmp_path / "junk.mlmodel"
    path.write_bytes(b"\xff\xfenot a model")
    assert main(["validate", str(path)]) == 2
    assert "not a Core ML model" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "missing.mlmodel")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_inspect_lenet_table(lenet_path, capsys):
    assert main(["inspect", lenet_path]) == 0
    out = capsys.readouterr().out
    assert "total parameters: 585,958; updatable: 581,510" in out
    assert "conv1   convolution   (32, 26, 26)      320" in out
    assert "optimizer: adam: learningRate 0.001 range [0, 1]" in out
    assert "seed: 5" in out
    assert "training inputs: image MultiArray<Double>[1,28,28], probs_true MultiArray<Int32>[1]" in out


def test_inspect_json(lenet_path, capsys):
    assert main(["inspect", lenet_path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["parameters"] == 585_958
    rows = {r["name"]: r for r in data["layers"]}
    assert rows["flat"]["output_shape"] == [1152]
    assert rows["dense2"] == {"name": "dense2", "type": "innerProduct", "output_shape": [10], "parameters": 5010,
                              "updatable": True, "backprop_path": True}
    assert rows["conv1"]["backprop_path"] is False
    assert data["update"]["loss"][0]["target"] == "probs_true"
    assert data["update"]["epochs"] == {"default": 1, "range": [1, 1000]}


def test_inspect_unknown_layer_shows_question_marks(tmp_path, capsys):
    b = mlp_builder()
    spec = b.spec
    layer = spec.neuralNetwork.layers.add()               # a custom layer: no runtime can know it
    layer.name = "mystery"
    layer.input.append("probs")
    layer.output.append("extra")
    layer.custom.className = "MyLayer"
    path = str(save_spec(spec, tmp_path / "odd.mlmodel"))
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "output shapes unknown: the emulator cannot run this model" in out
    assert "mystery  custom" in out and "?" in out


def test_pipeline_models_are_checked_and_listed(tmp_path, capsys):
    from ground.protos import Model_pb2

    spec = Model_pb2.Model(specificationVersion=4, isUpdatable=True)
    spec.description.input.add().CopyFrom(mlp_builder().spec.description.input[0])
    for model in (updatable_mlp(), updatable_mlp()):
        spec.pipeline.models.add().CopyFrom(model)
    path = str(save_spec(spec, tmp_path / "pipe.mlmodel"))
    assert main(["validate", path]) == 1
    assert ("[rule 3] pipeline model 0: Only the last model in the pipeline can be updatable. Model at position '0' "
            "is marked as updatable.") in capsys.readouterr().out
    assert main(["inspect", path]) == 0
    out = capsys.readouterr().out
    assert "--- pipeline model 1 'model 1': neuralNetwork, TRAINS ---" in out and "total parameters: 67; updatable: 67" in out


def test_validate_interface_and_other_model_rules_exit_codes(tmp_path, capsys):
    from tests.ground.test_rules_models import glm_regressor, scaler

    path = str(save_spec(glm_regressor(), tmp_path / "glm.mlmodel"))       # valid, never updatable
    assert main(["validate", path]) == 3
    assert "valid, but not updatable" in capsys.readouterr().out
    spec = updatable_mlp()
    spec.description.input[0].type.multiArrayType.dataType = 65552     # FLOAT16 at version 4
    spec.description.output[0].type.isOptional = True
    broken = scaler()
    broken.scaler.shiftValue.append(9.0)
    capsys.readouterr()                                               # the builder's own prints
    for name, s in (("fp16", spec), ("scaler", broken)):
        path = str(save_spec(s, tmp_path / f"{name}.mlmodel"))
        assert main(["validate", path, "--json"]) == 1
        data = json.loads(capsys.readouterr().out)
        assert data["status"] == "broken" and data["violations"]
    assert {v["rule"] for v in data["violations"]} == {"36"}
    assert main(["validate", str(tmp_path / "fp16.mlmodel")]) == 1
    out = capsys.readouterr().out
    assert "has FLOAT16 dataType, which is only valid in specification version >= 7. This model has version 4" in out
    assert "Outputs cannot be optional." in out
