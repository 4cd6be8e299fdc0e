"""`federate`: a user's mistakes are refused before anything starts, with the option and the fix."""
from __future__ import annotations

import pytest

from coreml_updatable import cli
from ground.spec_io import save_spec
from tests.emulator.nets import small_cnn


@pytest.fixture()
def model(tmp_path):
    path = tmp_path / "m.mlmodel"
    save_spec(small_cnn(0), path)
    return path


@pytest.mark.parametrize("extra, message", [
    (["--partition", "noniid"], r"--partition: unknown partition 'noniid'.*iid \| shards:K \| dirichlet:ALPHA"),
    (["--fraction", "0"], r"--fraction 0.0 must be in \(0, 1\]"),
    (["--clients", "0", "--rounds", "0"], r"--clients 0 must be at least 1; --rounds 0 must be at least 1"),
    (["--local-epochs", "0"], r"--local-epochs 0 must be at least 1"),
    (["--strategy", "fedavgm", "--server-momentum", "1"], r"--server-momentum 1.0 must be in \[0, 1\)"),
    (["--server-momentum", "0.9"], r"--server-momentum is FedAvgM's: it needs --strategy fedavgm, not 'fedavg'"),
])
def test_bad_options_are_refused_with_the_fix(model, tmp_path, capsys, extra, message):
    assert cli.main(["federate", str(model), "--data", str(tmp_path / "d.npz"), *extra]) == 2
    import re

    assert re.search(message, capsys.readouterr().err)


def test_a_missing_model_and_an_existing_output_are_refused(model, tmp_path, capsys):
    assert cli.main(["federate", str(tmp_path / "none.mlmodel"), "--data", "d.npz"]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert cli.main(["federate", str(model), "--data", "d.npz", "-o", str(model)]) == 2
    assert "the output path is an input of this" in capsys.readouterr().err
