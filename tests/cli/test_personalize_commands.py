"""`convert --personalize`, `inspect`, `train` and `verify --personalize` on personalization pipelines."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from coreml_updatable.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "fixtures" / "lenet.keras")
MNIST = ROOT / ".." / "shared" / "data" / "mnist" / "mnist.npz"


def test_convert_knn_linked_then_inspect_and_train(tmp_path: Path, capsys):
    out = tmp_path / "Digits.mlmodel"
    assert main(["convert", LENET, "-o", str(out), "--personalize", "knn", "--embedding", "dense1", "--k", "3",
                 "--linked", "--default-label", "-1"]) == 0
    text = capsys.readouterr().out
    assert (tmp_path / "Digits-extractor.mlmodel").is_file()
    assert "trains: model 1 'knn' (the others are frozen)" in text
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "--- pipeline model 0 'extractor': linkedModel, frozen ---" in text
    assert "-> " + str((tmp_path / "Digits-extractor.mlmodel").resolve()) in text
    assert "dense1        innerProduct  (500,)" in text                  # the linked extractor's layers
    assert "k-NN: k 3 range [1, 1000]; uniform weighting; linear index" in text
    assert main(["validate", str(out)]) == 0
    capsys.readouterr()
    if not MNIST.exists():
        pytest.skip("no MNIST")
    trained = tmp_path / "Digits-trained.mlmodel"
    assert main(["train", str(out), "--data", str(MNIST), "--limit", "50", "-o", str(trained), "--no-progress",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stored_examples"] == 50 and summary["trained_model"] == 1


def test_convert_personalize_needs_embedding(tmp_path: Path, capsys):
    assert main(["convert", LENET, "-o", str(tmp_path / "x.mlmodel"), "--personalize", "head"]) == 2
    err = capsys.readouterr().err
    assert "--personalize and --embedding go together" in err and "Traceback" not in err


@pytest.mark.skipif(not MNIST.exists(), reason="no MNIST")
@pytest.mark.parametrize("mode", ["head", "knn"])
def test_verify_personalized(tmp_path: Path, capsys, mode: str):
    extra = ["--epochs", "1"] if mode == "head" else ["--weighting", "distance", "--k", "5"]
    code = main(["verify", LENET, "--data", str(MNIST), "--personalize", mode, "--embedding", "dense1",
                 "--limit", "300", "--no-progress", "--json", *extra])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["passed"]
    names = {c["name"] for c in report["checks"]}
    expected = ({"extractor forward (test)", "lockstep losses", "pipeline trains its head",
                 "extractor bytes unchanged"} if mode == "head" else
                {"probabilities vs sklearn", "labels vs sklearn", "ties (nearest wins)", "update appended examples"})
    assert expected <= names
