"""Core ML's ``NeuralNetworkPreprocessing`` of image inputs: the scaler and the mean image.

Not a layer: :func:`preprocessors` returns, per input name, a function applied to that input's
(N, H, W, C) tensor before the first layer (the model wires it in).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError

GRAYSCALE, RGB, BGR, GRAYSCALE_FLOAT16 = 10, 20, 30, 40

Preprocess = Callable[[tf.Tensor], tf.Tensor]


def _scaler(scaler: Any, color_space: int, name: str) -> Preprocess:
    """``y = channelScale * x + bias[c]``, the biases ordered as the image's channels."""
    if color_space in (GRAYSCALE, GRAYSCALE_FLOAT16):
        bias = [scaler.grayBias]
    elif color_space == BGR:
        bias = [scaler.blueBias, scaler.greenBias, scaler.redBias]
    else:  # RGB, and array inputs treated as RGB images
        bias = [scaler.redBias, scaler.greenBias, scaler.blueBias]
    bias_arr, scale = np.asarray(bias, np.float32), float(scaler.channelScale)

    def apply(x: tf.Tensor) -> tf.Tensor:
        if int(x.shape[-1]) != len(bias_arr):
            raise UnsupportedConfigError(
                f"the image scaler has {len(bias_arr)} channel bias(es) but the input has {x.shape[-1]} "
                "channels", where=f"preprocessing of input '{name}'", fix="match the input's color space")
        return x * scale + bias_arr
    return apply


def _mean_image(mean: Any, shape: tuple[int, ...], name: str) -> Preprocess:
    """``y = x - meanImage`` (stored ``[C, H, W]``)."""
    values = np.asarray(mean.meanImage, np.float32)
    if len(shape) != 3 or values.size != int(np.prod(shape)):
        raise UnsupportedConfigError(
            f"the mean image holds {values.size} values; the input's shape is {list(shape)}",
            where=f"preprocessing of input '{name}'", fix="store a mean image of the input's [C, H, W] shape")
    hwc = np.ascontiguousarray(values.reshape(shape).transpose(1, 2, 0))
    return lambda x: x - hwc


def _input_facts(fd: Any) -> tuple[int, tuple[int, ...]]:
    """(color space, (C, H, W)) of an input description (color space 0 for arrays)."""
    kind = fd.type.WhichOneof("Type")
    if kind == "imageType":
        t = fd.type.imageType
        channels = 1 if t.colorSpace in (GRAYSCALE, GRAYSCALE_FLOAT16) else 3
        return t.colorSpace, (channels, int(t.height), int(t.width))
    if kind == "multiArrayType":
        return 0, tuple(int(s) for s in fd.type.multiArrayType.shape)
    return 0, ()


def preprocessors(spec: Any, nn: Any) -> dict[str, Preprocess]:
    """Input name -> the composed preprocessing of that input (inputs without any are absent).

    ``spec`` is the ``Model`` message (its description gives color spaces); ``nn`` its network message.
    An empty ``featureName`` means the model's only input.
    """
    facts = {fd.name: _input_facts(fd) for fd in spec.description.input}
    steps: dict[str, list[Preprocess]] = {}
    for pre in nn.preprocessing:
        name = pre.featureName or (next(iter(facts)) if len(facts) == 1 else "")
        if name not in facts:
            raise UnsupportedConfigError(
                f"preprocessing names input '{pre.featureName}', which the model does not have",
                where="neural network preprocessing", fix=f"use one of {sorted(facts)}")
        color, shape = facts[name]
        kind = pre.WhichOneof("preprocessor")
        if kind == "scaler":
            steps.setdefault(name, []).append(_scaler(pre.scaler, color, name))
        elif kind == "meanImage":
            steps.setdefault(name, []).append(_mean_image(pre.meanImage, shape, name))

    def chain(fns: list[Preprocess]) -> Preprocess:
        def apply(x: tf.Tensor) -> tf.Tensor:
            for fn in fns:
                x = fn(x)
            return x
        return apply
    return {name: chain(fns) for name, fns in steps.items()}
