"""The server's rounds, in process (tests/federated/conftest.LocalGrid): equal to a plain train for one
device, FedAvg equal to numpy's weighted mean, FedAvgM's and FedAdam's steps, frozen layers untouched, diverged devices
dropped and reported."""
from __future__ import annotations

import json

import numpy as np
import pytest

import emulator
from coreml_updatable import cli
from federated import exchange
from federated.app import client_app, serve
from federated.config import FleetConfig
from federated.device import Device, client_seed, fleet_for, forget_fleets
from federated.server import make_strategy

from .conftest import LocalGrid, tiny_cnn


def _run(model_file, data, tmp_path, name="global", **settings):
    config = FleetConfig(model=str(model_file), data=str(data), **settings)
    out = tmp_path / f"{name}.mlmodel"
    report = serve(LocalGrid(client_app(config), config.clients), config, tmp_path / name, out, progress=False)
    return report, out


def _arrays(path):
    return exchange.read(emulator.load(path).nn)


def test_one_device_holding_all_the_data_equals_a_plain_train_bit_for_bit(model_file, tiny_data, tmp_path):
    _, federated_model = _run(model_file, tiny_data, tmp_path, clients=1, fraction=1.0, rounds=1)
    plain = tmp_path / "plain.mlmodel"
    assert cli.main(["train", str(model_file), "--data", str(tiny_data), "-o", str(plain), "--no-progress",
                     "--seed", str(client_seed(0, 1, 0))]) == 0
    assert federated_model.read_bytes() == plain.read_bytes()


def test_fedavg_of_two_devices_is_their_example_weighted_mean(model_file, tiny_data, tmp_path):
    report, out = _run(model_file, tiny_data, tmp_path, clients=2, fraction=1.0, rounds=1, partition="dirichlet:0.5")
    config = FleetConfig(model=str(model_file), data=str(tiny_data), clients=2, partition="dirichlet:0.5")
    fleet = fleet_for(config)
    sizes = [len(p) for p in fleet.parts]
    assert sizes[0] != sizes[1] and report.rounds[0].examples == sum(sizes)
    device, start = Device(model_file), exchange.read(emulator.load(model_file).nn)
    local = [device.train(start, fleet.x[p], fleet.y[p], seed=client_seed(0, 1, i)).arrays
             for i, p in enumerate(fleet.parts)]
    got = _arrays(out)
    for k in got:
        expected = np.average(np.stack([local[0][k], local[1][k]]).astype(np.float64), axis=0, weights=sizes)
        np.testing.assert_allclose(got[k], expected, rtol=1e-6, atol=1e-7)
        assert not np.allclose(got[k], local[0][k]) and not np.allclose(got[k], local[1][k])


def test_fedadam_applies_adam_on_the_server_to_the_averaged_update(model_file, tiny_data, tmp_path):
    settings = dict(clients=3, fraction=1.0, rounds=1)
    _, avg = _run(model_file, tiny_data, tmp_path, "avg", **settings)
    _, adam = _run(model_file, tiny_data, tmp_path, "adam", strategy="fedadam", server_lr=0.05, **settings)
    _, yogi = _run(model_file, tiny_data, tmp_path, "yogi", strategy="fedyogi", server_lr=0.05, **settings)
    s = make_strategy(FleetConfig(model="m", data="d", strategy="fedadam", server_lr=0.05, **settings))
    start, mean, got = _arrays(model_file), _arrays(avg), _arrays(adam)
    eta = s.eta * np.sqrt(1 - s.beta_2 ** 2) / (1 - s.beta_1 ** 2)      # Flower's bias-corrected step, round 1
    for k in start:
        delta = mean[k] - start[k]
        m, v = (1 - s.beta_1) * delta, (1 - s.beta_2) * delta ** 2
        np.testing.assert_allclose(got[k], start[k] + eta * m / (np.sqrt(v) + s.tau), rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(_arrays(yogi)[k], got[k]) for k in got)


