"""ONNX through the CLI: convert the Keras-exported LeNet, validate it, verify it against its Keras original."""
from __future__ import annotations

import json
from pathlib import Path

from coreml_updatable.cli import main
from tests.shared_data import MNIST, needs_mnist

ROOT = Path(__file__).resolve().parents[2]
LENET_ONNX = ROOT / "fixtures" / "onnx" / "lenet_keras.onnx"


def test_convert_then_validate_the_keras_exported_lenet(tmp_path, capsys):
    out = tmp_path / "lenet.mlmodel"
    assert main(["convert", str(LENET_ONNX), "-o", str(out), "--json-report"]) == 0
    report = json.loads(capsys.readouterr().out)
    marked = [e["subject"] for e in report["report"] if e["action"] == "marked"]
    assert len(marked) == 4
    assert main(["validate", str(out)]) == 0


@needs_mnist
def test_verify_against_the_keras_reference_passes(tmp_path, capsys):
    code = main(["verify", str(LENET_ONNX), "--reference", str(ROOT / "fixtures" / "lenet.keras"),
                 "--data", str(MNIST), "--epochs", "1", "--limit", "1000", "--no-progress", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["passed"]


@needs_mnist
def test_verify_without_reference_checks_the_forward_pass_only(capsys):
    code = main(["verify", str(LENET_ONNX), "--data", str(MNIST), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "forward parity vs onnxruntime" in out and "--reference" in out


def test_input_shape_is_refused_for_keras_sources(tmp_path, capsys):
    code = main(["convert", str(ROOT / "fixtures" / "lenet.keras"), "-o", str(tmp_path / "m.mlmodel"),
                 "--input-shape", "image=1,28,28"])
    assert code == 2
    assert "input shapes can only be fixed for ONNX models" in capsys.readouterr().err
    assert not (tmp_path / "m.mlmodel").exists()
