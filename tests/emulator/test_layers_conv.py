"""Convolution, deconvolution and innerProduct against the numpy references (NCHW, naive loops)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.emulator import reference as R

# name: (Cin, Cout, groups, kernel, stride, dilation, padding, has_bias)
#   padding: ("valid", (top, bottom, left, right)) or ("same", "BOTTOM_RIGHT_HEAVY" | "TOP_LEFT_HEAVY")
CONV_CASES = {
    "valid": (3, 4, 1, (3, 2), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), True),
    "valid_asymmetric_pads_strided": (3, 4, 1, (3, 3), (2, 1), (1, 1), ("valid", (1, 0, 2, 1)), False),
    "same_bottom_right_heavy": (3, 2, 1, (4, 4), (2, 2), (1, 1), ("same", "BOTTOM_RIGHT_HEAVY"), True),
    "same_top_left_heavy": (3, 2, 1, (4, 2), (2, 3), (1, 1), ("same", "TOP_LEFT_HEAVY"), True),
    "dilated_strided_valid": (3, 4, 1, (2, 3), (2, 1), (2, 2), ("valid", (1, 1, 0, 2)), True),
    "dilated_same": (3, 2, 1, (3, 3), (1, 1), (2, 1), ("same", "BOTTOM_RIGHT_HEAVY"), False),
    "groups_3": (6, 9, 3, (3, 3), (1, 2), (1, 1), ("valid", (1, 1, 1, 1)), True),
    "groups_2_same": (4, 6, 2, (2, 3), (1, 1), (1, 1), ("same", "TOP_LEFT_HEAVY"), False),
    "depthwise_multiplier_2": (3, 6, 3, (3, 3), (2, 2), (1, 1), ("same", "BOTTOM_RIGHT_HEAVY"), True),
    "depthwise_dilated": (3, 3, 3, (2, 2), (1, 1), (2, 3), ("valid", (0, 0, 0, 0)), True),
}


def _conv_layer(nn, cin, cout, groups, kernel, stride, dilation, padding, has_bias, w, b, deconv=False,
                output_shape=None):
    layer = nn.new_layer("conv", ["x"], ["y"])
    p = layer.convolution
    p.outputChannels, p.nGroups = cout, groups
    p.kernelChannels = cin if deconv else cin // groups
    p.kernelSize.extend(kernel)
    p.stride.extend(stride)
    p.dilationFactor.extend(dilation)
    p.isDeconvolution = deconv
    if padding[0] == "same":
        p.same.asymmetryMode = 1 if padding[1] == "TOP_LEFT_HEAVY" else 0
    else:
        nn.set_border(p.valid.paddingAmounts, *padding[1])
    nn.set_weights(p.weights, w)
    p.hasBias = has_bias
    if has_bias:
        nn.set_weights(p.bias, b)
    if output_shape:
        p.outputShape.extend(output_shape)
    return layer


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_convolution(nn, rng, case):
    cin, cout, groups, kernel, stride, dilation, padding, has_bias = CONV_CASES[case]
    x = rng.normal(size=(2, cin, 5, 7)).astype(np.float32)
    w = rng.normal(size=(cout, cin // groups, *kernel)).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32)
    if padding[0] == "same":
        tl = padding[1] == "TOP_LEFT_HEAVY"
        ekh, ekw = (kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1
        pads = (*R.same_pads(5, ekh, stride[0], tl), *R.same_pads(7, ekw, stride[1], tl))
    else:
        pads = padding[1]
    expected = R.conv2d(x, w, b if has_bias else None, stride, dilation, pads, groups)
    if padding[0] == "same":
        assert expected.shape[2:] == (-(-5 // stride[0]), -(-7 // stride[1]))
    nn.check([_conv_layer(nn, cin, cout, groups, kernel, stride, dilation, padding, has_bias, w, b)],
             x, expected)


# name: (Cin, Cout, groups, kernel, stride, padding, output_shape, has_bias)
DECONV_CASES = {
    "valid": (3, 2, 1, (3, 3), (2, 2), ("valid", (0, 0, 0, 0)), None, True),
    "valid_asymmetric_pads": (3, 4, 1, (3, 4), (2, 3), ("valid", (1, 2, 0, 1)), None, False),
    "same_bottom_right_heavy": (3, 2, 1, (3, 3), (2, 2), ("same", "BOTTOM_RIGHT_HEAVY"), None, True),
    "same_top_left_heavy": (3, 2, 1, (4, 3), (2, 2), ("same", "TOP_LEFT_HEAVY"), None, True),
    "same_kernel_below_stride": (3, 2, 1, (1, 2), (2, 3), ("same", "BOTTOM_RIGHT_HEAVY"), None, True),
    "output_shape_same": (3, 2, 1, (3, 3), (2, 2), ("same", "BOTTOM_RIGHT_HEAVY"), (10, 14), True),
    "output_shape_valid_past_end": (3, 2, 1, (2, 2), (3, 3), ("valid", (0, 0, 0, 0)), (15, 21), True),
    "groups_2": (4, 6, 2, (3, 2), (2, 1), ("valid", (0, 1, 1, 0)), None, True),
    "groups_3_output_shape": (3, 3, 3, (3, 3), (2, 2), ("same", "BOTTOM_RIGHT_HEAVY"), (10, 13), False),
}


def _deconv_expected(x, w, b, groups, kernel, stride, padding, output_shape):
    """Full transposed convolution, then Core ML's output window (see emulator/layers/conv_extra.py)."""
    full = R.deconv2d_full(x, w, stride, groups)
    h, wd = x.shape[2:]
    starts, sizes = [], []
    for axis, size in ((0, h), (1, wd)):
        n_full = full.shape[2 + axis]
        if padding[0] == "valid":
            t = padding[1][2 * axis:2 * axis + 2]
            out = output_shape[axis] if output_shape else n_full - t[0] - t[1]
            start = t[0]
        else:
            out = output_shape[axis] if output_shape else size * stride[axis]
            total = max(n_full - out, 0)
            start = total - total // 2 if padding[1] == "TOP_LEFT_HEAVY" else total // 2
        starts.append(start)
        sizes.append(out)
    y = R.window(full, starts[0], sizes[0], starts[1], sizes[1])
    return y + b.reshape(1, -1, 1, 1) if b is not None else y


