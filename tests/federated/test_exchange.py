"""The exchange arrays: named and shaped as Core ML holds them, and only updatable layers change."""
from __future__ import annotations

import numpy as np
import pytest

import emulator
from ground.errors import BadInputError
from federated import exchange
from tests.emulator.nets import weights_of

from .conftest import tiny_cnn


def test_arrays_are_keyed_by_layer_and_shaped_as_core_ml_holds_them():
    spec = tiny_cnn()
    arrays = exchange.read(spec.neuralNetwork)
    assert {k: v.shape for k, v in arrays.items()} == {
        "conv/weights": (2, 1, 3, 3), "conv/biases": (2,), "fc/weights": (3, 12), "fc/biases": (3,)}
    w, b = weights_of(spec, "fc")
    np.testing.assert_array_equal(arrays["fc/weights"].ravel(), w)     # the spec's own order
    np.testing.assert_array_equal(arrays["fc/biases"], b)


def test_frozen_layers_do_not_travel():
    arrays = exchange.read(tiny_cnn(updatable=("fc",)).neuralNetwork)
    assert sorted(arrays) == ["fc/biases", "fc/weights"]


def test_codec_maps_exchange_arrays_onto_the_runtime_layout_and_back_exactly():
    model = emulator.load(tiny_cnn())
    codec = exchange.Codec(model)
    arrays = exchange.read(model.nn)
    runtime = codec.to_runtime(arrays)
    for layer in ("conv", "fc"):          # the runtime's own reading of the spec (layout plan included)
        for k, v in model.network.params[layer].items():
            np.testing.assert_array_equal(runtime[layer][k], v)
    back = codec.from_runtime(runtime)
    assert all(np.array_equal(back[k], arrays[k]) for k in arrays)


def test_write_changes_only_the_updatable_layers():
    spec = tiny_cnn(updatable=("fc",))
    before = spec.SerializeToString(deterministic=True)
    arrays = {k: v + 1 for k, v in exchange.read(spec.neuralNetwork).items()}
    exchange.write(spec.neuralNetwork, arrays)
    np.testing.assert_array_equal(exchange.read(spec.neuralNetwork)["fc/weights"], arrays["fc/weights"])
    for layer in spec.neuralNetwork.layers:        # restore fc: then every byte is the original's
        if layer.name == "fc":
            original = tiny_cnn(updatable=("fc",))
            layer.CopyFrom(next(l for l in original.neuralNetwork.layers if l.name == "fc"))
    assert spec.SerializeToString(deterministic=True) == before


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("fc/biases"), r"missing \['fc/biases'\]"),
    (lambda a: a.update({"fc/weights": np.zeros((12, 3), np.float32)}), r"shape \(12, 3\), the model holds \(3, 12\)"),
    (lambda a: a.update({"fc/weights": np.full((3, 12), np.nan, np.float32)}), "NaN or infinite"),
    (lambda a: a.update({"pool/weights": np.zeros(1)}), r"unknown \['pool/weights'\]"),
])
def test_arrays_that_do_not_fit_the_model_are_refused(change, message):
    spec = tiny_cnn()
    arrays = exchange.read(spec.neuralNetwork)
    change(arrays)
    with pytest.raises(BadInputError, match=message):
        exchange.write(spec.neuralNetwork, arrays)
