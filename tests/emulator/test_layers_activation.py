"""The activation layer (every NonlinearityType), clip and softmax against numpy references."""
from __future__ import annotations

import numpy as np
import pytest

from ground.errors import UnsupportedConfigError
from tests.emulator import reference as R

# name: (alpha, beta); the fields the message has (others ignored)
SIMPLE = {
    "ReLU": (None, None), "leakyReLU": (0.3, None), "linear": (1.7, -0.4), "sigmoid": (None, None),
    "tanh": (None, None), "scaledTanh": (1.5, 0.7), "sigmoidHard": (0.2, 0.5), "ELU": (0.8, None),
    "softplus": (None, None), "softsign": (None, None), "thresholdedReLU": (0.25, None),
}


def _activation(nn, kind):
    layer = nn.new_layer("act", ["x"], ["y"])
    msg = getattr(layer.activation, kind)
    msg.SetInParent()
    return layer, msg


@pytest.mark.parametrize("kind", list(SIMPLE))
def test_activation(nn, rng, kind):
    alpha, beta = SIMPLE[kind]
    layer, msg = _activation(nn, kind)
    if alpha is not None:
        msg.alpha = alpha
    if beta is not None:
        msg.beta = beta
    x = rng.normal(scale=2.0, size=(2, 3, 5, 7)).astype(np.float32)
    x.flat[:3] = [alpha or 0.0, 0.0, -(alpha or 0.0)]  # the branch points (x == alpha, x == 0)
    expected = R.ACTIVATIONS[kind](x.astype(np.float64), np.float32(alpha or 0), np.float32(beta or 0))
    nn.check([layer], x, expected)


@pytest.mark.parametrize("per_channel", [True, False])
def test_prelu(nn, rng, per_channel):
    alpha = rng.uniform(0.05, 0.9, size=3 if per_channel else 1).astype(np.float32)
    layer, msg = _activation(nn, "PReLU")
    nn.set_weights(msg.alpha, alpha)
    x = rng.normal(size=(2, 3, 5, 7)).astype(np.float32)
    nn.check([layer], x, R.prelu(x, alpha))


@pytest.mark.parametrize("per_channel", [True, False])
def test_parametric_softplus(nn, rng, per_channel):
    n = 3 if per_channel else 1
    alpha, beta = (rng.uniform(0.5, 2.0, size=n).astype(np.float32) for _ in range(2))
    layer, msg = _activation(nn, "parametricSoftplus")
    nn.set_weights(msg.alpha, alpha)
    nn.set_weights(msg.beta, beta)
    x = rng.normal(size=(2, 3, 5, 7)).astype(np.float32)
    nn.check([layer], x, R.parametric_softplus(x, alpha, beta))


def test_prelu_with_wrong_alpha_count_names_layer_and_counts(nn, rng):
    layer, msg = _activation(nn, "PReLU")
    nn.set_weights(msg.alpha, [0.1, 0.2])
    x = rng.normal(size=(1, 3, 5, 7)).astype(np.float32)
    with pytest.raises(UnsupportedConfigError, match=r"layer 'act'.*PReLU alpha has 2 values but the input has 3"
                                                      r".*Fix: give alpha 1 or 3 values"):
        nn.run_layers([layer], {"x": x}, (3, 5, 7))


def test_clip(nn, rng):
    layer = nn.new_layer("clip", ["x"], ["y"])
    layer.clip.minVal, layer.clip.maxVal = -0.5, 0.75
    x = rng.normal(size=(2, 3, 5, 7)).astype(np.float32)
    nn.check([layer], x, np.minimum(np.maximum(x, -0.5), 0.75))


def test_softmax_over_channels(nn, rng):
    layer = nn.new_layer("sm", ["x"], ["y"])
    layer.softmax.SetInParent()
    x = rng.normal(size=(2, 3, 5, 7)).astype(np.float32)
    nn.check([layer], x, R.softmax_channels(x.astype(np.float64)))


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_gelu_modes(nn, rng, mode):
    from math import erf

    layer = nn.new_layer("gelu", ["x"], ["y"])
    layer.gelu.mode = mode
    x = rng.normal(scale=2.0, size=(2, 3, 5, 7)).astype(np.float32)
    v = x.astype(np.float64)
    if mode == 0:
        expected = 0.5 * v * (1 + np.vectorize(erf)(v / np.sqrt(2)))
    elif mode == 1:
        expected = 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))
    else:
        expected = v / (1 + np.exp(-1.702 * v))
    nn.check([layer], x, expected)
