"""Rewrites the coremltools.convert models in test_front_end.py do not exercise, on hand-built rank-N specs.

Each network is written as ct.convert writes such layers (EXACT_ARRAY_MAPPING); the rewritten and lowered
network must predict what the original does (the runtime runs both).
"""
from __future__ import annotations

import numpy as np
import pytest

import emulator
from converter.coreml.front import rewrite
from ground.protos import Model_pb2, NeuralNetwork_pb2

FLOAT32 = 65568


def _spec(in_shape: tuple[int, ...], layers: list, out: str) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    fd = spec.description.input.add()
    fd.name = "x"
    fd.type.multiArrayType.dataType = FLOAT32
    fd.type.multiArrayType.shape.extend(in_shape)
    fd = spec.description.output.add()
    fd.name = out
    fd.type.multiArrayType.dataType = FLOAT32
    spec.neuralNetwork.arrayInputShapeMapping = 1
    spec.neuralNetwork.imageInputShapeMapping = 1
    spec.neuralNetwork.layers.extend(layers)
    return spec


def _layer(name, inputs, outputs):
    layer = NeuralNetwork_pb2.NeuralNetworkLayer(name=name)
    layer.input.extend(inputs)
    layer.output.extend(outputs)
    return layer


def _bmm(name, src, dst, w):
    layer = _layer(name, [src], [dst])
    p = layer.batchedMatmul
    p.weightMatrixFirstDimension, p.weightMatrixSecondDimension = w.shape
    p.weights.floatValue.extend(w.T.ravel().tolist())
    return layer


def _softmax_nd(src, dst):
    layer = _layer("sm", [src], [dst])
    layer.softmaxND.axis = -1
    return layer


def _check(spec, x, names):
    new, done, reasons = rewrite(spec)
    assert reasons == [] and [r.rewrite for r in done] == names
    assert new.neuralNetwork.arrayInputShapeMapping == 0
    a = emulator.load(spec).predict(x)["y"]
    shape = tuple(new.description.input[0].type.multiArrayType.shape)
    b = emulator.load(new).predict(x.reshape(len(x), *shape))["y"]
    assert np.abs(a.reshape(len(a), -1) - b.reshape(len(b), -1)).max() <= 1e-5
    return new


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_a_constant_bias_add_after_the_product_joins_the_inner_product(rng):
    const = _layer("b", [], ["bias"])
    const.loadConstantND.shape.append(4)
    const.loadConstantND.data.floatValue.extend(rng.normal(size=4).tolist())
    add = _layer("add", ["h", "bias"], ["z"])
    add.addBroadcastable.SetInParent()
    spec = _spec((1, 8), [_bmm("mm", "x", "h", rng.normal(size=(8, 4))), const, add, _softmax_nd("z", "y")], "y")
    new = _check(spec, rng.random((5, 1, 8)), ["batched_matmul_to_inner_product", "bias_add_into_inner_product",
                                               "softmax_nd_to_softmax"])
    assert [l.WhichOneof("layer") for l in new.neuralNetwork.layers] == ["innerProduct", "softmax"]
    assert new.neuralNetwork.layers[0].innerProduct.hasBias


def test_reduce_mean_over_h_and_w_becomes_global_pooling(rng):
    conv = _layer("conv", ["x"], ["c"])
    p = conv.convolution
    p.outputChannels, p.kernelChannels = 4, 3
    p.kernelSize.extend([3, 3])
    p.valid.SetInParent()
    p.weights.floatValue.extend(rng.normal(size=4 * 3 * 9).tolist())
    mean = _layer("gap", ["c"], ["g"])
    mean.reduceMean.axes.extend([-2, -1])
    spec = _spec((1, 3, 6, 6), [conv, mean, _bmm("mm", "g", "z", rng.normal(size=(4, 2))), _softmax_nd("z", "y")], "y")
    new = _check(spec, rng.random((5, 1, 3, 6, 6)), ["batched_matmul_to_inner_product", "global_pool_from_reduce",
                                                     "softmax_nd_to_softmax"])
    assert new.neuralNetwork.layers[1].pooling.globalPooling


def test_expand_dims_and_squeeze_that_only_move_ones_are_dropped(rng):
    expand = _layer("expand", ["h"], ["e"])
    expand.expandDims.axes.extend([2, 3])
    relu = _layer("relu", ["e"], ["r"])
    relu.activation.ReLU.SetInParent()
    squeeze = _layer("squeeze", ["r"], ["s"])
    squeeze.squeeze.axes.extend([2, 3])
    spec = _spec((1, 6), [_bmm("mm1", "x", "h", rng.normal(size=(6, 5))), expand, relu, squeeze,
                          _bmm("mm2", "s", "z", rng.normal(size=(5, 3))), _softmax_nd("z", "y")], "y")
    new = _check(spec, rng.random((5, 1, 6)), ["batched_matmul_to_inner_product"] * 2
                 + ["softmax_nd_to_softmax"] + ["drop_singleton_moves"] * 2)
    assert [l.WhichOneof("layer") for l in new.neuralNetwork.layers] == ["innerProduct", "activation",
                                                                         "innerProduct", "softmax"]


def test_a_network_kept_n_dimensional_trains_in_the_rank_n_engine(rng):
    """A frozen transpose of (1, 2, 4) has no rank-5 form; the product after it still trains (MSE)."""
    from converter.convert import convert
    from transforms.options import UpdateOptions

    transpose = _layer("t", ["x"], ["t"])
    transpose.transpose.axes.extend([0, 2, 1])
    reshape = _layer("flat", ["t"], ["f"])
    reshape.reshapeStatic.targetShape.extend([1, 8])
    w = rng.normal(size=(8, 3))
    spec = _spec((1, 2, 4), [transpose, reshape, _bmm("mm", "f", "y", w)], "y")
    result = convert(spec, options=UpdateOptions(updatable="all", loss="mse", optimizer="sgd", learning_rate=0.1,
                                                 batch_size=8, epochs=20))
    assert result.spec.neuralNetwork.arrayInputShapeMapping == 1
    assert [l.WhichOneof("layer") for l in result.spec.neuralNetwork.layers if l.isUpdatable] == ["innerProduct"]
    x = rng.normal(size=(64, 1, 2, 4)).astype(np.float32)
    target_w = rng.normal(size=(8, 3))
    y = (x.transpose(0, 1, 3, 2).reshape(64, 8) @ target_w).reshape(64, 1, 3).astype(np.float32)
    model = emulator.load(result.spec)
    before = float(np.mean((model.predict(x)["y"].reshape(64, 1, 3) - y) ** 2))
    run = model.update({"x": x, result.spec.description.trainingInput[-1].name: y.reshape(64, 3)})
    after = float(np.mean((run.model.predict(x)["y"].reshape(64, 1, 3) - y) ** 2))
    assert after < 0.1 * before
