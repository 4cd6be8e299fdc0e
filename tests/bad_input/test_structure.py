"""Every command checks a model's structure before using it: a cycle gets Core ML's rule, not a KeyError;
a model that cannot be trained, a custom class, a broken ONNX graph are each named as such."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from .conftest import refused, tiny_spec

ONNX = Path(__file__).resolve().parents[2] / "fixtures" / "onnx" / "torch_mlp.onnx"
KERAS = Path(__file__).resolve().parents[2] / "fixtures" / "branches.keras"


def _cyclic(work: Path) -> Path:
    """flatten reads the dense layer's output and the dense layer reads flatten's: a cycle."""
    spec = tiny_spec()
    spec.neuralNetwork.layers[0].input[0] = "logits"
    path = work / "cyclic.mlmodel"
    path.write_bytes(spec.SerializeToString())
    return path


@pytest.mark.parametrize("command", ["inspect", "predict", "train", "evaluate"])
def test_a_cycle_gets_the_rule_in_every_command(capsys, work, command):
    extra = {"predict": ["--input", work / "x.npy", "-o", work / "y.npy"],
             "train": ["--data", work / "data.npz", "-o", work / "t.mlmodel"],
             "evaluate": ["--data", work / "data.npz"]}.get(command, [])
    result = refused(capsys, work, command, _cyclic(work), *extra, rc=1,
                     match=["[rule 4]", "Layer 'flat' consumes an input named 'logits' which is not present in this "
                                        "network."])
    assert "KeyError" not in result.text


def test_validate_reports_the_cycle_too(capsys, work):
    refused(capsys, work, "validate", _cyclic(work), rc=1, match=["[rule 4]", "'logits'"])


def test_an_output_no_layer_produces(capsys, work):
    spec = tiny_spec()
    spec.description.output[0].name = "nowhere"
    (work / "m2.mlmodel").write_bytes(spec.SerializeToString())
    refused(capsys, work, "predict", work / "m2.mlmodel", "--input", work / "x.npy", "-o", work / "y.npy", rc=1,
            match="Interface specifies output 'nowhere' which is not produced by any layer")


def test_training_a_model_that_is_not_updatable(capsys, work):
    (work / "frozen.mlmodel").write_bytes(tiny_spec(updatable=False).SerializeToString())
    result = refused(capsys, work, "train", work / "frozen.mlmodel", "--data", work / "data.npz",
                     "-o", work / "t.mlmodel", match=["not updatable (isUpdatable is false)", "coreml-updatable convert"])
    assert "loss layer" not in result.text


def test_a_file_that_is_not_a_model(capsys, work):
    (work / "junk.mlmodel").write_bytes(b"\x08\x04" + b"\xff" * 30)
    refused(capsys, work, "inspect", work / "junk.mlmodel", match="not a Core ML model")


def test_an_ml_program_is_named(capsys, work):
    from ground.protos import Model_pb2

    spec = Model_pb2.Model()
    spec.specificationVersion = 7
    spec.mlProgram.SetInParent()
    (work / "prog.mlmodel").write_bytes(spec.SerializeToString())
    refused(capsys, work, "predict", work / "prog.mlmodel", "--input", work / "x.npy", "-o", work / "y.npy",
            match="model type 'mlProgram' is not supported")


def test_onnx_cycle_message_is_whole(capsys, work):
    import onnx

    model = onnx.load(str(ONNX))
    nodes = list(model.graph.node)
    nodes[0].input[0] = nodes[-1].output[0]          # the first node reads the last one's output
    path = work / "cycle.onnx"
    onnx.save(model, str(path))
    result = refused(capsys, work, "convert", path, "-o", work / "out.mlmodel",
                     match=["onnx.checker rejects the model", "topologically sorted"])
    assert "of node: ." not in result.text and "is not output of any previous nodes" in result.text


def test_onnx_external_data_shorter_than_its_tensor(capsys, work):
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    model = onnx.load(str(ONNX))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save(model, str(work / "ext.onnx"))
    data = work / "weights.bin"
    data.write_bytes(data.read_bytes()[:100])
    refused(capsys, work, "convert", work / "ext.onnx", "-o", work / "out.mlmodel",
            match=["needs", "but the file holds", "(truncated)"])


def test_onnx_external_data_outside_the_folder(capsys, work):
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    model = onnx.load(str(ONNX))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../../etc/passwd"
    (work / "ext.onnx").write_bytes(model.SerializeToString())    # onnx.save would refuse it itself
    refused(capsys, work, "convert", work / "ext.onnx", "-o", work / "out.mlmodel", match="outside the model's folder")


def _keras_with(work: Path, edit) -> Path:
    path = work / "edited.keras"
    with zipfile.ZipFile(KERAS) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            dst.writestr(info.filename, data)
    return path


def test_a_custom_layer_class_is_named(capsys, work):
    def edit(config):
        layer = config["config"]["layers"][1]
        layer["class_name"] = "MyFancyLayer"
        layer.pop("registered_name", None)
    refused(capsys, work, "convert", _keras_with(work, edit), "-o", work / "out.mlmodel",
            match=["'MyFancyLayer'", "--allow-unsafe-code"])


def test_a_lambda_layer_is_refused_without_running_it(capsys, work):
    def edit(config):
        config["config"]["layers"][1]["class_name"] = "Lambda"
    refused(capsys, work, "convert", _keras_with(work, edit), "-o", work / "out.mlmodel",
            match=["carries Python code", "Lambda layer"])


def test_a_keras_archive_without_config(capsys, work):
    with zipfile.ZipFile(work / "empty.keras", "w") as zf:
        zf.writestr("metadata.json", "{}")
    refused(capsys, work, "convert", work / "empty.keras", "-o", work / "out.mlmodel", match="holds no config.json")


def test_a_keras_config_that_is_not_json(capsys, work):
    with zipfile.ZipFile(work / "bad.keras", "w") as zf:
        zf.writestr("config.json", b"\xff\xfe not json")
    refused(capsys, work, "convert", work / "bad.keras", "-o", work / "out.mlmodel", match="not valid JSON")
