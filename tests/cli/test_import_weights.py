"""`import-weights` as a user runs it: clear refusals, nothing written on failure."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coreml_updatable.cli", "import-weights", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_a_folder_that_is_not_a_compiled_model_is_refused(tmp_path):
    model = ROOT / "fixtures" / "lenet_builder.mlmodel"
    out = tmp_path / "out.mlmodel"
    proc = cli(tmp_path, "--into", model, "-o", out)
    assert proc.returncode == 2
    assert "has no model.espresso.net and model.espresso.weights" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_an_existing_output_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "out.mlmodel"
    out.write_bytes(b"keep me")
    proc = cli(tmp_path, "--into", ROOT / "fixtures" / "lenet_builder.mlmodel", "-o", out)
    assert proc.returncode == 2 and "the output file exists" in proc.stderr
    assert out.read_bytes() == b"keep me"
