"""What a newcomer meets first: a quiet import, errors with the subcommand's usage, a --data that says
where MNIST is expected, -q / -v, and train's conventions block (only at -v, only what applies)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coreml_updatable.cli import main
from ground import quiet as _quiet
from tests.shared_data import REPO, needs_mnist

LENET_COREML = REPO / "fixtures" / "lenet_builder.mlmodel"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", _quiet.ENV, "COREML_UPDATABLE_DATA")}
    return {**env, **extra}


def test_importing_the_packages_prints_nothing():
    proc = subprocess.run([sys.executable, "-c", "import emulator, converter, parity, transforms.validate"],
                          capture_output=True, text=True, cwd=REPO, env=_env())
    assert proc.returncode == 0
    assert (proc.stdout, proc.stderr) == ("", "")


def test_backend_logs_come_back_when_asked(monkeypatch):
    for name in (_quiet.ENV, "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    assert not _quiet.wanted()
    monkeypatch.setenv(_quiet.ENV, "1")
    assert _quiet.wanted()
    monkeypatch.setenv(_quiet.ENV, "0")
    assert not _quiet.wanted()
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")                # the user's own TensorFlow setting wins
    assert _quiet.wanted()
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    logger = logging.getLogger("coreml_updatable")
    previous = logger.level
    logger.setLevel(logging.DEBUG)                                 # the user logs at DEBUG
    try:
        assert _quiet.wanted()
    finally:
        logger.setLevel(previous)


@pytest.mark.parametrize("argv, usage", [
    (["inspect", "lenet.mlmodel", "[--json]"], "usage: coreml-updatable inspect"),
    (["validate", "m.mlmodel", "--bogus"], "usage: coreml-updatable validate"),
    (["train", "m.mlmodel"], "usage: coreml-updatable train"),            # -o missing
])
def test_argument_errors_show_the_subcommands_usage(argv, usage, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and usage in err and "COMMAND ..." not in err
    if "[--json]" in argv:
        assert "unrecognized arguments: [--json]" in err and "placeholders" in err


@pytest.mark.parametrize("command", ["train", "evaluate", "verify"])
def test_missing_data_says_where_mnist_is_expected(command, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COREML_UPDATABLE_DATA", raising=False)
    source = str(REPO / "fixtures" / "lenet.keras") if command == "verify" else str(LENET_COREML)
    extra = ["-o", str(tmp_path / "out.mlmodel")] if command == "train" else []
    for data in (["--data", "no/such/mnist.npz"], []):
        assert main([command, source, *data, *extra, "-q"]) == 2
        err = capsys.readouterr().err
        assert "../shared/data/mnist/mnist.npz" in err and "COREML_UPDATABLE_DATA" in err and "Traceback" not in err
        assert ("no such data file or folder" in err and str(Path.cwd()) in err) if data else "no data set given" in err
    assert not (tmp_path / "out.mlmodel").exists()


@needs_mnist
def test_train_quiet_and_verbose(tmp_path, capsys, monkeypatch):
    from tests.shared_data import MNIST

    monkeypatch.setenv("COREML_UPDATABLE_DATA", str(MNIST))          # --data falls back to the variable
    base = ["train", str(LENET_COREML), "--limit", "256", "--batch-size", "128", "--force"]
    assert main([*base, "-o", str(tmp_path / "q.mlmodel"), "-q"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and "test accuracy" in quiet.out and "conventions" not in quiet.out
    assert main([*base, "-o", str(tmp_path / "v.mlmodel"), "-v"]) == 0
    out = capsys.readouterr().out
    assert out.count("conventions of this run") == 1
    block = out.split("conventions of this run", 1)[1].split("test accuracy")[0]
    assert "cross_entropy: fused_logits" in block and "adam: epsilon_hat" in block
    assert "mse:" not in block and "momentum:" not in block        # a cross-entropy, Adam model
