"""Every Keras/ONNX -> Core ML reordering of weights and tensors, in one place (pure numpy).

Names say which layouts they map between. Core ML (NeuralNetwork, rank-5 mapping) sees every blob as
``(C, H, W)`` per example; a vector ``(F,)`` is ``(F, 1, 1)``. Keras tensors map as follows
(no batch axis):

========================  ==================  ===========================
Keras tensor              channels_last       channels_first
========================  ==================  ===========================
rank 1 ``(F,)``           ``(F,)``            ``(F,)``
rank 2 (Conv1D, pooling)  ``(T, F) -> (F, 1, T)``  ``(F, T) -> (F, 1, T)``
rank 3 (images)           ``(H, W, C) -> (C, H, W)``  ``(C, H, W)`` unchanged
========================  ==================  ===========================
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import UnsupportedConfigError

# ---------------------------------------------------------------- tensor shapes and axes


def coreml_shape(shape: Sequence[int], channels_last: bool = True) -> tuple[int, ...]:
    """Core ML blob shape of a source tensor of ``shape`` (no batch axis); see the module table."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return shape
    if len(shape) == 2:
        t, f = shape if channels_last else shape[::-1]
        return (f, 1, t)
    if len(shape) == 3:
        if channels_last:
            h, w, c = shape
            return (c, h, w)
        return shape
    raise UnsupportedConfigError(
        f"a tensor of rank {len(shape)} {shape} has no Core ML NeuralNetwork layout here",
        fix="use tensors of rank 1 (features), 2 (sequences) or 3 (images) between layers")


def coreml_axis(axis: int, rank: int, channels_last: bool = True) -> str:
    """The Core ML axis ('C', 'H' or 'W') of source axis ``axis`` (no batch axis; negatives allowed).

    ``axis`` counts *without* the batch axis: for a Keras config axis (which counts the batch axis),
    pass ``axis - 1`` for positive values.
    """
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise UnsupportedConfigError(f"axis {axis} is out of range for a rank-{rank} tensor")
    if rank == 1:
        return "C"
    if rank == 2:
        return ("W", "C")[axis] if channels_last else ("C", "W")[axis]
    if rank == 3:
        return ("H", "W", "C")[axis] if channels_last else ("C", "H", "W")[axis]
    raise UnsupportedConfigError(f"rank {rank} has no Core ML layout here")


def keras_batch_to_coreml(x: np.ndarray, channels_last: bool = True) -> np.ndarray:
    """A batch in source layout ``(N, *shape)`` -> Core ML layout ``(N, *coreml_shape(shape))``."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x
    if x.ndim == 3:
        # (N, T, F) -> (N, F, 1, T) ; channels_first (N, F, T) -> (N, F, 1, T)
        y = x.transpose(0, 2, 1) if channels_last else x
        return np.ascontiguousarray(y[:, :, None, :])
    if x.ndim == 4:
        return nhwc_to_nchw(x) if channels_last else x
    raise UnsupportedConfigError(f"a batch of rank {x.ndim} has no Core ML layout here")


def source_batch_to_input(x: np.ndarray, declared: Sequence[int], channels_last: bool = True) -> np.ndarray:
    """A batch in source layout -> the model input as the converted model declares it (``(N, *declared)``).

    Images ``(N, H, W, C)`` become channels-first; every other array keeps its element order (a ``(T, F)``
    sequence is declared ``[1, T, F]``, or ``[1, 1, T, F]`` under EXACT_ARRAY_MAPPING), so the rest is a
    reshape to the declared shape.
    """
    x = np.asarray(x)
    if x.ndim == 4 and channels_last:
        x = nhwc_to_nchw(x)
    declared = tuple(int(s) for s in declared)
    if int(np.prod(x.shape[1:])) != int(np.prod(declared)):
        raise UnsupportedConfigError(f"a batch of shape {x.shape} does not fit the declared input {list(declared)}")
    return np.ascontiguousarray(x.reshape((len(x), *declared)))


def coreml_batch_to_keras(x: np.ndarray, keras_rank: int, channels_last: bool = True) -> np.ndarray:
    """Inverse of :func:`keras_batch_to_coreml` for a source tensor of rank ``keras_rank``."""
    x = np.asarray(x)
    if keras_rank == 1:
        return x.reshape(len(x), -1)
    if keras_rank == 2:
        y = x[:, :, 0, :]                      # (N, F, T)
        return np.ascontiguousarray(y.transpose(0, 2, 1) if channels_last else y)
    if keras_rank == 3:
        return nchw_to_nhwc(x) if channels_last else x
    raise UnsupportedConfigError(f"rank {keras_rank} has no Core ML layout here")


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    """``(N, H, W, C)`` -> ``(N, C, H, W)``."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` -> ``(N, H, W, C)``."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))


