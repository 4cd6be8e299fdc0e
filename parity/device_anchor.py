"""The runtime against a real device's training run (``../shared/device-anchor/``).

A Mac's MLUpdateTask trained an updatable 13-64-32-1 MLP (MSE, SGD lr 0.001, batch 32, 500 epochs,
shuffle on, no seed) on 405 Boston-housing rows and wrote the compiled result. Here the runtime trains
the same untrained model on the same rows (the app's preprocessing) under each alternative training
convention, and measures how far its weights end from the device's, beside the chaos floor: how far
the runtime ends from itself when the start is perturbed by 1e-6 (500 epochs of SGD amplify any
rounding difference, so no convention can get closer than that).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from emulator import load
from emulator.conventions import CORE_ML, Conventions
from emulator.mlmodelc import read_trained_weights

ANCHOR = Path(__file__).resolve().parents[1].parent / "shared" / "device-anchor"
TRAIN_ROWS = 405            # ceil(0.8 * 506): the app's split
LAYERS = ("dense1", "dense2", "dense3")
DEVICE_TEST_MSE = 21.44     # the anchor README's figure (measured here too: device_test_mse)


@dataclass(frozen=True)
class Rows:
    x_train: np.ndarray      # (405, 13) float32, normalised as the app did
    y_train: np.ndarray      # (405, 1)
    x_test: np.ndarray       # (101, 13)
    y_test: np.ndarray


def available(folder: Path = ANCHOR) -> bool:
    return all((folder / name).exists() for name in ("untrained.mlmodel", "trained_on_mac.mlmodelc",
                                                     "boston_housing.csv"))


def rows(folder: Path = ANCHOR) -> Rows:
    """The app's data: first 405 rows train, the rest test; features (x - mean) / variance (n - 1,
    no square root: the app's 'std' is the variance) over the training rows, in float32."""
    table = np.loadtxt(folder / "boston_housing.csv", dtype=np.float32)
    x, y = table[:, :13], table[:, 13:14]
    n = math.ceil(0.8 * len(table))
    mean = x[:n].mean(axis=0, dtype=np.float32)
    var = ((x[:n] - mean) ** 2).sum(axis=0, dtype=np.float32) / np.float32(n - 1)
    norm = ((x - mean) / var).astype(np.float32)
    return Rows(norm[:n], y[:n], norm[n:], y[n:])


def untrained_spec(folder: Path = ANCHOR):
    return load(folder / "untrained.mlmodel").spec


def spec_weights(spec) -> dict[str, np.ndarray]:
    """Every dense layer's weights and bias, flattened, by ``layer/weights|bias``."""
    out = {}
    for layer in spec.neuralNetwork.layers:
        if layer.WhichOneof("layer") == "innerProduct":
            p = layer.innerProduct
            out[f"{layer.name}/weights"] = np.asarray(p.weights.floatValue, np.float32)
            out[f"{layer.name}/bias"] = np.asarray(p.bias.floatValue, np.float32)
    return out


def device_weights(folder: Path = ANCHOR) -> dict[str, np.ndarray]:
    trained = read_trained_weights(folder / "trained_on_mac.mlmodelc")
    out = {}
    for name in LAYERS:
        out[f"{name}/weights"] = trained[name].weights.reshape(-1)
        out[f"{name}/bias"] = trained[name].bias
    return out


def with_weights(spec, weights: dict[str, np.ndarray]):
    """A copy of ``spec`` holding ``weights`` (as :func:`spec_weights` names them)."""
    new = type(spec)()
    new.CopyFrom(spec)
    for layer in new.neuralNetwork.layers:
        if layer.WhichOneof("layer") == "innerProduct":
            for part, wp in (("weights", layer.innerProduct.weights), ("bias", layer.innerProduct.bias)):
                wp.ClearField("floatValue")
                wp.floatValue.extend(weights[f"{layer.name}/{part}"].astype(np.float32).tolist())
    return new


def perturbed(spec, seed: int, scale: float = 1e-6):
    """``spec`` with every updatable weight moved by ``scale`` * N(0, 1) (numpy seed ``seed``)."""
    rng = np.random.default_rng(seed)
    start = spec_weights(spec)
    return with_weights(spec, {k: v + np.float32(scale) * rng.standard_normal(v.shape).astype(np.float32)
                               for k, v in start.items()})


