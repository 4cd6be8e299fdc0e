"""Pooling (MAX / AVERAGE / L2; valid, same, includeLastPixel, global) against numpy references."""
from __future__ import annotations

import numpy as np
import pytest

from tests.emulator import reference as R

KINDS = {"MAX": 0, "AVERAGE": 1, "L2": 2}

# name: (kernel, stride, padding, exclude_padding)
#   padding: ("valid", (t, b, l, r)) | ("same", mode) | ("last", (ph, pw))
CASES = {
    "valid": ((2, 3), (2, 2), ("valid", (0, 0, 0, 0)), True),
    "valid_pads_exclude": ((3, 3), (2, 1), ("valid", (1, 0, 2, 1)), True),
    "valid_pads_include": ((3, 3), (2, 1), ("valid", (1, 0, 2, 1)), False),
    "same_bottom_right_heavy": ((2, 4), (2, 3), ("same", "BOTTOM_RIGHT_HEAVY"), True),
    "same_top_left_heavy_include": ((2, 4), (2, 3), ("same", "TOP_LEFT_HEAVY"), False),
    "same_stride_over_kernel": ((2, 2), (3, 3), ("same", "BOTTOM_RIGHT_HEAVY"), False),
    "last_pixel_no_pad": ((2, 2), (2, 2), ("last", (0, 0)), True),
    "last_pixel_pad_exclude": ((3, 3), (2, 2), ("last", (1, 1)), True),
    "last_pixel_pad_include": ((3, 2), (2, 3), ("last", (1, 1)), False),
    "last_pixel_uneven_pads": ((3, 3), (3, 2), ("last", (2, 0)), False),
    # windows that pass the padded input's end (Caffe: the overhang never counts)
    "last_pixel_overhang_no_pad_include": ((2, 2), (2, 2), ("last", (0, 0)), False),
    "last_pixel_overhang_pad_include": ((4, 4), (2, 3), ("last", (1, 1)), False),
    "last_pixel_overhang_pad_exclude": ((4, 4), (2, 3), ("last", (2, 1)), True),
}


def _layer(nn, kind, kernel, stride, padding, exclude, global_pooling=False):
    layer = nn.new_layer("pool", ["x"], ["y"])
    p = layer.pooling
    p.type = KINDS[kind]
    p.kernelSize.extend(kernel)
    p.stride.extend(stride)
    p.avgPoolExcludePadding = exclude
    p.globalPooling = global_pooling
    if padding[0] == "same":
        p.same.asymmetryMode = 1 if padding[1] == "TOP_LEFT_HEAVY" else 0
    elif padding[0] == "last":
        p.includeLastPixel.paddingAmounts.extend(padding[1])
    else:
        nn.set_border(p.valid.paddingAmounts, *padding[1])
    return layer


def _expected(x, kind, kernel, stride, padding, exclude):
    if padding[0] == "last":
        return R.pool2d_include_last_pixel(x, kind, kernel, stride, padding[1], exclude)
    if padding[0] == "same":
        tl = padding[1] == "TOP_LEFT_HEAVY"
        pads = (*R.same_pads(x.shape[2], kernel[0], stride[0], tl),
                *R.same_pads(x.shape[3], kernel[1], stride[1], tl))
    else:
        pads = padding[1]
    return R.pool2d(x, kind, kernel, stride, pads, exclude)


@pytest.mark.parametrize("kind", ["MAX", "AVERAGE", "L2"])
@pytest.mark.parametrize("case", list(CASES))
def test_pooling(nn, rng, kind, case):
    kernel, stride, padding, exclude = CASES[case]
    x = rng.normal(size=(2, 3, 5, 7)).astype(np.float32)
    expected = _expected(x, kind, kernel, stride, padding, exclude)
    nn.check([_layer(nn, kind, kernel, stride, padding, exclude)], x, expected)


def test_include_last_pixel_output_size_follows_proto(nn, rng):
    # H: ceil((5 + 2 - 3) / 2) + 1 = 3, (3-1)*2 = 4 >= 5+1? no -> 3; W: ceil((7 + 2 - 3) / 2) + 1 = 4,
    # (4-1)*2 = 6 >= 7+1? no -> 4
    x = rng.normal(size=(1, 3, 5, 7)).astype(np.float32)
    y = nn.run_layers([_layer(nn, "MAX", (3, 3), (2, 2), ("last", (1, 1)), True)], {"x": x}, (3, 3, 4))
    assert y.shape == (1, 3, 3, 4)
    # the proto's "minus one" rule fires: H=W=3, k=2, s=2, pad=1: ceil(3/2)+1 = 3, (3-1)*2 = 4 >= 3+1 -> 2
    x = rng.normal(size=(1, 3, 3, 3)).astype(np.float32)
    y = nn.run_layers([_layer(nn, "AVERAGE", (2, 2), (2, 2), ("last", (1, 1)), True)], {"x": x}, (3, 2, 2))
    assert y.shape == (1, 3, 2, 2)


@pytest.mark.parametrize("kind", ["MAX", "AVERAGE", "L2"])
def test_global_pooling(nn, rng, kind):
    x = rng.normal(size=(2, 3, 5, 7)).astype(np.float32)
    reduce = {"MAX": lambda a: a.max(axis=(2, 3)), "AVERAGE": lambda a: a.mean(axis=(2, 3)),
              "L2": lambda a: np.sqrt((a.astype(np.float64) ** 2).sum(axis=(2, 3)))}[kind]
    layer = _layer(nn, kind, (2, 2), (1, 1), ("valid", (0, 0, 0, 0)), True, global_pooling=True)
    nn.check([layer], x, reduce(x)[:, :, None, None])
