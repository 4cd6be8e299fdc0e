"""`coreml-updatable verify` end to end on the bundled LeNet (the issue's done-criterion), and its errors."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from coreml_updatable.cli import main
from ground.errors import BadInputError, UnsupportedModelError

from tests.shared_data import needs_mnist

from .nets import MNIST

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "fixtures" / "lenet.keras"


@needs_mnist
def test_verify_bundled_lenet_passes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    started = time.perf_counter()
    code = main(["verify", str(LENET), "--data", str(MNIST), "--epochs", "1", "--limit", "4000",
                 "--report", str(tmp_path / "rep")])
    elapsed = time.perf_counter() - started
    out = capsys.readouterr()
    assert code == 0, out.out
    assert "PASSED" in out.out and "forward (test set)" in out.out
    # stderr is not a terminal here: the same plain per-epoch line for both sides, no carriage returns
    assert "Keras: epoch 1/1: loss" in out.err and "Core ML: epoch 1/1: loss" in out.err and "\r" not in out.err
    assert "reported, not judged" in out.out and "judged (PASSED needs every row" in out.out
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["passed"] is True and report["n_train"] == 4000 and report["n_test"] == 10000
    assert report["forward_max_abs"] <= 1e-5
    assert report["keras"]["test_accuracy"] > 0.9 and report["coreml"]["test_accuracy"] > 0.9
    assert len(report["keras"]["batch_losses"][0]) == len(report["coreml"]["batch_losses"][0]) > 0
    png = (tmp_path / "rep" / "parity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert elapsed < 120, f"verify took {elapsed:.0f} s; CI allows two minutes"


def test_verify_refuses_other_formats_and_missing_files(tmp_path: Path) -> None:
    from parity import verify

    with pytest.raises(UnsupportedModelError, match=r"needs a Keras \(.keras, .h5\) or ONNX \(.onnx\) model, not '.pb'"):
        verify(tmp_path / "m.pb", MNIST)
    with pytest.raises(BadInputError, match="no such model file"):
        verify(tmp_path / "m.onnx", MNIST)
    with pytest.raises(BadInputError, match="--reference and --input-shape are for ONNX sources"):
        verify(ROOT / "fixtures" / "lenet.keras", MNIST, reference=ROOT / "fixtures" / "lenet.keras")
    with pytest.raises(BadInputError, match="no such model file"):
        verify(tmp_path / "m.keras", MNIST)


def test_verify_missing_data_says_how(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["verify", str(LENET), "--data", str(tmp_path / "none.npz"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no such data file or folder" in err and "../shared/data/mnist/mnist.npz" in err
    assert "COREML_UPDATABLE_DATA" in err
