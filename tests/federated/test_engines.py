"""Flower's engines: the simulation engine (Ray) through the CLI, and the deployment engine (a SuperLink
and three SuperNodes as separate processes on localhost). Each starts real Flower processes, so each
runs once, on the tiny model; both must give the global model the in-process grid gives."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from federated.app import client_app, serve
from federated.config import FleetConfig

from .conftest import LocalGrid

ROOT = Path(__file__).resolve().parents[2]


def _in_process(model_file, data, tmp_path, **settings) -> bytes:
    config = FleetConfig(model=str(model_file), data=str(data), **settings)
    out = tmp_path / "in-process.mlmodel"
    serve(LocalGrid(client_app(config), config.clients), config, None, out, progress=False)
    return out.read_bytes()


def test_federate_on_the_simulation_engine(model_file, tiny_data, tmp_path):
    out, report = tmp_path / "global.mlmodel", tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "coreml_updatable.cli", "federate", str(model_file), "--data", str(tiny_data),
         "--clients", "4", "--fraction", "0.5", "--rounds", "2", "--partition", "shards:2", "--seed", "1",
         "--report", str(report), "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2/2" in proc.stderr                        # the progress bar over rounds
    assert "federated" in proc.stdout and "engine simulation (Ray)" in proc.stdout
    saved = json.loads((report / "report.json").read_text())
    assert saved["finished"] and [len(r["clients"]) for r in saved["rounds"]] == [2, 2]
    assert (report / "federated.png").stat().st_size > 10_000
    expected = _in_process(model_file, tiny_data, tmp_path, clients=4, fraction=0.5, rounds=2,
                           partition="shards:2", seed=1)
    assert out.read_bytes() == expected                # Ray's workers train exactly as this process does


@pytest.mark.skipif(sys.platform == "win32", reason="process groups")
def test_federate_on_the_deployment_engine(model_file, tiny_data, tmp_path):
    from federated.deployment import run_local

    config = FleetConfig(model=str(model_file), data=str(tiny_data), clients=3, fraction=1.0, rounds=1)
    out = tmp_path / "global.mlmodel"
    before = _flower_processes()
    report = run_local(config, tmp_path / "report", out, timeout=480, progress=False, workdir=tmp_path / "work")
    assert report.engine.startswith("deployment") and len(report.rounds) == 1
    assert report.rounds[0].clients == [0, 1, 2] and not report.rounds[0].dropped
    assert out.read_bytes() == _in_process(model_file, tiny_data, tmp_path, clients=3, fraction=1.0, rounds=1)
    assert _flower_processes() <= before               # SuperLink, SuperNodes and their children are gone


def _flower_processes() -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
                state = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z" and "flower-super" in cmd or "flwr-clientapp" in cmd or "flwr-serverapp" in cmd:
                found.add(int(entry))
    return found


@pytest.mark.parametrize("given, expected", [(None, "0"), ("7", "7")])
def test_simulation_workers_keep_the_callers_priority(model_file, tiny_data, monkeypatch, given, expected):
    """Ray starts workers at nice +15 unless told otherwise; the devices train in them, so the simulation
    asks for the caller's priority (an explicit RAY_worker_niceness wins)."""
    import flwr.simulation

    from federated.app import simulate

    monkeypatch.setenv("RAY_worker_niceness", "x")         # restored (or removed) after the test
    if given is None:
        monkeypatch.delenv("RAY_worker_niceness")
    else:
        monkeypatch.setenv("RAY_worker_niceness", given)
    seen = []
    monkeypatch.setattr(flwr.simulation, "run_simulation", lambda **kw: seen.append(os.environ["RAY_worker_niceness"]))
    config = FleetConfig(model=str(model_file), data=str(tiny_data), clients=2, rounds=1)
    with pytest.raises(RuntimeError, match="ended without a result"):
        simulate(config, progress=False)
    assert seen == [expected]


def test_the_flower_app_declares_every_key_the_run_config_sends(tmp_path):
    """Flower refuses a --run-config key its app does not declare ('Invalid run configuration', code 15):
    every FleetConfig field, plus report and output, is in federated/flower-app/pyproject.toml with its type."""
    import tomllib

    from federated.deployment import APP, run_config_args

    declared = tomllib.loads((APP / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    config = FleetConfig(model="m.mlmodel", data="d.npz")
    sent = dict(part.split("=", 1) for part in run_config_args(config, tmp_path, None).split(" "))
    assert sorted(sent) == sorted(declared)
    for key, value in config.as_dict().items():
        assert type(declared[key.replace("_", "-")]) is type(value), key
