"""Data-movement layers: flatten, reshape, permute, padding, crop, upsample, concat, loadConstant."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.emulator import reference as R


@pytest.fixture
def x(rng):
    return rng.normal(size=(2, 3, 5, 7)).astype(np.float32)


@pytest.mark.parametrize("mode", [0, 1])
def test_flatten(nn, x, mode):
    layer = nn.new_layer("flat", ["x"], ["y"])
    layer.flatten.mode = mode
    data = x if mode == 0 else x.transpose(0, 2, 3, 1)  # CHANNEL_LAST: H, W, C order
    nn.check([layer], x, data.reshape(2, -1, 1, 1))


def _reshape_reference(x, target, mode):
    c, h, w = target[-3:]
    n = x.shape[0]
    if mode == 0:  # CHANNEL_FIRST: flatten C-major, reshape
        return x.reshape(n, c, h, w)
    hwc = x.transpose(0, 2, 3, 1).reshape(n, -1)  # CHANNEL_LAST: flatten H*W*C, reshape [H, W, C], permute
    return hwc.reshape(n, h, w, c).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("target", [(7, 3, 5), (1, 15, 7), (105, 1, 1), (1, 5, 3, 7), (5, -1, 3)])
def test_reshape(nn, x, mode, target):
    layer = nn.new_layer("rs", ["x"], ["y"])
    layer.reshape.targetShape.extend(target)
    layer.reshape.mode = mode
    resolved = list(target[-3:])
    if -1 in resolved:
        resolved[resolved.index(-1)] = 105 // -int(np.prod(resolved))
    nn.check([layer], x, _reshape_reference(x, resolved, mode))


PERMS = [p for p in itertools.permutations([1, 2, 3])]


@pytest.mark.parametrize("rest", PERMS)
def test_permute(nn, x, rest):
    axis = [0, *rest]
    layer = nn.new_layer("perm", ["x"], ["y"])
    layer.permute.axis.extend(axis)
    # Core ML's blob is [Seq, B, C, H, W]; axis permutes [Seq, C, H, W] and leaves B alone.
    expected = np.stack([np.transpose(sample[None], axis)[0] for sample in x])
    nn.check([layer], x, expected)


def test_reshape_and_permute_that_move_the_sequence_axis_run_in_the_rank_n_engine(nn, x):
    """The (N, H, W, C) engine cannot model the sequence axis; the rank-N one takes such networks."""
    rs = nn.new_layer("rs_seq", ["x"], ["a"])
    rs.reshape.targetShape.extend([5, 1, 3, 7])        # [Seq 5, 1, C 1, H 3, W 7]
    perm = nn.new_layer("perm_seq", ["a"], ["y"])
    perm.permute.axis.extend([1, 0, 2, 3])             # (Seq, C, H, W) -> (C, Seq, H, W)
    expected = np.stack([e.reshape(5, 1, 3, 7).transpose(1, 0, 2, 3).reshape(5, 3, 7) for e in x])
    got = nn.run_layers([rs, perm], {"x": x}, (5, 3, 7))
    np.testing.assert_array_equal(got, expected)


PADS = [(2, 0, 2, 0), (1, 2, 0, 3), (0, 0, 1, 1)]


@pytest.mark.parametrize("pads", PADS)
@pytest.mark.parametrize("kind", ["constant", "reflection", "replication"])
def test_padding(nn, x, kind, pads):
    layer = nn.new_layer("pad", ["x"], ["y"])
    nn.set_border(layer.padding.paddingAmounts, *pads)
    if kind == "constant":
        layer.padding.constant.value = 1.5
        expected = R.zero_pad(x, pads, value=1.5)
    else:
        getattr(layer.padding, kind).SetInParent()
        expected = R.pad_reflect_replicate(x, pads, kind)
    nn.check([layer], x, expected)


def test_padding_proto_example(nn):
    """NeuralNetwork.proto's own example: [1, 3, 4] padded top=2, left=2."""
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 1, 3, 4)
    expected = {
        "reflection": [[11, 10, 9, 10, 11, 12], [7, 6, 5, 6, 7, 8], [3, 2, 1, 2, 3, 4], [7, 6, 5, 6, 7, 8],
                       [11, 10, 9, 10, 11, 12]],
        "replication": [[1, 1, 1, 2, 3, 4], [1, 1, 1, 2, 3, 4], [1, 1, 1, 2, 3, 4], [5, 5, 5, 6, 7, 8],
                        [9, 9, 9, 10, 11, 12]],
    }
    for kind, rows in expected.items():
        layer = nn.new_layer("pad", ["x"], ["y"])
        nn.set_border(layer.padding.paddingAmounts, 2, 0, 2, 0)
        getattr(layer.padding, kind).SetInParent()
        nn.check([layer], x, np.asarray(rows, np.float32).reshape(1, 1, 5, 6))


