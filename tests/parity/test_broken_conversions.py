"""Conversions broken on purpose (the spec edited after conversion): verify must fail and say why.

Each test starts from a correct (Keras LeNet, Core ML LeNet) pair with identical weights, breaks the
Core ML spec the way a converter bug would, and checks the failing figures and the report's cause.
"""
from __future__ import annotations

import numpy as np
import pytest

from ground.protos import NeuralNetwork_pb2
from parity import verify_pair

from .nets import lenet_pair


def _layer(spec, name: str):
    return next(layer for layer in spec.neuralNetwork.layers if layer.name == name)


def _failed(report) -> set[str]:
    return set(report.failed())


def _cause(report) -> str:
    return "\n".join(report.diagnosis)


def test_correct_pair_passes(small) -> None:
    keras_model, spec = lenet_pair()
    report = verify_pair(keras_model, spec, small, epochs=2)
    assert report.passed, report.table()
    assert report.check("forward (test set)").value <= 1e-5
    assert report.check("lockstep losses").value < 1e-3
    assert report.check("lockstep weights").value < 1e-3
    assert report.diagnosis == []


def test_transposed_dense_kernel(small) -> None:
    keras_model, spec = lenet_pair()
    ip = _layer(spec, "dense2").innerProduct
    w = np.asarray(ip.weights.floatValue, np.float32).reshape(10, 500)
    del ip.weights.floatValue[:]
    ip.weights.floatValue.extend(w.T.ravel().tolist())  # stored [in, out] instead of [out, in]
    report = verify_pair(keras_model, spec, small, epochs=1)
    assert not report.passed
    assert {"initial weights", "forward (test set)", "lockstep losses"} <= _failed(report)
    assert "layer 'dense2' holds weights that differ from Keras layer 'dense2'" in _cause(report)
    assert "forward outputs first differ at Core ML layer 'dense2'" in _cause(report)
    table = report.table()
    assert "FAILED: initial weights" in table and "cause: layer 'dense2' holds weights" in table


def test_wrong_flatten_order(small) -> None:
    keras_model, spec = lenet_pair()
    _layer(spec, "flatten").flatten.mode = 1  # CHANNEL_LAST, but dense1's rows are in C,H,W order
    report = verify_pair(keras_model, spec, small, epochs=1)
    assert {"initial weights", "forward (test set)"} <= _failed(report)
    assert "layer 'dense1' holds weights that differ" in _cause(report)
    assert "wrong flatten mode" in _cause(report)
    assert "forward outputs first differ at Core ML layer 'dense1'" in _cause(report)


def test_wrong_epsilon(small) -> None:
    keras_model, spec = lenet_pair()
    spec.neuralNetwork.updateParams.optimizer.adamOptimizer.eps.defaultValue = 1e-3
    report = verify_pair(keras_model, spec, small, epochs=1)
    assert "settings" in _failed(report)
    assert "updateParams eps = 0.001, but the Keras compile config says 1e-07" in _cause(report)


def test_wrong_learning_rate(small) -> None:
    keras_model, spec = lenet_pair()
    spec.neuralNetwork.updateParams.optimizer.adamOptimizer.learningRate.defaultValue = 2e-3
    report = verify_pair(keras_model, spec, small, epochs=1)
    assert {"settings", "lockstep losses"} <= _failed(report)
    assert "updateParams learning_rate = 0.002" in _cause(report)
    first = report.first_diverging_batch
    assert first is not None and first["epoch"] == 1 and first["batch"] >= 2  # batch 1 runs before any update
    assert report.check("first batch loss").passed


def test_softmax_applied_twice(small, tmp_path) -> None:
    keras_model, spec = lenet_pair()
    nn = spec.neuralNetwork
    _layer(spec, "softmax").output[0] = "probs_once"
    extra = NeuralNetwork_pb2.NeuralNetworkLayer(name="softmax_again")
    extra.input.append("probs_once")
    extra.output.append("probs")
    extra.softmax.SetInParent()
    nn.layers.append(extra)
    report = verify_pair(keras_model, spec, small, epochs=1, report_dir=tmp_path)
    assert {"Core ML's rules", "forward (test set)"} <= _failed(report)
    assert "every mapped layer agrees up to 'dense2'" in _cause(report)
    assert "softmax_again (softmax)" in _cause(report)
    assert "There is a layer (softmax), which does not support backpropagation" in _cause(report)
    assert any("training was not compared" in note for note in report.notes)
    assert (tmp_path / "report.json").exists() and (tmp_path / "parity.png").exists()


def test_frozen_layer_marked_updatable(small) -> None:
    from fixtures.coreml_lenet import build_spec, he_weights

    from .nets import keras_lenet

    w = he_weights(0)
    keras_model = keras_lenet(w, frozen=("conv1", "conv2"))       # a personalization model
    spec = build_spec(w, updatable=("conv1", "conv2", "dense1", "dense2"))  # but conv1 marked updatable
    report = verify_pair(keras_model, spec, small, epochs=1)
    assert {"updatable layers", "frozen weights (Core ML)"} <= _failed(report)
    assert "layer 'conv1' is updatable in Core ML but frozen in the source" in _cause(report)
    assert "Core ML changed the weights of layer 'conv1', which the source keeps frozen" in _cause(report)


@pytest.mark.parametrize("rate", [0.5])
def test_dropout_is_reported_and_trained_without(small, rate: float) -> None:
    from fixtures.coreml_lenet import build_spec, he_weights

    from .nets import keras_lenet

    w = he_weights(0)
    report = verify_pair(keras_lenet(w, dropout=rate), build_spec(w), small, epochs=1)
    assert report.passed, report.table()
    assert any("Dropout 'dropout'" in n and "Core ML has no dropout" in n for n in report.notes)
