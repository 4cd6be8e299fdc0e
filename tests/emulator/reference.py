"""Plain numpy references of Core ML NeuralNetwork layers, written from NeuralNetwork.proto's comments.

Everything is NCHW (Core ML's layout, batch first) and deliberately naive (explicit loops), sharing no
code with the emulator, so that an axis-order or padding mistake in the emulator cannot cancel out.
"""
from __future__ import annotations

import math

import numpy as np

# ---------------------------------------------------------------- padding rules


def same_pads(size: int, kernel: int, stride: int, top_left_heavy: bool = False) -> tuple[int, int]:
    """SamePadding: out = ceil(size / stride); total = max(0, (out-1)*stride + kernel - size)."""
    out = math.ceil(size / stride)
    total = max(0, (out - 1) * stride + kernel - size)
    small = total // 2
    return (total - small, small) if top_left_heavy else (small, total - small)


def zero_pad(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    """Pad an NCHW array by (top, bottom, left, right)."""
    t, b, l, r = pads
    n, c, h, w = x.shape
    out = np.full((n, c, h + t + b, w + l + r), value, dtype=np.float64)
    out[:, :, t:t + h, l:l + w] = x
    return out


# ---------------------------------------------------------------- convolution


def conv2d(x, w, b, stride=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0), groups=1):
    """Convolution: w is [Cout, Cin/groups, kh, kw]; output[o] sums group(o)'s input channels."""
    xp = zero_pad(x, pads)
    n, cin, h, wd = xp.shape
    cout, cin_g, kh, kw = w.shape
    ekh, ekw = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    oh, ow = (h - ekh) // stride[0] + 1, (wd - ekw) // stride[1] + 1
    y = np.zeros((n, cout, oh, ow))
    cout_g = cout // groups
    for o in range(cout):
        g = o // cout_g
        for i in range(oh):
            for j in range(ow):
                for ci in range(cin_g):
                    for a in range(kh):
                        for bb in range(kw):
                            y[:, o, i, j] += w[o, ci, a, bb] * xp[:, g * cin_g + ci,
                                                                 i * stride[0] + a * dilation[0],
                                                                 j * stride[1] + bb * dilation[1]]
        if b is not None:
            y[:, o] += b[o]
    return y


def deconv2d_full(x, w, stride=(1, 1), groups=1):
    """Transposed convolution before cropping: every input pixel scatters w[ci, o] * x into the output.

    w is [Cin, Cout/groups, kh, kw]; output size (H-1)*stride + kh.
    """
    n, cin, h, wd = x.shape
    _, cout_g, kh, kw = w.shape
    cin_g = cin // groups
    y = np.zeros((n, cout_g * groups, (h - 1) * stride[0] + kh, (wd - 1) * stride[1] + kw))
    for ci in range(cin):
        g = ci // cin_g
        for oc in range(cout_g):
            for i in range(h):
                for j in range(wd):
                    r, c = i * stride[0], j * stride[1]
                    y[:, g * cout_g + oc, r:r + kh, c:c + kw] += x[:, ci, i, j][:, None, None] * w[ci, oc]
    return y


def window(y: np.ndarray, top: int, out_h: int, left: int, out_w: int) -> np.ndarray:
    """y[..., top:top+out_h, left:left+out_w], zeros where the window passes y's end."""
    n, c, h, w = y.shape
    out = np.zeros((n, c, out_h, out_w))
    hh, ww = min(out_h, h - top), min(out_w, w - left)
    out[:, :, :hh, :ww] = y[:, :, top:top + hh, left:left + ww]
    return out


# ---------------------------------------------------------------- pooling


def pool2d(x, kind, kernel, stride, pads=(0, 0, 0, 0), exclude_padding=True):
    """MAX / AVERAGE / L2 pooling on an input padded by (top, bottom, left, right)."""
    n, c, h, w = x.shape
    t, b, l, r = pads
    oh = (h + t + b - kernel[0]) // stride[0] + 1
    ow = (w + l + r - kernel[1]) // stride[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - t, j * stride[1] - l  # window start in input coordinates
            rs, re = max(r0, 0), min(r0 + kernel[0], h)
            cs, ce = max(c0, 0), min(c0 + kernel[1], w)
            count = (re - rs) * (ce - cs) if exclude_padding else kernel[0] * kernel[1]
            y[:, :, i, j] = _pooled(x[:, :, rs:re, cs:ce], kind, count)
    return y


def _pooled(patch, kind, count):
    """MAX / L2 / AVERAGE of a (N, C, h, w) window, per example and channel; AVERAGE divides by ``count``."""
    if kind == "MAX":
        return patch.max(axis=(2, 3))
    if kind == "L2":
        return np.sqrt((patch ** 2).sum(axis=(2, 3)))
    return patch.sum(axis=(2, 3)) / count