# ---------------------------------------------------------------- tensors placed by axis (ONNX)


def axes_full3(source_shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, int, int]:
    """The ``(C, H, W)`` shape of a blob holding a tensor of ``source_shape`` whose axis i is blob axis ``axes[i]``
    (the ONNX front end's axis bookkeeping)."""
    out = [1, 1, 1]
    for size, axis in zip(source_shape, axes):
        out[axis] = int(size)
    return tuple(out)  # type: ignore[return-value]


def axes_coreml_shape(source_shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The blob shape recorded for a tensor: ``(F,)`` for a canonical vector, else ``(C, H, W)``."""
    if axes == (0,):
        return (int(source_shape[0]),)
    return axes_full3(source_shape, axes)


def axes_grid(source_shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """The blob's flat (C,H,W) element index at each position of the ONNX tensor."""
    shape3 = axes_full3(source_shape, axes)
    idx = np.arange(int(np.prod(shape3))).reshape(shape3)
    order = list(axes) + [a for a in range(3) if a not in axes]
    return idx.transpose(order).reshape(source_shape)


# ---------------------------------------------------------------- weights


def dense_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras Dense kernel ``(in, out)`` -> Core ML innerProduct weights ``(out, in)``."""
    return np.ascontiguousarray(np.asarray(kernel, np.float32).T)


def dense_as_conv1x1(kernel: np.ndarray) -> np.ndarray:
    """Keras Dense kernel ``(in, out)`` -> Core ML 1x1 convolution weights ``(out, in, 1, 1)``."""
    return dense_kernel(kernel)[:, :, None, None]


def conv2d_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras Conv2D kernel ``(kh, kw, in/groups, out)`` -> Core ML ``(out, in/groups, kh, kw)``."""
    return np.ascontiguousarray(np.asarray(kernel, np.float32).transpose(3, 2, 0, 1))


def conv1d_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras Conv1D kernel ``(k, in/groups, out)`` -> Core ML ``(out, in/groups, 1, k)`` (time is W)."""
    k = np.asarray(kernel, np.float32)
    return np.ascontiguousarray(k.transpose(2, 1, 0)[:, :, None, :])


def depthwise_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras depthwise kernel ``(kh, kw, in, mult)`` -> Core ML grouped conv ``(in*mult, 1, kh, kw)``.

    Output channel ``c * mult + m`` comes from input channel ``c`` (Keras' order), which is Core ML's
    order for ``nGroups = in``.
    """
    k = np.asarray(kernel, np.float32)
    kh, kw, cin, mult = k.shape
    return np.ascontiguousarray(k.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None, :, :])


def depthwise1d_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras DepthwiseConv1D kernel ``(k, in, mult)`` -> Core ML ``(in*mult, 1, 1, k)``."""
    k = np.asarray(kernel, np.float32)
    return depthwise_kernel(k[None])


def separable_kernels(depthwise: np.ndarray, pointwise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras SeparableConv2D ``(kh, kw, in, mult)`` and ``(1, 1, in*mult, out)`` -> Core ML
    depthwise ``(in*mult, 1, kh, kw)`` and pointwise ``(out, in*mult, 1, 1)`` weights."""
    return depthwise_kernel(depthwise), conv2d_kernel(pointwise)


