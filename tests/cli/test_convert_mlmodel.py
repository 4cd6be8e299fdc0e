"""`coreml-updatable convert model.mlmodel`: the Core ML front end through the CLI (fixtures/ct_mlp.mlmodel)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from coreml_updatable.cli import main  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "fixtures" / "ct_mlp.mlmodel")


def test_convert_an_mlmodel_reports_each_rewrite_in_text_json_and_metadata(tmp_path, capsys):
    out = tmp_path / "up.mlmodel"
    assert main(["convert", SRC, "-o", str(out), "--updatable", "last:1", "--optimizer", "sgd",
                 "--learning-rate", "0.05", "--json-report"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    rewrites = [e for e in report if e["stage"] == "coreml" and e["action"] == "rewritten"]
    assert [e["reason"].split(":")[0] for e in rewrites] == ["batched_matmul_to_inner_product",
                                                            "softmax_nd_to_softmax"]
    assert rewrites[0]["subject"] == "sequential_1/dense_1/MatMul"
    import emulator

    original, model = emulator.load(SRC), emulator.load(out)
    assert [l.name for l in model.nn.layers if l.isUpdatable] == ["sequential_1/dense_1_2/BiasAdd"]
    assert model.nn.updateParams.optimizer.sgdOptimizer.learningRate.defaultValue == 0.05
    meta = json.loads(model.spec.description.metadata.userDefined["coreml_updatable.rewrites"])
    assert [m["subject"] for m in meta if m["action"] == "rewritten"] == [e["subject"] for e in rewrites]
    x = np.random.default_rng(0).random((16, 784), dtype=np.float32)
    before = original.predict(x[:, None])["Identity"].reshape(16, 10)
    assert np.abs(model.predict(x)["Identity"] - before).max() <= 1e-5


def test_convert_an_mlmodel_prints_the_report(tmp_path, capsys):
    out = tmp_path / "up.mlmodel"
    assert main(["convert", SRC, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "[coreml] rewritten sequential_1/dense_1_2/Softmax: softmax_nd_to_softmax: into softmax" in text
    assert "inputs 'x' [784]" in text


def test_interface_options_are_refused_for_an_mlmodel(tmp_path, capsys):
    assert main(["convert", SRC, "-o", str(tmp_path / "x.mlmodel"), "--class-labels", "a,b"]) == 2
    err = capsys.readouterr().err
    assert "--class-labels cannot change an existing Core ML model's interface" in err and "Traceback" not in err