def pool2d_include_last_pixel(x, kind, kernel, stride, pad, exclude_padding):
    """Caffe-style pooling (ValidCompletePadding): proto's output size; window clipped to [-pad, size+pad).

    L2 (which Caffe lacks) is sqrt of the sum of squares over the window's image pixels.
    """
    n, c, h, w = x.shape
    any_pad = pad[0] > 0 or pad[1] > 0

    def out_size(size, p, k, s):
        o = math.ceil((size + 2 * p - k) / s) + 1
        if any_pad and (o - 1) * s >= size + p:
            o -= 1
        return o

    oh, ow = out_size(h, pad[0], kernel[0], stride[0]), out_size(w, pad[1], kernel[1], stride[1])
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * stride[0] - pad[0], j * stride[1] - pad[1]
            he, we = min(hs + kernel[0], h + pad[0]), min(ws + kernel[1], w + pad[1])
            padded_count = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            count = (he - hs) * (we - ws) if exclude_padding else padded_count
            y[:, :, i, j] = _pooled(x[:, :, hs:he, ws:we], kind, count)
    return y


# ---------------------------------------------------------------- activations


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "ReLU": lambda x, a, b: np.maximum(0, x),
    "leakyReLU": lambda x, a, b: np.where(x >= 0, x, a * x),
    "linear": lambda x, a, b: a * x + b,
    "sigmoid": lambda x, a, b: sigmoid(x),
    "tanh": lambda x, a, b: (1 - np.exp(-2 * x)) / (1 + np.exp(-2 * x)),
    "scaledTanh": lambda x, a, b: a * np.tanh(b * x),
    "sigmoidHard": lambda x, a, b: np.minimum(np.maximum(a * x + b, 0), 1),
    "ELU": lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1)),
    "softplus": lambda x, a, b: np.log(1 + np.exp(x)),
    "softsign": lambda x, a, b: x / (1 + np.abs(x)),
    "thresholdedReLU": lambda x, a, b: np.where(x >= a, x, 0.0),
}


def per_channel(values, c: int) -> np.ndarray:
    """A length-1 or length-C parameter as an NCHW-broadcastable (1, C, 1, 1) array."""
    values = np.asarray(values, np.float64)
    return np.broadcast_to(values.ravel(), (c,)).reshape(1, c, 1, 1)


def prelu(x, alpha):
    return np.where(x >= 0, x, per_channel(alpha, x.shape[1]) * x)


def parametric_softplus(x, alpha, beta):
    c = x.shape[1]
    return per_channel(alpha, c) * np.log(1 + np.exp(per_channel(beta, c) * x))


# ---------------------------------------------------------------- other layers


def softmax_channels(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def lrn(x, alpha, beta, size, k):
    n, c, h, w = x.shape
    y = np.zeros_like(x, dtype=np.float64)
    half = (size - 1) // 2
    for ch in range(c):
        lo, hi = max(0, ch - half), min(c, ch + half + 1)
        s = (x[:, lo:hi] ** 2).sum(axis=1)
        y[:, ch] = x[:, ch] / (k + alpha / size * s) ** beta
    return y


def upsample_grid(size_in: int, size_out: int, mode: str) -> np.ndarray:
    """Grid points of UpsampleLayerParams.LinearUpsampleMode (proto comment, verbatim)."""
    pts = []
    for i in range(size_out):
        if mode == "ALIGN_CORNERS_TRUE":
            spacing = (size_in - 1) / (size_out - 1)
            g = i * spacing
        elif mode == "ALIGN_CORNERS_FALSE":
            spacing = size_in / size_out
            g = i * spacing + 0.5 * spacing - 0.5
        else:
            spacing = (size_in - size_in / size_out) / (size_out - 1)
            g = i * spacing
        pts.append(min(size_in - 1, max(0, g)))
    return np.asarray(pts)


def upsample_bilinear(x, out_h, out_w, mode):
    n, c, h, w = x.shape
    gh, gw = upsample_grid(h, out_h, mode), upsample_grid(w, out_w, mode)
    y = np.zeros((n, c, out_h, out_w))
    for i, gy in enumerate(gh):
        y0 = int(math.floor(gy)); y1 = min(y0 + 1, h - 1); fy = gy - y0
        for j, gx in enumerate(gw):
            x0 = int(math.floor(gx)); x1 = min(x0 + 1, w - 1); fx = gx - x0
            y[:, :, i, j] = ((1 - fy) * (1 - fx) * x[:, :, y0, x0] + (1 - fy) * fx * x[:, :, y0, x1]
                             + fy * (1 - fx) * x[:, :, y1, x0] + fy * fx * x[:, :, y1, x1])
    return y


def pad_reflect_replicate(x, pads, mode):
    """Padding layer by index arithmetic: reflection mirrors around the edge pixel, replication repeats it."""
    t, b, l, r = pads
    n, c, h, w = x.shape

    def src(i, size):
        if mode == "replication":
            return min(max(i, 0), size - 1)
        if i < 0:
            return -i
        if i >= size:
            return 2 * (size - 1) - i
        return i

    y = np.zeros((n, c, h + t + b, w + l + r))
    for i in range(h + t + b):
        for j in range(w + l + r):
            y[:, :, i, j] = x[:, :, src(i - t, h), src(j - l, w)]
    return y
