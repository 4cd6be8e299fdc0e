"""batchnorm, l2normalize, lrn, embedding, image preprocessing; gradients; up-front refusal."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ground.errors import UnsupportedConfigError, UnsupportedLayerError
from tests.emulator import reference as R


@pytest.fixture
def x(rng):
    return rng.normal(size=(2, 3, 5, 7)).astype(np.float32)


def _batchnorm(nn, rng, c=3, eps=0.0, instance=False):
    layer = nn.new_layer("bn", ["x"], ["y"])
    p = layer.batchnorm
    p.channels, p.epsilon = c, eps
    p.computeMeanVar = p.instanceNormalization = instance
    values = {"gamma": rng.normal(size=c), "beta": rng.normal(size=c), "mean": rng.normal(size=c),
              "variance": rng.uniform(0.5, 2.0, size=c)}
    for key in ("gamma", "beta") + (() if instance else ("mean", "variance")):
        nn.set_weights(getattr(p, key), values[key])
    return layer, {k: np.float32(v).reshape(1, c, 1, 1).astype(np.float64) for k, v in values.items()}


@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_batchnorm_stored_statistics(nn, rng, x, eps):
    layer, v = _batchnorm(nn, rng, eps=eps)
    e = np.float32(eps) if eps else 1e-5  # proto: defaults to 1e-5 when 0
    expected = v["gamma"] * (x - v["mean"]) / np.sqrt(v["variance"] + e) + v["beta"]
    nn.check([layer], x, expected)


def test_instance_normalization(nn, rng, x):
    layer, v = _batchnorm(nn, rng, instance=True)
    xd = x.astype(np.float64)
    mu, var = xd.mean(axis=(2, 3), keepdims=True), xd.var(axis=(2, 3), keepdims=True)
    nn.check([layer], x, v["gamma"] * (xd - mu) / np.sqrt(var + 1e-5) + v["beta"], atol=2e-5)


def test_l2normalize(nn, x):
    layer = nn.new_layer("l2", ["x"], ["y"])
    layer.l2normalize.epsilon = 0.0
    xd = x.astype(np.float64)
    nn.check([layer], x, xd / np.sqrt((xd ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-6))


@pytest.mark.parametrize("size,k", [(3, 0.0), (5, 2.0), (1, 1.5)])
def test_lrn(nn, rng, size, k):
    x = rng.normal(size=(2, 6, 3, 4)).astype(np.float32)
    layer = nn.new_layer("lrn", ["x"], ["y"])
    p = layer.lrn
    p.alpha, p.beta, p.localSize, p.k = 0.3, 0.75, size, k
    nn.check([layer], x, R.lrn(x.astype(np.float64), np.float32(0.3), np.float32(0.75), size, k or 1.0))


@pytest.mark.parametrize("has_bias", [True, False])
def test_embedding(nn, rng, has_bias):
    weights = rng.normal(size=(4, 6)).astype(np.float32)  # [outputChannels, inputDim]
    bias = rng.normal(size=4).astype(np.float32)
    layer = nn.new_layer("emb", ["x"], ["y"])
    p = layer.embedding
    p.inputDim, p.outputChannels, p.hasBias = 6, 4, has_bias
    nn.set_weights(p.weights, weights)
    if has_bias:
        nn.set_weights(p.bias, bias)
    idx = np.asarray([5, 0, 3, 3], np.float32).reshape(4, 1, 1, 1)
    expected = weights[:, [5, 0, 3, 3]].T + (bias if has_bias else 0)
    nn.check([layer], idx, expected.reshape(4, 4, 1, 1))


def test_embedding_refuses_non_scalar_input(nn, x):
    layer = nn.new_layer("emb", ["x"], ["y"])
    layer.embedding.inputDim, layer.embedding.outputChannels = 6, 4
    nn.set_weights(layer.embedding.weights, np.zeros((4, 6)))
    with pytest.raises(UnsupportedConfigError, match=r"layer 'emb'.*must be one index \[1, 1, 1\]"):
        nn.run_layers([layer], {"x": x}, (4, 1, 1))


def test_image_scaler_and_mean_image(nn, rng):
    from emulator.layers.preprocessing import preprocessors
    spec = nn.make_spec({"bgr": (3, 5, 7), "gray": (1, 5, 7)}, {"y": (3, 5, 7)}, [])
    spec.description.input[0].type.imageType.colorSpace = 30  # BGR
    spec.description.input[1].type.imageType.colorSpace = 10  # GRAYSCALE
    for fd, (h, w) in zip(spec.description.input, [(5, 7), (5, 7)]):
        fd.type.imageType.height, fd.type.imageType.width = h, w
    pre = spec.neuralNetwork.preprocessing.add(featureName="bgr")
    s = pre.scaler
    s.channelScale, s.blueBias, s.greenBias, s.redBias = 0.5, 1.0, 2.0, 3.0
    mean = rng.normal(size=(1, 5, 7)).astype(np.float32)
    gray = spec.neuralNetwork.preprocessing.add(featureName="gray")
    gray.meanImage.meanImage.extend(mean.ravel().tolist())
    fns = preprocessors(spec, spec.neuralNetwork)
    img = rng.uniform(0, 255, size=(2, 3, 5, 7)).astype(np.float32)
    got = fns["bgr"](tf.constant(img.transpose(0, 2, 3, 1))).numpy().transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, 0.5 * img + np.asarray([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1), rtol=1e-6)
    g = rng.uniform(0, 255, size=(2, 1, 5, 7)).astype(np.float32)
    got = fns["gray"](tf.constant(g.transpose(0, 2, 3, 1))).numpy().transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, g - mean[None], rtol=1e-6)


def test_preprocessing_of_unknown_input_is_refused(nn):
    from emulator.layers.preprocessing import preprocessors
    spec = nn.make_spec({"a": (3, 5, 7), "b": (3, 5, 7)}, {"y": (3, 5, 7)}, [])
    spec.neuralNetwork.preprocessing.add(featureName="nope").scaler.channelScale = 1.0
    with pytest.raises(UnsupportedConfigError, match=r"preprocessing names input 'nope'.*Fix: use one of"):
        preprocessors(spec, spec.neuralNetwork)


def test_gradients_flow_through_training_layers(nn, rng):
    """conv, batchnorm, ReLU, max and average pooling, sigmoid, tanh, flatten, innerProduct, softmax."""
    import emulator

    conv = nn.new_layer("conv", ["x"], ["c"])
    p = conv.convolution
    p.outputChannels, p.kernelChannels, p.hasBias = 4, 3, True
    p.kernelSize.extend([3, 3])
    p.same.SetInParent()
    nn.set_weights(p.weights, rng.normal(size=(4, 3, 3, 3)))
    nn.set_weights(p.bias, rng.normal(size=4))
    bn, _ = _batchnorm(nn, rng, c=4)
    bn.input[:] = ["c"]
    bn.output[:] = ["b"]
    relu = nn.new_layer("relu", ["b"], ["r"])
    relu.activation.ReLU.SetInParent()
    max_pool = nn.new_layer("max_pool", ["r"], ["m"])
    max_pool.pooling.type = 0
    max_pool.pooling.kernelSize.extend([2, 2])
    max_pool.pooling.same.SetInParent()
    pool = nn.new_layer("pool", ["m"], ["p"])
    pool.pooling.type = 1
    pool.pooling.kernelSize.extend([2, 2])
    pool.pooling.stride.extend([2, 2])
    pool.pooling.valid.SetInParent()
    sig = nn.new_layer("sig", ["p"], ["s"])
    sig.activation.sigmoid.SetInParent()
    tanh = nn.new_layer("tanh", ["s"], ["t"])
    tanh.activation.tanh.SetInParent()
    flat = nn.new_layer("flat", ["t"], ["f"])
    flat.flatten.SetInParent()
    ip = nn.new_layer("ip", ["f"], ["i"])
    ip.innerProduct.inputChannels, ip.innerProduct.outputChannels, ip.innerProduct.hasBias = 24, 5, True
    nn.set_weights(ip.innerProduct.weights, rng.normal(size=(5, 24)))
    nn.set_weights(ip.innerProduct.bias, rng.normal(size=5))
    sm = nn.new_layer("sm", ["i"], ["y"])
    sm.softmax.SetInParent()
    layers = [conv, bn, relu, max_pool, pool, sig, tanh, flat, ip, sm]
    model = emulator.load(nn.make_spec({"x": (3, 5, 7)}, {"y": (5,)}, layers))
    net = model.network
    params = {name: {k: tf.Variable(v) for k, v in ps.items()} for name, ps in net.params.items()}
    x = tf.constant(rng.normal(size=(2, 5, 7, 3)).astype(np.float32))
    target = tf.one_hot([1, 3], 5)

    @tf.function(autograph=False)
    def step(inp):
        with tf.GradientTape() as tape:
            tape.watch(inp)
            probs = tf.reshape(net.forward({"x": inp}, params, ["y"])["y"], [-1, 5])
            loss = -tf.reduce_sum(target * tf.math.log(probs))
        return tape.gradient(loss, [inp, params["conv"]["weights"], params["conv"]["bias"],
                                    params["ip"]["weights"], params["ip"]["bias"]])

    grads = step(x)
    assert all(g is not None for g in grads)
    for g in grads:
        assert np.all(np.isfinite(g.numpy())) and np.any(g.numpy() != 0)


def test_every_unsupported_layer_is_named_up_front(nn):
    import emulator

    cat = nn.new_layer("seq_cat", ["x", "x"], ["a"])
    cat.concat.sequenceConcat = True
    bn = nn.new_layer("batch_stats", ["a"], ["b"])
    bn.batchnorm.channels, bn.batchnorm.computeMeanVar = 6, True
    custom = nn.new_layer("my_custom", ["b"], ["y"])
    custom.custom.className = "Foo"
    spec = nn.make_spec({"x": (3, 5, 7)}, {"y": (6, 5, 7)}, [cat, bn, custom])
    with pytest.raises(UnsupportedLayerError) as info:
        emulator.load(spec)
    message = str(info.value)
    assert "3 unsupported layer(s)" in message
    assert "'seq_cat' (concat): sequenceConcat" in message
    assert "'batch_stats' (batchnorm): computeMeanVar with batch statistics" in message
    assert "'my_custom' (custom): no implementation" in message
    assert [item.name for item in info.value.items] == ["seq_cat", "batch_stats", "my_custom"]
