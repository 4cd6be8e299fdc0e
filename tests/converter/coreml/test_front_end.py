"""The Core ML front end on coremltools.convert's own NeuralNetwork output (built here, in the tests).

Bar (issue 11): the rewritten model predicts what the original predicted to 1e-5 (the runtime runs
both), Apple's validator accepts it, and the LeNet trains above 0.95 test accuracy in one epoch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import emulator
from converter.convert import convert
import data_loading as data
from transforms.options import UpdateOptions
from transforms.validate import violations

from fixtures import coreml_models as ctmodels

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def lenet():
    keras_model, mlmodel = ctmodels.keras_lenet()
    return keras_model, mlmodel.get_spec(), convert(mlmodel, options=UpdateOptions(batch_size=128))


@pytest.fixture(scope="module")
def mlp():
    keras_model, mlmodel = ctmodels.keras_mlp()
    return keras_model, mlmodel.get_spec(), convert(mlmodel)


@pytest.fixture(scope="module")
def torch_cnn():
    if not ctmodels.torch_available():
        pytest.skip("torch is not installed (pip install torch==2.13.0 for the PyTorch case)")
    net, mlmodel = ctmodels.torch_cnn()
    return net, mlmodel.get_spec(), convert(mlmodel, options=UpdateOptions(updatable="all"))


def _rewrites(result) -> list[str]:
    return [e.subject + " :: " + e.reason for e in result.report.entries if e.action == "rewritten"]


def _max_diff(original, rewritten, x_original, x_rewritten) -> float:
    a = next(iter(emulator.load(original).predict(x_original).values()))
    b = next(iter(emulator.load(rewritten).predict(x_rewritten).values()))
    return float(np.abs(a.reshape(len(a), -1) - b.reshape(len(b), -1)).max())


def test_the_original_ct_convert_lenet_runs_in_the_runtime_as_keras_does(lenet):
    keras_model, original, _ = lenet
    x = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    got = next(iter(emulator.load(original).predict(x[:, None]).values()))
    assert np.abs(got.reshape(32, 10) - keras_model.predict(x, verbose=0)).max() <= 1e-5


def test_lenet_is_rewritten_validated_and_predicts_as_the_original(lenet):
    _, original, result = lenet
    kinds = [l.WhichOneof("layer") for l in result.spec.neuralNetwork.layers]
    assert kinds == ["convolution", "activation", "pooling", "convolution", "activation", "pooling", "flatten",
                     "innerProduct", "activation", "innerProduct", "softmax"]
    assert list(result.spec.description.input[0].type.multiArrayType.shape) == [1, 28, 28]
    assert result.spec.neuralNetwork.arrayInputShapeMapping == 0
    done = _rewrites(result)
    assert any("channels first" in r for r in done) and any("reordered" in r for r in done)
    assert any("into softmax" in r for r in done)
    assert violations(result.spec) == []
    x = np.random.default_rng(1).random((64, 28, 28, 1), dtype=np.float32)
    assert _max_diff(original, result.spec, x[:, None], x.transpose(0, 3, 1, 2)) <= 1e-5
    assert "coreml_updatable.rewrites" in result.spec.description.metadata.userDefined


def test_lenet_trains_above_095_in_one_epoch(lenet, mnist_path):
    _, _, result = lenet
    ds = data.load(mnist_path)
    model = emulator.load(result.spec)
    target = result.spec.description.trainingInput[-1].name
    run = model.update({"x": data.for_coreml(ds.x_train, (1, 28, 28)), target: ds.y_train})
    probs = next(iter(run.model.predict(data.for_coreml(ds.x_test, (1, 28, 28))).values()))
    assert run.settings.epochs == 1 and run.settings.batch_size == 128
    assert (probs.argmax(1) == ds.y_test).mean() > 0.95


def test_mlp_batched_matmul_becomes_inner_product(mlp):
    keras_model, original, result = mlp
    assert [l.WhichOneof("layer") for l in original.neuralNetwork.layers].count("batchedMatmul") >= 1
    kinds = [l.WhichOneof("layer") for l in result.spec.neuralNetwork.layers]
    assert kinds == ["innerProduct", "activation", "innerProduct", "softmax"]
    assert list(result.spec.description.input[0].type.multiArrayType.shape) == [784]
    assert [l.isUpdatable for l in result.spec.neuralNetwork.layers] == [True, False, True, False]
    assert violations(result.spec) == []
    x = np.random.default_rng(2).random((64, 784), dtype=np.float32)
    assert _max_diff(original, result.spec, x[:, None], x) <= 1e-5
    got = next(iter(emulator.load(result.spec).predict(x).values()))
    assert np.abs(got - keras_model.predict(x, verbose=0)).max() <= 1e-5


def test_pytorch_cnn_is_rewritten_and_predicts_as_the_original(torch_cnn):
    _, original, result = torch_cnn
    kinds = [l.WhichOneof("layer") for l in result.spec.neuralNetwork.layers]
    assert "reshapeStatic" not in kinds and "softmaxND" not in kinds and "flatten" in kinds
    assert sum(l.isUpdatable for l in result.spec.neuralNetwork.layers) == 4
    assert violations(result.spec) == []
    x = np.random.default_rng(3).random((64, 1, 1, 28, 28), dtype=np.float32)
    assert _max_diff(original, result.spec, x, x[:, 0]) <= 1e-5


def test_a_builder_model_passes_through_unchanged_but_for_the_update_settings():
    source = emulator.load(ROOT / "fixtures" / "lenet_builder.mlmodel").spec
    result = convert(ROOT / "fixtures" / "lenet_builder.mlmodel",
                     options=UpdateOptions(updatable="last:1", optimizer="sgd", learning_rate=0.01))
    assert not _rewrites(result)
    before, after = source.neuralNetwork.layers, result.spec.neuralNetwork.layers
    assert [l.name for l in before] == [l.name for l in after]
    for a, b in zip(before, after):
        a2, b2 = type(a)(), type(b)()
        a2.CopyFrom(a)
        b2.CopyFrom(b)
        for m in (a2, b2):
            m.isUpdatable = False
            typed = getattr(m, m.WhichOneof("layer"))
            for f in ("weights", "bias"):
                if hasattr(typed, f):
                    getattr(typed, f).isUpdatable = False
        assert a2 == b2
    assert [l.name for l in after if l.isUpdatable] == ["dense2"]
    assert result.spec.neuralNetwork.updateParams.optimizer.WhichOneof("OptimizerType") == "sgdOptimizer"
    assert list(result.spec.description.input) == list(source.description.input)
    assert violations(result.spec) == []


def test_an_old_keras_converter_style_model_keeps_its_layers():
    """innerProduct + softmax on rank-5 inputs ([C]), as the coremltools 3 Keras converter wrote them."""
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    rng = np.random.default_rng(4)
    b = NeuralNetworkBuilder([("features", datatypes.Array(20))], [("probs", datatypes.Array(3))])
    b.add_inner_product("dense", rng.normal(size=(3, 20)), rng.normal(size=3), 20, 3, True, "features", "logits")
    b.add_softmax("softmax", "logits", "probs")
    result = convert(b.spec)
    assert [l.WhichOneof("layer") for l in result.spec.neuralNetwork.layers] == ["innerProduct", "softmax"]
    assert list(result.spec.neuralNetwork.layers[0].innerProduct.weights.floatValue) == \
        list(b.spec.neuralNetwork.layers[0].innerProduct.weights.floatValue)
    assert violations(result.spec) == []


@pytest.fixture(scope="module")
def gap_cnn():
    keras_model, mlmodel = ctmodels.keras_gap_cnn()
    return keras_model, mlmodel.get_spec()


def test_keras_batchnorm_and_global_pooling_after_an_nhwc_transpose_become_scale_bias_and_pooling(gap_cnn):
    keras_model, original = gap_cnn
    result = convert(original)
    kinds = [l.WhichOneof("layer") for l in result.spec.neuralNetwork.layers]
    assert kinds == ["convolution", "activation", "activation", "unary", "activation", "batchnorm", "pooling",
                     "innerProduct", "softmax"]
    assert [l.WhichOneof("layer") for l in result.spec.neuralNetwork.layers if l.isUpdatable] == ["innerProduct"]
    assert violations(result.spec) == []
    x = np.random.default_rng(5).random((32, 12, 12, 2), dtype=np.float32)
    assert _max_diff(original, result.spec, x[:, None], x.transpose(0, 3, 1, 2)) <= 1e-5
    got = next(iter(emulator.load(result.spec).predict(x.transpose(0, 3, 1, 2)).values()))
    assert np.abs(got - keras_model.predict(x, verbose=0)).max() <= 1e-5


def test_what_cannot_train_is_refused_with_the_rule_and_the_layers_that_could_be_updatable(gap_cnn):
    from ground.errors import ValidationError

    _, original = gap_cnn
    dense = [l.name for l in original.neuralNetwork.layers if l.WhichOneof("layer") in ("innerProduct", "batchedMatmul")]
    with pytest.raises(ValidationError) as caught:
        convert(original, options=UpdateOptions(updatable="all"))
    message = str(caught.value)
    assert "[rule 10]" in message and "which does not support backpropagation" in message
    assert f"layers that can be updatable: {dense[0]} (--updatable {dense[0]})" in message


def test_a_network_that_must_stay_n_dimensional_keeps_its_semantics_and_says_why():
    _, mlmodel = ctmodels.keras_row_dense()
    original = mlmodel.get_spec()
    from ground.errors import CoreMLUpdatableError

    with pytest.raises(CoreMLUpdatableError, match=r"cross-entropy needs a softmax output.*softmaxND"):
        convert(original, options=UpdateOptions(updatable="all", loss="cce"))
    from converter.coreml.front import read_mlmodel
    from transforms.report import ConversionReport

    report = ConversionReport()
    spec, _, _ = read_mlmodel(original, report=report)
    assert spec.neuralNetwork.arrayInputShapeMapping == 1
    kept = [line for line in report.lines() if "rank-N kept" in line]
    assert any("Tensordot/MatMul' (innerProduct): blob shape [4, 5] is neither a vector nor [C, H, W]" in line
               for line in kept)
    assert "batchedMatmul" not in [l.WhichOneof("layer") for l in spec.neuralNetwork.layers]   # rank-N safe rewrite
    x = np.random.default_rng(6).random((16, 1, 20), dtype=np.float32)
    assert _max_diff(original, spec, x, x) <= 1e-5
