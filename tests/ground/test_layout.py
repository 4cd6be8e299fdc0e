"""The layout module: every reordering checked against an independent computation."""
from __future__ import annotations

import numpy as np
import pytest

from ground import layout
from ground.errors import UnsupportedConfigError

_RNG = np.random.RandomState(0)


class RNG:
    """float32 random arrays (the layout functions return float32)."""

    @staticmethod
    def normal(size):
        return _RNG.normal(size=size).astype(np.float32)


def test_hwc_to_chw_columns_keeps_the_dot_product():
    h, w, c, out = 5, 7, 3, 4
    x = RNG.normal(size=(h, w, c))
    weights = RNG.normal(size=(out, h * w * c))             # columns in Keras' HWC flatten order
    reordered = layout.hwc_to_chw_columns(weights, (c, h, w))
    np.testing.assert_allclose(reordered @ x.transpose(2, 0, 1).ravel(), weights @ x.ravel(), atol=1e-5)
    np.testing.assert_array_equal(layout.chw_to_hwc_columns(reordered, (c, h, w)), weights)


def test_hwc_to_chw_columns_refuses_a_wrong_size():
    with pytest.raises(UnsupportedConfigError, match="holds 105"):
        layout.hwc_to_chw_columns(np.zeros((2, 10)), (3, 5, 7))


def test_dense_kernels():
    k = RNG.normal(size=(5, 3))
    np.testing.assert_array_equal(layout.dense_kernel(k), k.T)
    assert layout.dense_as_conv1x1(k).shape == (3, 5, 1, 1)
    assert layout.dense_as_conv1x1(k)[2, 4, 0, 0] == k[4, 2]


def test_conv_kernels_index_mapping():
    k = RNG.normal(size=(2, 3, 4, 5))                       # (kh, kw, in, out)
    assert layout.conv2d_kernel(k)[4, 3, 1, 2] == k[1, 2, 3, 4]
    k1 = RNG.normal(size=(3, 4, 5))                         # (k, in, out)
    assert layout.conv1d_kernel(k1).shape == (5, 4, 1, 3)
    assert layout.conv1d_kernel(k1)[4, 1, 0, 2] == k1[2, 1, 4]
    t = RNG.normal(size=(2, 3, 5, 4))                       # (kh, kw, out, in)
    assert layout.conv2d_transpose_kernel(t)[3, 4, 1, 2] == t[1, 2, 4, 3]


def test_depthwise_and_separable_kernels():
    d = RNG.normal(size=(2, 3, 4, 2))                       # (kh, kw, in, mult)
    cm = layout.depthwise_kernel(d)
    assert cm.shape == (8, 1, 2, 3)
    assert cm[3 * 2 + 1, 0, 1, 2] == d[1, 2, 3, 1]          # output channel c*mult + m
    p = RNG.normal(size=(1, 1, 8, 5))
    dw, pw = layout.separable_kernels(d, p)
    np.testing.assert_array_equal(dw, cm)
    assert pw.shape == (5, 8, 1, 1) and pw[4, 7, 0, 0] == p[0, 0, 7, 4]
    d1 = RNG.normal(size=(3, 4, 2))
    assert layout.depthwise1d_kernel(d1)[5, 0, 0, 2] == d1[2, 2, 1]


def test_embedding_matrix():
    e = RNG.normal(size=(9, 4))
    np.testing.assert_array_equal(layout.embedding_matrix(e), e.T)


@pytest.mark.parametrize("shape,channels_last,expected", [
    ((5,), True, (5,)), ((6, 4), True, (4, 1, 6)), ((4, 6), False, (4, 1, 6)),
    ((5, 7, 3), True, (3, 5, 7)), ((3, 5, 7), False, (3, 5, 7))])
def test_coreml_shape(shape, channels_last, expected):
    assert layout.coreml_shape(shape, channels_last) == expected


def test_coreml_shape_refuses_rank_4():
    with pytest.raises(UnsupportedConfigError, match="rank 4"):
        layout.coreml_shape((2, 3, 4, 5))


def test_batches_round_trip():
    for shape in [(2, 5), (2, 6, 4), (2, 5, 7, 3)]:
        x = RNG.normal(size=shape)
        cm = layout.keras_batch_to_coreml(x)
        assert cm.shape[1:] == layout.coreml_shape(shape[1:])
        np.testing.assert_array_equal(layout.coreml_batch_to_keras(cm, len(shape) - 1), x)
    x = RNG.normal(size=(2, 5, 7, 3))
    np.testing.assert_array_equal(layout.nhwc_to_nchw(x)[1, 2, 3, 4], x[1, 3, 4, 2])
    np.testing.assert_array_equal(layout.nchw_to_nhwc(layout.nhwc_to_nchw(x)), x)


@pytest.mark.parametrize("dims", [(1, 2, 3), (2, 1, 3), (3, 1, 2), (3, 2, 1), (1, 3, 2), (2, 3, 1)])
def test_permute_axes_matches_keras_semantics(dims):
    x = RNG.normal(size=(5, 7, 3))                           # Keras (H, W, C)
    keras_out = np.transpose(x, [d - 1 for d in dims])
    cm_in = layout.keras_batch_to_coreml(x[None])[0][None]  # (Seq=1, C, H, W)
    cm_out = np.transpose(cm_in, layout.permute_axes(dims))[0]
    np.testing.assert_array_equal(cm_out, layout.keras_batch_to_coreml(keras_out[None])[0])


def test_permute_axes_sequences():
    x = RNG.normal(size=(6, 4))
    keras_out = x.T
    cm_in = layout.keras_batch_to_coreml(x[None])             # (1, F, 1, T) read as (Seq, C, H, W)
    cm_out = np.transpose(cm_in, layout.permute_axes((2, 1)))
    np.testing.assert_array_equal(cm_out, layout.keras_batch_to_coreml(keras_out[None]))


def test_coreml_axis():
    assert [layout.coreml_axis(a, 3) for a in range(3)] == ["H", "W", "C"]
    assert [layout.coreml_axis(a, 3, False) for a in range(3)] == ["C", "H", "W"]
    assert layout.coreml_axis(-1, 2) == "C" and layout.coreml_axis(0, 2) == "W"
    with pytest.raises(UnsupportedConfigError, match="out of range"):
        layout.coreml_axis(3, 3)