def test_fedavgm_steps_with_server_momentum_over_the_averaged_updates(model_file, tiny_data, tmp_path):
    """Two rounds of FedAvgM against numpy: v1 = d1, x1 = x0 + lr v1; v2 = m v1 + d2, x2 = x1 + lr v2, where
    d is the example-weighted mean of the devices' arrays minus the global arrays they started from."""
    lr, mom = 0.7, 0.9
    settings = dict(clients=2, fraction=1.0, partition="dirichlet:0.5")
    _, got = _run(model_file, tiny_data, tmp_path, "avgm", strategy="fedavgm", server_lr=lr, server_momentum=mom,
                  rounds=2, **settings)
    fleet = fleet_for(FleetConfig(model=str(model_file), data=str(tiny_data), **settings))
    sizes, device = [len(p) for p in fleet.parts], Device(model_file)
    x, velocity = _arrays(model_file), None
    for server_round in (1, 2):
        local = [device.train(x, fleet.x[p], fleet.y[p], seed=client_seed(0, server_round, i)).arrays
                 for i, p in enumerate(fleet.parts)]
        mean = {k: np.average(np.stack([a[k] for a in local]).astype(np.float64), axis=0, weights=sizes) for k in x}
        delta = {k: mean[k] - x[k] for k in x}
        velocity = delta if velocity is None else {k: mom * velocity[k] + delta[k] for k in x}
        x = {k: (x[k] + lr * velocity[k]).astype(np.float32) for k in x}
    for k, v in _arrays(got).items():
        np.testing.assert_allclose(v, x[k], rtol=1e-5, atol=1e-6)


def test_frozen_layers_never_change_and_every_other_byte_is_the_original(tiny_data, tmp_path):
    from ground.spec_io import read_spec, save_spec

    original = tmp_path / "frozen.mlmodel"
    save_spec(tiny_cnn(updatable=("fc",)), original)
    _, out = _run(original, tiny_data, tmp_path, clients=4, fraction=0.5, rounds=2, partition="shards:2")
    trained = read_spec(out)
    assert sorted(_arrays(out)) == ["fc/biases", "fc/weights"]
    assert not np.array_equal(_arrays(out)["fc/weights"], _arrays(original)["fc/weights"])
    source = read_spec(original)
    layers = {layer.name: layer for layer in trained.neuralNetwork.layers}
    for layer in source.neuralNetwork.layers:
        if layer.name != "fc":
            assert layers[layer.name].SerializeToString(deterministic=True) == layer.SerializeToString(deterministic=True)
    layers["fc"].CopyFrom(next(l for l in source.neuralNetwork.layers if l.name == "fc"))
    assert trained.SerializeToString(deterministic=True) == original.read_bytes()


def test_a_device_whose_loss_turns_nan_is_dropped_and_reported(model_file, tiny_data, tmp_path):
    settings = dict(clients=3, fraction=1.0, rounds=1)
    config = FleetConfig(model=str(model_file), data=str(tiny_data), **settings)
    fleet = fleet_for(config)
    fleet.x[fleet.parts[1]] = 3e38                     # finite inputs whose activations overflow
    try:
        report, out = _run(model_file, tiny_data, tmp_path, **settings)
    finally:
        forget_fleets()
    r = report.rounds[0]
    assert r.clients == [0, 2] and [d.partition for d in r.dropped] == [1]
    assert "TrainingDivergedError" in r.dropped[0].reason and "device 1" in r.dropped[0].reason
    assert r.examples == len(fleet.parts[0]) + len(fleet.parts[2])
    assert all(np.all(np.isfinite(v)) for v in _arrays(out).values())
    saved = json.loads((tmp_path / "global" / "report.json").read_text())
    assert saved["rounds"][0]["dropped"][0]["partition"] == 1 and saved["summary"]["devices_dropped"] == 1


def test_sampling_is_reproducible_and_the_report_has_every_round(model_file, tiny_data, tmp_path):
    a, _ = _run(model_file, tiny_data, tmp_path, "a", clients=6, fraction=0.5, rounds=3, partition="shards:2")
    b, _ = _run(model_file, tiny_data, tmp_path, "b", clients=6, fraction=0.5, rounds=3, partition="shards:2")
    assert [r.clients for r in a.rounds] == [r.clients for r in b.rounds]
    assert all(len(r.clients) == 3 for r in a.rounds) and len({tuple(r.clients) for r in a.rounds}) > 1
    saved = json.loads((tmp_path / "a" / "report.json").read_text())
    assert [r["round"] for r in saved["rounds"]] == [1, 2, 3]
    for key in ("clients", "examples", "mean_train_loss", "test_accuracy", "test_loss", "wall_s"):
        assert saved["rounds"][-1][key] is not None
    assert [c["examples"] for c in saved["clients"]] and len(saved["clients"][0]["labels"]) == 3
    assert (tmp_path / "a" / "federated.png").stat().st_size > 10_000
    assert a.rounds[-1].test_accuracy > a.initial["test_accuracy"]
