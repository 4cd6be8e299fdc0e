"""Forward parity of every mapped ONNX op against onnxruntime (max abs diff <= 1e-5)."""
from __future__ import annotations

import numpy as np
import pytest

from .helpers import check, kinds, model, node, rand

X = rand(2, 3, 6, 6)
IMG = [("x", [1, 3, 6, 6])]


def _unary(op, opset=13, x=X, **attrs):
    shape = list(x.shape)
    m = model([node(op, ["x"], ["y"], **attrs)], [("x", [1] + shape[1:])], [("y", None)], opset=opset)
    return check(m, x)


@pytest.mark.parametrize("op,attrs", [
    ("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("Softplus", {}), ("Softsign", {}),
    ("LeakyRelu", {"alpha": 0.2}), ("LeakyRelu", {}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
    ("Selu", {"alpha": 1.5, "gamma": 0.9}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSigmoid", {}),
    ("Identity", {}), ("Dropout", {}),
])
def test_activations(op, attrs):
    spec = _unary(op, **attrs)
    assert kinds(spec)[-1] in ("activation",)


def test_selu_is_elu_then_linear():
    assert kinds(_unary("Selu")) == ["activation", "activation"]


@pytest.mark.parametrize("slope", [rand(3, 1, 1, lo=0.1), np.array([0.25], np.float32), rand(1, 3, 1, 1, lo=0.0)])
def test_prelu(slope):
    m = model([node("PRelu", ["x", "s"], ["y"])], IMG, [("y", None)], {"s": slope})
    check(m, X)


def test_prelu_refuses_a_spatial_slope():
    from converter.convert import to_inference_spec
    from ground.errors import UnsupportedConfigError

    m = model([node("PRelu", ["x", "s"], ["y"])], IMG, [("y", None)], {"s": rand(1, 6, 6)})
    with pytest.raises(UnsupportedConfigError, match="slope"):
        to_inference_spec(m)


@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-0.5, 0.5), (0.0, None), (None, 0.3)])
def test_clip(lo, hi):
    inits, ins = {}, ["x"]
    ins.append("lo" if lo is not None else "")
    if lo is not None:
        inits["lo"] = np.array(lo, np.float32)
    if hi is not None:
        ins.append("hi")
        inits["hi"] = np.array(hi, np.float32)
    m = model([node("Clip", ins, ["y"])], IMG, [("y", None)], inits)
    spec = check(m, X * 4)
    assert kinds(spec) == (["activation"] if (lo, hi) == (0.0, None) else ["clip"])


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_and_log_softmax_on_features(opset):
    x = rand(4, 7)
    for op in ("Softmax", "LogSoftmax"):
        m = model([node(op, ["x"], ["y"], axis=1)], [("x", [1, 7])], [("y", None)], opset=opset)
        check(m, x)


def test_softmax_over_channels_of_an_image():
    m = model([node("Softmax", ["x"], ["y"], axis=1)], IMG, [("y", None)], opset=13)
    check(m, X)


def test_softmax_over_width_is_refused():
    from converter.convert import to_inference_spec
    from ground.errors import UnsupportedConfigError

    m = model([node("Softmax", ["x"], ["y"], axis=-1)], IMG, [("y", None)], opset=13)
    with pytest.raises(UnsupportedConfigError, match="not the Core ML channel axis"):
        to_inference_spec(m)


@pytest.mark.parametrize("attrs,bias", [
    ({}, True), ({"strides": [2, 2], "pads": [1, 1, 1, 1]}, True), ({"dilations": [2, 2]}, False),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, True), ({"auto_pad": "SAME_LOWER"}, True),
    ({"pads": [0, 1, 2, 1]}, True), ({"group": 3}, True),
])
def test_conv(attrs, bias):
    cin = 1 if attrs.get("group") else 3
    inits = {"w": rand(6, cin, 3, 3, seed=1)}
    ins = ["x", "w"]
    if bias:
        inits["b"] = rand(6, seed=2)
        ins.append("b")
    m = model([node("Conv", ins, ["y"], kernel_shape=[3, 3], **attrs)], IMG, [("y", None)], inits)
    assert kinds(check(m, X)) == ["convolution"]


