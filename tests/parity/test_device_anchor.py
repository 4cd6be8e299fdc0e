"""The runtime against a Mac's MLUpdateTask run (../shared/device-anchor): the figures that chose the
conventions (benchmarks/device_anchor.py measures every alternative; this checks the decisive ones)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from parity import device_anchor as A

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not A.available(), reason=f"the device anchor is not at {A.ANCHOR} (../shared)")


@pytest.fixture(scope="module")
def anchor():
    from emulator.conventions import CORE_ML

    data, spec, device = A.rows(), A.untrained_spec(), A.device_weights()
    chosen = A.measure(spec, data, device, CORE_ML)
    return data, spec, device, chosen


def test_the_device_weights_read_from_the_mlmodelc_give_the_device_test_mse(anchor):
    data, spec, device, _ = anchor
    assert A.test_mse(A.with_weights(spec, device), data) == pytest.approx(A.DEVICE_TEST_MSE, abs=0.01)
    assert A.test_mse(spec, data) == pytest.approx(277.3, abs=0.1)          # the untrained model


def test_import_weights_gives_a_model_with_the_device_test_mse(anchor, tmp_path):
    data = anchor[0]
    out = tmp_path / "trained.mlmodel"
    proc = subprocess.run([sys.executable, "-m", "coreml_updatable.cli", "import-weights",
                           str(A.ANCHOR / "trained_on_mac.mlmodelc"), "--into", str(A.ANCHOR / "untrained.mlmodel"),
                           "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "'dense1', 'dense2', 'dense3'" in proc.stdout
    from emulator import load

    assert A.test_mse(load(out).spec, data) == pytest.approx(A.DEVICE_TEST_MSE, abs=0.01)


def test_the_chosen_conventions_end_near_the_device(anchor):
    _, spec, device, chosen = anchor
    untrained = A.distance(A.spec_weights(spec), device)["mean_abs_dw"]     # 0.081
    assert chosen["mean_abs_dw"] < 0.03 < untrained                          # measured 0.0227
    assert chosen["test_mse"] == pytest.approx(A.DEVICE_TEST_MSE, abs=1.5)   # measured 20.63 vs 21.44


def test_the_alternatives_that_the_evidence_rules_out_end_far_from_the_device(anchor):
    from emulator.conventions import CORE_ML

    data, spec, device, chosen = anchor
    half = A.measure(spec, data, device, replace(CORE_ML, mse="mean_half"))        # measured 0.054
    seeded = A.measure(spec, data, device, CORE_ML, seed=1)                          # measured 0.035
    assert half["mean_abs_dw"] > chosen["mean_abs_dw"] + 0.02
    assert seeded["mean_abs_dw"] > chosen["mean_abs_dw"] + 0.005


def test_an_independent_numpy_training_agrees_with_the_runtime_far_below_the_device_gap(anchor):
    """The rounding floor: the same 500 epochs in float64 numpy end within 0.005 of the runtime."""
    from emulator.conventions import CORE_ML
    from emulator.training import batch_orders

    data, spec, device, chosen = anchor
    orders = batch_orders(len(data.y_train), 500, True, None, CORE_ML)
    reference = A.numpy_train(spec, data, orders, drop_partial=CORE_ML.partial_last_batch == "drop")
    assert A.distance(reference, chosen["_weights"])["mean_abs_dw"] < 0.005          # measured 0.0022
    assert A.distance(reference, device)["mean_abs_dw"] > 0.015
