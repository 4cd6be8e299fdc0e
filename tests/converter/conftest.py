"""Shared helpers for the converter tests: Keras model builders with randomized weights, parity checks."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"


def randomize(model, seed: int = 0):
    """Give every weight random values (variances positive) so that a wrong axis order shows."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        names = [w.name for w in layer.weights]
        new = []
        for name, w in zip(names, ws):
            if "variance" in name:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            elif "count" in name:
                new.append(w)
            else:
                new.append((rng.normal(0, 0.5, w.shape)).astype(w.dtype))
        layer.set_weights(new)
    return model


def parity(model, x: np.ndarray, *, atol: float = 1e-5):
    """Convert ``model`` to an inference spec, run it in the emulator, compare with Keras."""
    import emulator
    from ground import layout
    from converter.convert import to_inference_spec

    spec, facts, graph = to_inference_spec(model)
    ref = np.asarray(model(x, training=False))
    em = emulator.load(spec)
    got = em.predict(layout.source_batch_to_input(x, em.inputs[0].shape, graph.channels_last))
    out = got[spec.description.output[0].name]
    out = out.reshape((len(out), *em.outputs[0].blob_shape))
    expected = layout.keras_batch_to_coreml(ref, graph.channels_last)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    diff = float(np.abs(out - expected).max())
    assert diff <= atol, f"max abs diff {diff}"
    return spec, facts


@pytest.fixture(scope="session")
def keras_mod():
    import keras
    return keras