def test_conv_1d():
    m = model([node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1])], [("x", [1, 3, 9])], [("y", None)],
              {"w": rand(4, 3, 3, seed=1), "b": rand(4, seed=2)})
    check(m, rand(2, 3, 9))


@pytest.mark.parametrize("attrs", [{}, {"strides": [2, 2]}, {"strides": [2, 2], "pads": [1, 1, 1, 1]},
                                   {"strides": [2, 2], "output_padding": [1, 1]},
                                   {"strides": [2, 2], "pads": [1, 0, 1, 0], "output_padding": [1, 1]},
                                   {"strides": [2, 2], "output_shape": [12, 12]}])
def test_conv_transpose(attrs):
    m = model([node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)], IMG, [("y", None)],
              {"w": rand(3, 4, 3, 3, seed=1), "b": rand(4, seed=2)})
    assert kinds(check(m, X)) == ["convolution"]


@pytest.mark.parametrize("trans_b,alpha,beta,c_shape", [
    (0, 1.0, 1.0, (5,)), (1, 1.0, 1.0, (5,)), (1, 0.5, 2.0, (1, 5)), (0, 2.0, 0.0, (5,)), (0, 1.0, 1.0, None),
    (1, 1.0, 0.3, ()),
])
def test_gemm(trans_b, alpha, beta, c_shape):
    b = rand(5, 7, seed=1) if trans_b else rand(7, 5, seed=1)
    inits = {"b": b}
    ins = ["x", "b"]
    if c_shape is not None:
        inits["c"] = rand(*c_shape, seed=2) if c_shape else np.array(0.7, np.float32)
        ins.append("c")
    m = model([node("Gemm", ins, ["y"], transB=trans_b, alpha=alpha, beta=beta)], [("x", [1, 7])], [("y", None)], inits)
    assert kinds(check(m, rand(3, 7))) == ["innerProduct"]


@pytest.mark.parametrize("with_add", [False, True])
def test_matmul_with_constant_weight(with_add):
    nodes = [node("MatMul", ["x", "w"], ["m"] if with_add else ["y"])]
    inits = {"w": rand(7, 4, seed=1)}
    if with_add:
        nodes.append(node("Add", ["m", "b"], ["y"]))
        inits["b"] = rand(4, seed=2)
    m = model(nodes, [("x", [1, 7])], [("y", None)], inits)
    assert kinds(check(m, rand(3, 7))) == ["innerProduct"]


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
])
def test_pooling(op, attrs):
    m = model([node(op, ["x"], ["y"], **attrs)], IMG, [("y", None)])
    assert kinds(check(m, X)) == ["pooling"]


def test_ceil_mode_that_adds_a_window_is_refused():
    from converter.convert import to_inference_spec
    from ground.errors import UnsupportedConfigError

    m = model([node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)],
              [("x", [1, 3, 5, 5])], [("y", None)])
    with pytest.raises(UnsupportedConfigError, match="ceil_mode"):
        to_inference_spec(m)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pooling(op):
    m = model([node(op, ["x"], ["y"])], IMG, [("y", None)])
    check(m, X)


def test_batchnorm():
    inits = {"s": rand(3, seed=1), "b": rand(3, seed=2), "m": rand(3, seed=3), "v": rand(3, seed=4, lo=0.5)}
    m = model([node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)], IMG, [("y", None)], inits)
    assert kinds(check(m, X)) == ["batchnorm"]


@pytest.mark.parametrize("opset", [11, 13, 17, 21])
def test_small_cnn_across_opsets(opset):
    nodes = [node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), node("Relu", ["c"], ["r"]),
             node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]), node("Flatten", ["p"], ["f"]),
             node("Gemm", ["f", "g", "gb"], ["z"], transB=1), node("Softmax", ["z"], ["y"], axis=1)]
    inits = {"w": rand(4, 3, 3, 3, seed=1), "b": rand(4, seed=2), "g": rand(5, 36, seed=3), "gb": rand(5, seed=4)}
    spec = check(model(nodes, IMG, [("y", None)], inits, opset=opset), X)
    assert kinds(spec) == ["convolution", "activation", "pooling", "flatten", "innerProduct", "softmax"]