def conv2d_transpose_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras Conv2DTranspose kernel ``(kh, kw, out, in)`` -> Core ML deconvolution ``(in, out, kh, kw)``."""
    return np.ascontiguousarray(np.asarray(kernel, np.float32).transpose(3, 2, 0, 1))


def embedding_matrix(embeddings: np.ndarray) -> np.ndarray:
    """Keras Embedding table ``(input_dim, D)`` -> Core ML embedding weights ``(D, input_dim)``."""
    return np.ascontiguousarray(np.asarray(embeddings, np.float32).T)


def hwc_to_chw_columns(weights: np.ndarray, chw_shape: Sequence[int]) -> np.ndarray:
    """Reorder the input columns of a dense matrix from HWC flatten order to CHW flatten order.

    ``weights`` is ``(out, H*W*C)`` (Core ML innerProduct layout, columns in Keras' channels-last
    flatten order); ``chw_shape`` is ``(C, H, W)``. Returns ``(out, C*H*W)`` whose column
    ``c*H*W + h*W + w`` is the old column ``h*W*C + w*C + c``: the matrix to use after a
    ``flatten(CHANNEL_FIRST)``.
    """
    c, h, w = (int(s) for s in chw_shape)
    weights = np.asarray(weights)
    out = weights.shape[0]
    if weights.shape[1] != c * h * w:
        raise UnsupportedConfigError(
            f"dense weights have {weights.shape[1]} inputs but the flattened blob (C,H,W)={tuple(chw_shape)} "
            f"holds {c * h * w}")
    return np.ascontiguousarray(weights.reshape(out, h, w, c).transpose(0, 3, 1, 2).reshape(out, c * h * w))


def chw_to_hwc_columns(weights: np.ndarray, chw_shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`hwc_to_chw_columns`: ``(out, C*H*W)`` -> ``(out, H*W*C)``."""
    c, h, w = (int(s) for s in chw_shape)
    weights = np.asarray(weights)
    out = weights.shape[0]
    return np.ascontiguousarray(weights.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, c * h * w))


def permute_axes(dims: Sequence[int], channels_last: bool = True) -> tuple[int, int, int, int]:
    """Keras Permute ``dims`` (1-based, no batch axis) -> Core ML permute ``axis`` over ``(Seq, C, H, W)``.

    Core ML's output axis ``i`` is input axis ``axis[i]``; source axes are located with
    :func:`coreml_axis`.
    """
    rank = len(dims)
    pos = {"C": 1, "H": 2, "W": 3}
    src = [pos[coreml_axis(d - 1, rank, channels_last)] for d in dims]   # Core ML axis of each output
    out_axes = [pos[coreml_axis(i, rank, channels_last)] for i in range(rank)]
    axis = [0, 1, 2, 3]
    for out_axis, in_axis in zip(out_axes, src):
        axis[out_axis] = in_axis
    return tuple(axis)  # type: ignore[return-value]


def recurrent_gates(kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray | None,
                    gates: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Keras recurrent weights -> one ``(W, R, b)`` per gate in Core ML's layout.

    Keras stacks the gates along the columns: ``kernel (in, gates*units)``, ``recurrent_kernel
    (units, gates*units)``, ``bias (gates*units,)``. Core ML stores each gate's input matrix ``W``
    ``(units, in)`` and recursion matrix ``R`` ``(units, units)`` row-major, and its bias ``(units,)``.
    Keras' LSTM order (i, f, c, o) is Core ML's (input, forget, block input, output); Keras' GRU order
    (z, r, h) is Core ML's (update, reset, output).
    """
    k = np.asarray(kernel, np.float32)
    r = np.asarray(recurrent, np.float32)
    units = r.shape[0]
    if k.shape[1] != gates * units or r.shape[1] != gates * units:
        raise UnsupportedConfigError(f"recurrent weights {k.shape} and {r.shape} do not hold {gates} gates of "
                                     f"{units} units")
    b = None if bias is None else np.asarray(bias, np.float32).reshape(gates * units)
    out = []
    for g in range(gates):
        cols = slice(g * units, (g + 1) * units)
        out.append((np.ascontiguousarray(k[:, cols].T), np.ascontiguousarray(r[:, cols].T),
                    None if b is None else np.ascontiguousarray(b[cols])))
    return out