def test_crop_by_amounts(nn, x):
    layer = nn.new_layer("crop", ["x"], ["y"])
    nn.set_border(layer.crop.cropAmounts, 1, 2, 3, 1)
    nn.check([layer], x, x[:, :, 1:5 - 2, 3:7 - 1])


def test_crop_by_offset_to_second_input(nn, x, rng):
    ref = rng.normal(size=(2, 3, 2, 4)).astype(np.float32)
    layer = nn.new_layer("crop", ["x", "ref"], ["y"])
    layer.crop.offset.extend([2, 1])
    nn.check([layer], {"x": x, "ref": ref}, x[:, :, 2:4, 1:5])


@pytest.mark.parametrize("factors", [(2, 3), (1, 2)])
def test_upsample_nearest(nn, x, factors):
    layer = nn.new_layer("up", ["x"], ["y"])
    layer.upsample.scalingFactor.extend(factors)
    nn.check([layer], x, np.repeat(np.repeat(x, factors[0], axis=2), factors[1], axis=3))


@pytest.mark.parametrize("mode", ["DEFAULT", "ALIGN_CORNERS_TRUE", "ALIGN_CORNERS_FALSE"])
@pytest.mark.parametrize("factors", [(2, 3), (1.5, 2.5)])
def test_upsample_bilinear(nn, x, mode, factors):
    layer = nn.new_layer("up", ["x"], ["y"])
    p = layer.upsample
    p.mode = 1
    p.linearUpsampleMode = ["DEFAULT", "ALIGN_CORNERS_TRUE", "ALIGN_CORNERS_FALSE"].index(mode)
    if isinstance(factors[0], float):
        p.fractionalScalingFactor.extend(factors)
        out = (int(5 * factors[0]), int(7 * factors[1]))
    else:
        p.scalingFactor.extend(factors)
        out = (5 * factors[0], 7 * factors[1])
    nn.check([layer], x, R.upsample_bilinear(x.astype(np.float64), *out, mode))


def test_upsample_default_mode_matches_proto_grid_at_integer_factors(nn):
    """DEFAULT's spacing (Xin - Xin/Xout)/(Xout - 1) is 1/factor: [0, 1] -> [0, .5, 1, 1]."""
    x = np.asarray([0.0, 1.0], np.float32).reshape(1, 1, 1, 2)
    layer = nn.new_layer("up", ["x"], ["y"])
    layer.upsample.mode = 1
    layer.upsample.scalingFactor.extend([1, 2])
    nn.check([layer], x, np.asarray([0, 0.5, 1, 1], np.float32).reshape(1, 1, 1, 4))


def test_concat_channels(nn, x, rng):
    other = rng.normal(size=(2, 2, 5, 7)).astype(np.float32)
    layer = nn.new_layer("cat", ["x", "o"], ["y"])
    layer.concat.SetInParent()
    nn.check([layer], {"x": x, "o": other}, np.concatenate([x, other], axis=1))


def test_load_constant_added_to_input(nn, x, rng):
    const = rng.normal(size=(3, 5, 7)).astype(np.float32)
    load = nn.new_layer("const", [], ["c"])
    load.loadConstant.shape.extend([3, 5, 7])
    nn.set_weights(load.loadConstant.data, const)
    add = nn.new_layer("add", ["x", "c"], ["y"])
    add.add.SetInParent()
    nn.check([load, add], x, x + const[None])
