"""`train`, `evaluate`, `predict` and `--help` as a user runs them (subprocesses, real MNIST)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.shared_data import MNIST, needs_mnist

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "coreml_updatable.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


@pytest.fixture(scope="module")
def lenet(tmp_path_factory) -> Path:
    from fixtures.coreml_lenet import build_spec

    path = tmp_path_factory.mktemp("models") / "lenet.mlmodel"
    path.write_bytes(build_spec(seed=0).SerializeToString())
    return path


def test_help_is_fast_and_imports_no_tensorflow():
    code = ("import sys, time; t = time.time(); from coreml_updatable.cli import build_parser; build_parser(); "
            "print('tensorflow' in sys.modules, 'coremltools' in sys.modules, time.time() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.split()
    assert out[:2] == ["False", "False"]
    assert float(out[2]) < 0.5
    assert "train" in cli("--help").stdout


@pytest.fixture(scope="module")
def trained(lenet, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "updated.mlmodel"
    proc = cli("train", lenet, "--data", MNIST, "-o", out, "--json", "--seed", "7")
    return out, json.loads(proc.stdout), proc


@needs_mnist
def test_train_one_epoch_on_mnist_reaches_095(trained):
    out, summary, proc = trained
    assert out.exists()
    assert summary["test_accuracy"] > 0.95
    assert summary["settings"]["epochs"] == 1 and summary["settings"]["seed"] == 7
    assert summary["train_examples"] == 22699
    assert "shuffle" in summary["conventions"]
    # stderr is a pipe here: one plain line per epoch, no bar redrawn with carriage returns
    assert "training: epoch 1/1: loss" in proc.stderr and "\r" not in proc.stderr
    assert "mse" not in summary["conventions"] and "cross_entropy" in summary["conventions"]


@needs_mnist
def test_evaluate_prints_the_same_accuracy(trained):
    out, summary, _ = trained
    proc = cli("evaluate", out, "--data", MNIST, "--json")
    assert json.loads(proc.stdout)["accuracy"] == pytest.approx(summary["test_accuracy"])


@needs_mnist
def test_predict_writes_probabilities_for_every_row(trained, tmp_path):
    out, _, _ = trained
    x = (np.load(MNIST)["x_test"][:9, None] / 255.0).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli("predict", out, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (9, 10)
    np.testing.assert_allclose(y.sum(1), 1.0, atol=1e-5)


@needs_mnist
def test_train_prints_per_epoch_loss_and_takes_overrides(lenet, tmp_path):
    proc = cli("train", lenet, "--data", MNIST, "-o", tmp_path / "u.mlmodel", "--limit", "512",
               "--epochs", "2", "--batch-size", "64", "--learning-rate", "0.002")
    assert "training: epoch 1/2: loss" in proc.stderr and "training: epoch 2/2: loss" in proc.stderr
    assert "loss: epoch mean" in proc.stdout and "conventions" not in proc.stdout     # the block is for -v
    assert "batch_size=64" in proc.stdout and "learning_rate=0.002" in proc.stdout


@needs_mnist
@pytest.mark.parametrize("extra, message", [
    (["--learning-rate", "3"], "outside the model's allowed range"),
    (["--batch-size", "100"], "not in the model's allowed set"),
    (["--momentum", "0.5"], "does not apply to the model's ADAM optimizer"),
])
def test_bad_overrides_exit_2_with_one_message_and_no_output(lenet, tmp_path, extra, message):
    out = tmp_path / "u.mlmodel"
    proc = cli("train", lenet, "--data", MNIST, "-o", out, "--limit", "256", *extra, check_rc=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_existing_output_and_same_file_are_refused(lenet, tmp_path):
    out = tmp_path / "exists.mlmodel"
    out.write_bytes(b"keep me")
    proc = cli("train", lenet, "--data", MNIST, "-o", out, check_rc=2)
    assert "the output file exists" in proc.stderr and out.read_bytes() == b"keep me"
    proc = cli("train", lenet, "--data", MNIST, "-o", lenet, "--force", check_rc=2)
    assert "the output path is an input of this command" in proc.stderr


@pytest.mark.parametrize("content, message", [(b"", "the file is empty"), (b"\x0a\xff\xff", "not a Core ML model")])
def test_bad_model_files_exit_2_without_traceback(tmp_path, content, message):
    bad = tmp_path / "bad.mlmodel"
    bad.write_bytes(content)
    proc = cli("evaluate", bad, "--data", MNIST, check_rc=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_predict_refuses_a_batch_in_the_wrong_layout(lenet, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 28, 28, 1), np.float32))
    proc = cli("predict", lenet, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy", check_rc=2)
    assert "expected (N, 1, 28, 28)" in proc.stderr and not (tmp_path / "y.npy").exists()
