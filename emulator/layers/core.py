"""The layers of a plain CNN classifier: convolution, innerProduct, pooling, softmax, flatten.

Semantics follow coremltools' ``NeuralNetwork.proto``; tensors are ``(N, H, W, C)`` (see registry).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

from . import weights as W
from .conv_extra import conv2d, deconvolution  # dilation, groups, transposed: beside this file
from .padding import pad_hw, pair, same_padding, valid_padding
from .pooling_extra import pooling as general_pooling  # padding modes, L2, includeLastPixel, global
from .registry import op

# ---------------------------------------------------------------- convolution


def _conv_params(layer) -> dict:
    p = layer.convolution
    kh, kw = pair(p.kernelSize, 3)
    groups = max(p.nGroups, 1)
    if p.isDeconvolution:
        shape = (p.kernelChannels, p.outputChannels // groups, kh, kw)
        w = W.read(p.weights, shape, where=layer.name)
        # Core ML [Cin, Cout/g, kh, kw] -> TF conv2d_transpose filter [kh, kw, Cout/g, Cin]
        out = {"weights": np.ascontiguousarray(w.transpose(2, 3, 1, 0))}
    else:
        shape = (p.outputChannels, p.kernelChannels, kh, kw)
        w = W.read(p.weights, shape, where=layer.name)
        out = {"weights": np.ascontiguousarray(w.transpose(2, 3, 1, 0))}  # -> [kh, kw, Cin/g, Cout]
    if p.hasBias:
        out["bias"] = W.read(p.bias, (p.outputChannels,), where=layer.name, what="bias")
    return out


def _conv_write_back(layer, params: dict) -> None:
    p = layer.convolution
    W.write(p.weights, np.asarray(params["weights"]).transpose(3, 2, 0, 1))
    if p.hasBias:
        W.write(p.bias, params["bias"])


def conv_input_padding(layer, x: tf.Tensor) -> tf.Tensor:
    """Apply the explicit ('valid' amounts) or computed ('same') padding of a convolution/pooling."""
    p = layer.convolution
    kh, kw = pair(p.kernelSize, 3)
    sh, sw = pair(p.stride, 1)
    dh, dw = pair(p.dilationFactor, 1)
    if p.WhichOneof("ConvolutionPaddingType") == "same":
        tl = p.same.asymmetryMode == 1  # TOP_LEFT_HEAVY
        pads_h = same_padding(int(x.shape[1]), kh, sh, dh, tl)
        pads_w = same_padding(int(x.shape[2]), kw, sw, dw, tl)
    else:
        pads_h, pads_w = valid_padding(p.valid)
    return pad_hw(x, pads_h, pads_w)


@op("convolution", params=_conv_params, write_back=_conv_write_back)
def convolution(layer, inputs, params):
    p = layer.convolution
    if p.isDeconvolution:
        return [deconvolution(layer, inputs[0], params)]
    x = conv_input_padding(layer, inputs[0])
    y = conv2d(x, params["weights"], pair(p.stride, 1), pair(p.dilationFactor, 1), max(p.nGroups, 1))
    if p.hasBias:
        y = tf.nn.bias_add(y, params["bias"])
    return [y]


# ---------------------------------------------------------------- innerProduct


def _ip_params(layer) -> dict:
    p = layer.innerProduct
    w = W.read(p.weights, (p.outputChannels, p.inputChannels), where=layer.name)
    out = {"weights": np.ascontiguousarray(w.T)}  # Core ML [out, in] -> matmul [in, out]
    if p.hasBias:
        out["bias"] = W.read(p.bias, (p.outputChannels,), where=layer.name, what="bias")
    return out


def _ip_write_back(layer, params: dict) -> None:
    p = layer.innerProduct
    W.write(p.weights, np.asarray(params["weights"]).T)
    if p.hasBias:
        W.write(p.bias, params["bias"])


@op("innerProduct", params=_ip_params, write_back=_ip_write_back)
def inner_product(layer, inputs, params):
    x = inputs[0]
    p = layer.innerProduct
    if x.shape[1] != 1 or x.shape[2] != 1:
        raise UnsupportedConfigError(
            f"innerProduct input must be a vector [C,1,1], got H={x.shape[1]}, W={x.shape[2]}",
            where=f"layer '{layer.name}'", fix="put a flatten layer before it")
    y = tf.matmul(tf.reshape(x, [-1, p.inputChannels]), params["weights"])
    if p.hasBias:
        y = tf.nn.bias_add(y, params["bias"])
    return [tf.reshape(y, [-1, 1, 1, p.outputChannels])]


# ---------------------------------------------------------------- pooling


@op("pooling")
def pooling(layer, inputs, params):
    return [general_pooling(layer, inputs[0])]


# ---------------------------------------------------------------- softmax, flatten


@op("softmax")
def softmax(layer, inputs, params):
    return [tf.nn.softmax(inputs[0], axis=-1)]  # Core ML: over C, at each (H, W)


@op("flatten")
def flatten(layer, inputs, params):
    x = inputs[0]
    n_out = int(np.prod(x.shape[1:]))
    if layer.flatten.mode == 0:  # CHANNEL_FIRST: C-major order, as a CHW array is laid out
        x = tf.transpose(x, [0, 3, 1, 2])
    return [tf.reshape(x, [-1, 1, 1, n_out])]
