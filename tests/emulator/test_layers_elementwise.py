"""Element-wise layers (add, multiply, average, max, min, unary, scale, bias) against numpy."""
from __future__ import annotations

import numpy as np
import pytest

from ground.errors import UnsupportedConfigError

SHAPE = (3, 5, 7)
BROADCAST = {"same": SHAPE, "channel": (3, 1, 1), "scalar": (1, 1, 1), "spatial": (1, 5, 7)}


def _feeds(rng, other_shapes):
    feeds = {"x": rng.normal(size=(2, *SHAPE)).astype(np.float32)}
    for i, shape in enumerate(other_shapes):
        feeds[f"i{i}"] = rng.normal(size=(2, *shape)).astype(np.float32)
    return feeds


NUMPY = {"add": lambda arrs: sum(arrs[1:], arrs[0]),
         "multiply": lambda arrs: np.prod(np.broadcast_arrays(*arrs), axis=0),
         "average": lambda arrs: sum(arrs[1:], arrs[0]) / len(arrs),
         "max": lambda arrs: np.maximum.reduce(np.broadcast_arrays(*arrs)),
         "min": lambda arrs: np.minimum.reduce(np.broadcast_arrays(*arrs))}


@pytest.mark.parametrize("kind", list(NUMPY))
@pytest.mark.parametrize("others", [("same",), ("channel",), ("scalar",), ("spatial",), ("same", "channel")])
def test_multi_input(nn, rng, kind, others):
    feeds = _feeds(rng, [BROADCAST[o] for o in others])
    layer = nn.new_layer(kind, list(feeds), ["y"])
    getattr(layer, kind).SetInParent()
    nn.check([layer], feeds, NUMPY[kind](list(feeds.values())))


@pytest.mark.parametrize("kind", ["add", "multiply"])
def test_single_input_uses_alpha(nn, rng, kind):
    feeds = _feeds(rng, [])
    layer = nn.new_layer(kind, ["x"], ["y"])
    getattr(layer, kind).alpha = 0.75
    x = feeds["x"]
    nn.check([layer], feeds, x + np.float32(0.75) if kind == "add" else x * np.float32(0.75))


UNARY = {  # type: (numpy fn of (x, alpha, eps), alpha, positive_input)
    "SQRT": (lambda v, a, e: np.sqrt(v), 0.0, True),
    "RSQRT": (lambda v, a, e: 1 / np.sqrt(v + e), 0.0, True),
    "INVERSE": (lambda v, a, e: 1 / (v + e), 0.0, True),
    "POWER": (lambda v, a, e: v ** a, 2.5, True),
    "EXP": (lambda v, a, e: np.exp(v), 0.0, False),
    "LOG": (lambda v, a, e: np.log(v), 0.0, True),
    "ABS": (lambda v, a, e: np.abs(v), 0.0, False),
    "THRESHOLD": (lambda v, a, e: np.maximum(a, v), 0.3, False),
}
TYPES = ["SQRT", "RSQRT", "INVERSE", "POWER", "EXP", "LOG", "ABS", "THRESHOLD"]


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("scale_shift_eps", [(0.0, 0.0, 0.0), (1.5, 0.25, 0.01)])
def test_unary(nn, rng, kind, scale_shift_eps):
    fn, alpha, positive = UNARY[kind]
    scale, shift, eps = scale_shift_eps
    x = rng.uniform(0.5, 2.0, size=(2, *SHAPE)) if positive else rng.normal(size=(2, *SHAPE))
    x = x.astype(np.float32)
    layer = nn.new_layer("u", ["x"], ["y"])
    p = layer.unary
    p.type, p.alpha, p.scale, p.shift, p.epsilon = TYPES.index(kind), alpha, scale, shift, eps
    # proto defaults: scale 1.0 when 0, epsilon 1e-6 when 0
    v = np.float64(scale or 1.0) * x + np.float64(np.float32(shift))
    expected = fn(v, np.float64(np.float32(alpha)), np.float64(np.float32(eps)) if eps else 1e-6)
    nn.check([layer], x, expected, atol=1e-5, rtol=2e-5)


def _to_nchw_broadcast(values, shape):
    """Core ML shape [1] / [C] / [1,H,W] / [C,H,W] -> something that broadcasts over (N, C, H, W)."""
    v = np.asarray(values, np.float64).reshape(shape)
    return v.reshape(1, -1, 1, 1) if len(shape) == 1 else v[None]


@pytest.mark.parametrize("scale_shape", [(1,), (3,), (1, 5, 7), (3, 5, 7)])
@pytest.mark.parametrize("bias_shape", [None, (1,), (3,), (3, 5, 7)])
def test_scale(nn, rng, scale_shape, bias_shape):
    x = rng.normal(size=(2, *SHAPE)).astype(np.float32)
    scale = rng.normal(size=int(np.prod(scale_shape))).astype(np.float32)
    layer = nn.new_layer("scale", ["x"], ["y"])
    p = layer.scale
    p.shapeScale.extend(scale_shape)
    nn.set_weights(p.scale, scale)
    expected = x * _to_nchw_broadcast(scale, scale_shape)
    if bias_shape:
        bias = rng.normal(size=int(np.prod(bias_shape))).astype(np.float32)
        p.hasBias = True
        p.shapeBias.extend(bias_shape)
        nn.set_weights(p.bias, bias)
        expected = expected + _to_nchw_broadcast(bias, bias_shape)
    nn.check([layer], x, expected)


@pytest.mark.parametrize("shape", [(1,), (3,), (1, 5, 7), (3, 5, 7)])
def test_bias(nn, rng, shape):
    x = rng.normal(size=(2, *SHAPE)).astype(np.float32)
    bias = rng.normal(size=int(np.prod(shape))).astype(np.float32)
    layer = nn.new_layer("bias", ["x"], ["y"])
    layer.bias.shape.extend(shape)
    nn.set_weights(layer.bias.bias, bias)
    nn.check([layer], x, x + _to_nchw_broadcast(bias, shape))


def test_scale_with_wrong_value_count_is_refused(nn, rng):
    layer = nn.new_layer("scale", ["x"], ["y"])
    layer.scale.shapeScale.extend([3])
    nn.set_weights(layer.scale.scale, [1.0, 2.0])
    with pytest.raises(UnsupportedConfigError, match=r"layer 'scale'.*scale hold 2 values .* imply 3"):
        nn.run_layers([layer], {"x": np.zeros((1, *SHAPE), np.float32)}, SHAPE)


def test_scale_with_rank_2_shape_is_refused(nn):
    layer = nn.new_layer("scale", ["x"], ["y"])
    layer.scale.shapeScale.extend([5, 7])
    nn.set_weights(layer.scale.scale, np.ones(35))
    with pytest.raises(UnsupportedConfigError, match=r"layer 'scale'.*shape \[5, 7\] is not \[1\], \[C\]"):
        nn.run_layers([layer], {"x": np.zeros((1, *SHAPE), np.float32)}, SHAPE)