def test_mse(spec, data: Rows) -> float:
    pred = load(spec).predict({"input": data.x_test})["output"].reshape(-1, 1)
    return float(np.mean((pred.astype(np.float64) - data.y_test) ** 2))


def distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    d = np.concatenate([np.abs(a[k].astype(np.float64) - b[k]) for k in sorted(a)])
    return {"mean_abs_dw": float(d.mean()), "max_abs_dw": float(d.max())}


def train(spec, data: Rows, conventions: Conventions = CORE_ML, *, seed: int | None = None,
          shuffle: bool | None = None, epochs: int | None = None):
    """The runtime's training of ``spec`` on the app's rows; returns the trained spec."""
    result = load(spec).update({"input": data.x_train, "output_true": data.y_train},
                               conventions=conventions, seed=seed, shuffle=shuffle, epochs=epochs)
    return result.spec


def measure(spec, data: Rows, device: dict[str, np.ndarray], conventions: Conventions = CORE_ML, **kw) -> dict:
    """Train once; the distance of its weights from the device's and its test MSE."""
    trained = train(spec, data, conventions, **kw)
    return {**distance(spec_weights(trained), device), "test_mse": test_mse(trained, data),
            "_weights": spec_weights(trained)}


def perturbed_runs(spec, data: Rows, device: dict[str, np.ndarray], conventions: Conventions = CORE_ML,
                   perturbations: int = 4, **kw) -> dict:
    """The chaos floor and the spread against the device, for one set of conventions.

    Trains once from the model's own start and once from each of ``perturbations`` starts moved by
    1e-6; each perturbed run's distance from the unperturbed one is the chaos floor (what rounding
    alone does over 500 epochs), its distance from the device shows how much one run's figure can move.
    """
    base = measure(spec, data, device, conventions, **kw)
    runs = []
    for k in range(perturbations):
        m = measure(perturbed(spec, k), data, device, conventions, **kw)
        runs.append({"perturbation_seed": k, "vs_device": {key: m[key] for key in ("mean_abs_dw", "max_abs_dw")},
                     "test_mse": m["test_mse"], "vs_unperturbed": distance(m["_weights"], base["_weights"])})
    return {"unperturbed": {k: v for k, v in base.items() if k != "_weights"}, "perturbed": runs}


def variant(name: str, **changes) -> tuple[str, Conventions]:
    return name, replace(CORE_ML, **changes)


def numpy_train(spec, data: Rows, orders: list[np.ndarray], *, batch: int = 32, lr: float = 0.001,
                drop_partial: bool = True, dtype=np.float64) -> dict[str, np.ndarray]:
    """The same training written independently in numpy (ReLU MLP, MSE without 1/2, plain SGD), in
    ``dtype``: another implementation's rounding at every step, as a device's kernels have their own."""
    w = {k: v.astype(dtype) for k, v in spec_weights(spec).items()}
    shapes = {}
    for layer in spec.neuralNetwork.layers:
        if layer.WhichOneof("layer") == "innerProduct":
            shapes[layer.name] = (layer.innerProduct.outputChannels, layer.innerProduct.inputChannels)
    mats = {n: w[f"{n}/weights"].reshape(shapes[n]) for n in LAYERS}
    bias = {n: w[f"{n}/bias"] for n in LAYERS}
    x_all, y_all = data.x_train.astype(dtype), data.y_train.astype(dtype)
    lr = dtype(lr)
    for order in orders:
        full = len(order) // batch
        for b in range(full if drop_partial else -(-len(order) // batch)):
            idx = order[b * batch:(b + 1) * batch]
            x, y = x_all[idx], y_all[idx]
            h1 = np.maximum(x @ mats["dense1"].T + bias["dense1"], 0)
            h2 = np.maximum(h1 @ mats["dense2"].T + bias["dense2"], 0)
            out = h2 @ mats["dense3"].T + bias["dense3"]
            g3 = (dtype(2) * (out - y) / dtype(out.size)).astype(dtype)
            g2 = (g3 @ mats["dense3"]) * (h2 > 0)
            g1 = (g2 @ mats["dense2"]) * (h1 > 0)
            for name, g, inp in (("dense3", g3, h2), ("dense2", g2, h1), ("dense1", g1, x)):
                mats[name] -= lr * (g.T @ inp)
                bias[name] -= lr * g.sum(axis=0)
    out = {}
    for n in LAYERS:
        out[f"{n}/weights"] = mats[n].reshape(-1)
        out[f"{n}/bias"] = bias[n]
    return out