@pytest.mark.parametrize("case", list(DECONV_CASES))
def test_deconvolution(nn, rng, case):
    cin, cout, groups, kernel, stride, padding, output_shape, has_bias = DECONV_CASES[case]
    x = rng.normal(size=(2, cin, 5, 7)).astype(np.float32)
    w = rng.normal(size=(cin, cout // groups, *kernel)).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32)
    expected = _deconv_expected(x, w, b if has_bias else None, groups, kernel, stride, padding, output_shape)
    if padding[0] == "same" and not output_shape:
        assert expected.shape[2:] == (5 * stride[0], 7 * stride[1])
    layer = _conv_layer(nn, cin, cout, groups, kernel, stride, (1, 1), padding, has_bias, w, b, deconv=True,
                        output_shape=output_shape)
    nn.check([layer], x, expected)


def test_deconvolution_weights_write_back_round_trip(nn, rng):
    from emulator.layers import OPS
    w = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    layer = _conv_layer(nn, 4, 6, 2, (3, 2), (1, 1), (1, 1), ("valid", (0, 0, 0, 0)), False, w, None,
                        deconv=True)
    impl = OPS["convolution"]
    params = impl.params(layer)
    del layer.convolution.weights.floatValue[:]
    impl.write_back(layer, params)
    np.testing.assert_array_equal(np.asarray(layer.convolution.weights.floatValue).reshape(w.shape), w)


@pytest.mark.parametrize("has_bias", [True, False])
def test_inner_product_after_flatten(nn, rng, has_bias):
    x = rng.normal(size=(3, 3, 5, 7)).astype(np.float32)
    w = rng.normal(size=(4, 105)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    flat = nn.new_layer("flat", ["x"], ["f"])
    flat.flatten.mode = 0
    ip = nn.new_layer("ip", ["f"], ["y"])
    ip.innerProduct.inputChannels, ip.innerProduct.outputChannels = 105, 4
    ip.innerProduct.hasBias = has_bias
    nn.set_weights(ip.innerProduct.weights, w)
    if has_bias:
        nn.set_weights(ip.innerProduct.bias, b)
    expected = x.reshape(3, 105).astype(np.float64) @ w.T + (b if has_bias else 0)
    nn.check([flat, ip], x, expected.reshape(3, 4, 1, 1))


@pytest.mark.parametrize("case,deconv", [("dilated_strided_valid", False), ("groups_3", False),
                                         ("depthwise_multiplier_2", False), ("groups_2", True),
                                         ("output_shape_valid_past_end", True)])
def test_convolution_variants_have_gradients(nn, rng, case, deconv):
    """Dilation, groups and deconvolution train too (without relying on oneDNN's grouped kernels)."""
    import tensorflow as tf

    import emulator

    if deconv:
        cin, cout, groups, kernel, stride, padding, output_shape, has_bias = DECONV_CASES[case]
        w = rng.normal(size=(cin, cout // groups, *kernel))
        dilation = (1, 1)
    else:
        cin, cout, groups, kernel, stride, dilation, padding, has_bias = CONV_CASES[case]
        w, output_shape = rng.normal(size=(cout, cin // groups, *kernel)), None
    layer = _conv_layer(nn, cin, cout, groups, kernel, stride, dilation, padding, has_bias, w,
                        rng.normal(size=cout), deconv=deconv, output_shape=output_shape)
    net = emulator.load(nn.make_spec({"x": (cin, 5, 7)}, {"y": (cout, 1, 1)}, [layer])).network
    params = {"conv": {k: tf.Variable(v) for k, v in net.params["conv"].items()}}
    x = tf.constant(rng.normal(size=(2, 5, 7, cin)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(net.forward({"x": x}, params, ["y"])["y"]))
    grads = tape.gradient(loss, list(params["conv"].values()))
    assert all(g is not None and np.all(np.isfinite(g.numpy())) and np.any(g.numpy() != 0) for g in grads)
    assert grads[0].shape == net.params["conv"]["weights"].shape
