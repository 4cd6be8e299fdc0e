"""`coreml-updatable convert`: exit codes, messages, --force, same-as-source, options."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from coreml_updatable.cli import main  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SRC = str(FIXTURES / "branches.keras")


def test_convert_writes_model_and_prints_report(tmp_path, capsys):
    out = tmp_path / "b.mlmodel"
    assert main(["convert", SRC, "-o", str(out), "--updatable", "last:1", "--optimizer", "sgd",
                 "--learning-rate", "0.05", "--batch-size", "8", "--epochs", "3",
                 "--allow", "learning-rate=0.001:0.5", "--allow", "batch-size=8,16"]) == 0
    text = capsys.readouterr().out
    assert out.exists() and "conversion report:" in text and "[mark_updatable] marked probs" in text
    import emulator
    model = emulator.load(out)
    up = model.nn.updateParams
    assert model.is_updatable and up.optimizer.sgdOptimizer.learningRate.defaultValue == 0.05
    assert list(up.optimizer.sgdOptimizer.miniBatchSize.set.values) == [8, 16]
    assert [layer.name for layer in model.nn.layers if layer.isUpdatable] == ["probs"]


def test_existing_output_needs_force(tmp_path, capsys):
    out = tmp_path / "b.mlmodel"
    out.write_bytes(b"old")
    assert main(["convert", SRC, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "output file exists" in err and "--force" in err and "Traceback" not in err
    assert out.read_bytes() == b"old"
    assert main(["convert", SRC, "-o", str(out), "--force", "--json-report", "--updatable", "last:1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(out) and any(e["stage"] == "validate" for e in report["report"])
    assert out.read_bytes() != b"old"


def test_output_same_as_source_is_refused(tmp_path, capsys):
    src = tmp_path / "m.keras"
    shutil.copy(SRC, src)
    before = src.read_bytes()
    assert main(["convert", str(src), "-o", str(src), "--force"]) == 2
    assert "the output path is an input of this command" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_missing_source_and_bad_allow(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "none.keras"), "-o", str(tmp_path / "o.mlmodel")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["convert", SRC, "-o", str(tmp_path / "o.mlmodel"), "--allow", "batch-size=a,b"]) == 2
    assert "must be whole numbers" in capsys.readouterr().err
    assert main(["convert", SRC, "-o", str(tmp_path / "o.mlmodel"), "--allow", "learning-rate"]) == 2
    assert "is not NAME=MIN:MAX" in capsys.readouterr().err
    assert not (tmp_path / "o.mlmodel").exists()


def test_class_labels_from_file(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nbird\nfish\nfrog\n")
    out = tmp_path / "c.mlmodel"
    assert main(["convert", SRC, "-o", str(out), "--class-labels", str(labels), "--input-name", "pixels",
                 "--updatable", "last:1"]) == 0
    import emulator
    model = emulator.load(out)
    assert model.class_labels == ["cat", "dog", "bird", "fish", "frog"]
    assert [f.name for f in model.inputs] == ["pixels"]


def test_rule_violation_exits_1(tmp_path, capsys):
    assert main(["convert", SRC, "-o", str(tmp_path / "o.mlmodel")]) == 1
    err = capsys.readouterr().err
    assert "layer (residual), which does not support backpropagation" in err and "Traceback" not in err
    assert not (tmp_path / "o.mlmodel").exists()


def test_unsafe_model_is_refused_without_traceback(tmp_path, capsys):
    import keras
    inp = keras.Input((3,))
    src = tmp_path / "lambda.keras"
    keras.Model(inp, keras.layers.Lambda(lambda t: t + 1.0, name="plus_one")(inp)).save(src)
    assert main(["convert", str(src), "-o", str(tmp_path / "o.mlmodel")]) == 2
    err = capsys.readouterr().err
    assert "Lambda layer 'plus_one'" in err and "--allow-unsafe-code" in err and "Traceback" not in err
