"""Pass flatten_for_dense and the HWC -> CHW column reorder."""
from __future__ import annotations

import numpy as np
import pytest
from tests.transforms.specs import run_pass
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from ground.errors import UnsupportedConfigError
from transforms import flatten_for_dense
from ground.layout import hwc_to_chw_columns
from transforms.options import SourceFacts

C, H, W, OUT = 3, 2, 4, 5


def _weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(OUT, C * H * W)).astype(np.float32)


def _dense(x_chw: np.ndarray, weights: np.ndarray, order: str) -> np.ndarray:
    flat = x_chw.transpose(1, 2, 0).reshape(-1) if order == "hwc" else x_chw.reshape(-1)
    return weights @ flat


def test_reorder_keeps_the_dense_function():
    x = np.random.default_rng(1).normal(size=(C, H, W)).astype(np.float32)
    w = _weights()
    np.testing.assert_allclose(_dense(x, hwc_to_chw_columns(w, (C, H, W)), "chw"), _dense(x, w, "hwc"),
                               rtol=1e-5)


def _spec(pattern: str, weights: np.ndarray):
    b = NeuralNetworkBuilder([("x", datatypes.Array(C, H, W))], [("y", datatypes.Array(OUT))])
    if pattern == "A":
        b.add_flatten("flat", 1, "x", "f")                      # mode 1 = CHANNEL_LAST
    else:
        b.add_permute("perm", (0, 2, 3, 1), "x", "t")
        if pattern == "B-flatten":
            b.add_flatten("flat", 0, "t", "f")
        else:
            b.add_reshape("flat", "t", "f", (C * H * W, 1, 1), 0)
    b.add_inner_product("dense", weights, np.zeros(OUT, np.float32), C * H * W, OUT, True, "f", "y")
    return b.spec


@pytest.mark.parametrize("pattern", ["A", "B-flatten", "B-reshape"])
def test_rewrites_to_channel_first_flatten(pattern):
    w = _weights()
    facts = SourceFacts(blob_shapes={"x": (C, H, W)})
    spec, report, _ = run_pass(flatten_for_dense, _spec(pattern, w), facts=facts)
    layers = spec.neuralNetwork.layers
    assert [(x.name, x.WhichOneof("layer")) for x in layers] == [("flat", "flatten"), ("dense", "innerProduct")]
    assert layers[0].flatten.mode == 0 and list(layers[0].input) == ["x"]
    new_w = np.asarray(layers[1].innerProduct.weights.floatValue).reshape(OUT, -1)
    np.testing.assert_allclose(new_w, hwc_to_chw_columns(w, (C, H, W)))
    assert ("reordered", "dense") in [(e.action, e.subject) for e in report.entries]
    if pattern != "A":
        assert ("dropped", "perm") in [(e.action, e.subject) for e in report.entries]


def test_rewritten_spec_computes_the_same_in_the_emulator():
    import emulator

    w = _weights()
    x = np.random.default_rng(2).normal(size=(2, C, H, W)).astype(np.float32)
    before = _spec("B-flatten", w)
    after, _, _ = run_pass(flatten_for_dense, before, facts=SourceFacts(blob_shapes={"x": (C, H, W)}))
    expected = np.stack([_dense(xi, w, "hwc") for xi in x])
    np.testing.assert_allclose(emulator.load(after).predict(x)["y"], expected, rtol=1e-4, atol=1e-5)


def test_flatten_with_other_consumers_is_left_alone():
    w = _weights()
    spec = _spec("A", w)
    spec.description.output.add().name = "f"
    spec.description.output[-1].type.multiArrayType.shape.append(C * H * W)
    out, report, _ = run_pass(flatten_for_dense, spec, facts=SourceFacts(blob_shapes={"x": (C, H, W)}))
    assert out.neuralNetwork.layers[0].flatten.mode == 1
    assert report.entries == []


def test_unknown_shape_is_an_error():
    with pytest.raises(UnsupportedConfigError, match=r"layer 'flat': the shape of blob 'x' is unknown.*blob_shapes"):
        run_pass(flatten_for_dense, _spec("A", _weights()))


def test_inconsistent_shape_is_an_error():
    with pytest.raises(UnsupportedConfigError, match=r"layer 'dense': innerProduct has 24 inputs but the flattened "
                                                     r"blob holds 2x2x4 = 16"):
        run_pass(flatten_for_dense, _spec("A", _weights()), facts=SourceFacts(blob_shapes={"x": (2, 2, 4)}))
