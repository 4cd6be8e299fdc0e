"""Image inputs: a model input declared as Core ML's imageType, as an app hands it a photo or a camera frame.

Core ML gives the network an image's 0-255 pixel values through the model's own preprocessing
(``NeuralNetworkImageScaler``: ``y = channelScale * x + bias[c]``). A leading affine layer on the input
(Keras ``Rescaling`` or ``Normalization``, mapped to ``activation linear`` / ``scale``) becomes that
preprocessing when Core ML can express it (one scale for all channels); otherwise ``--image-scale`` and
``--image-bias`` set it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ground.protos import FeatureTypes_pb2 as FT
from ground.errors import BadInputError
from transforms.report import ConversionReport

COLOR_SPACES = {"gray": FT.ImageFeatureType.GRAYSCALE, "rgb": FT.ImageFeatureType.RGB,
                "bgr": FT.ImageFeatureType.BGR}


@dataclass(frozen=True)
class ImageInput:
    """``--image-input NAME[:rgb|bgr|gray]`` with ``--image-scale`` / ``--image-bias``."""

    name: str
    color: str | None = None
    scale: float | None = None
    bias: tuple[float, ...] | None = None

    @classmethod
    def parse(cls, text: str, scale: float | None = None, bias: Sequence[float] | None = None) -> "ImageInput":
        name, _, color = text.partition(":")
        color = color.strip().lower() or None
        if not name.strip() or (color is not None and color not in COLOR_SPACES):
            raise BadInputError(f"--image-input '{text}' is not NAME[:rgb|bgr|gray]",
                                fix="e.g. --image-input image:gray or --image-input photo:rgb")
        return cls(name.strip(), color, scale, tuple(bias) if bias is not None else None)


def apply(spec: Any, nn: Any, wanted: Sequence[ImageInput], report: ConversionReport) -> None:
    """Turn the named array inputs of an inference ``spec`` into image inputs with their preprocessing."""
    by_name = {f.name: f for f in spec.description.input}
    for image in wanted:
        fd = by_name.get(image.name)
        if fd is None:
            raise BadInputError(f"--image-input '{image.name}' is not a model input", where="option 'image_input'",
                                fix=f"choose one of: {', '.join(by_name)}")
        c, h, w = _chw(fd)
        color = image.color or ("gray" if c == 1 else "rgb")
        if (color == "gray") != (c == 1) or c not in (1, 3):
            raise BadInputError(f"input '{image.name}' has {c} channel(s); a {color} image has "
                                f"{1 if color == 'gray' else 3}", where=f"input '{image.name}'",
                                fix="use :gray for one channel, :rgb or :bgr for three")
        scale, bias, folded = _preprocessing(nn, image, c, report)
        fd.type.ClearField("multiArrayType")
        t = fd.type.imageType
        t.width, t.height, t.colorSpace = w, h, COLOR_SPACES[color]
        pre = nn.preprocessing.add()
        pre.featureName = image.name
        pre.scaler.channelScale = scale
        if color == "gray":
            pre.scaler.grayBias = bias[0]
        else:
            order = bias if color == "rgb" else bias[::-1]     # biases as (R, G, B) from the channel order
            pre.scaler.redBias, pre.scaler.greenBias, pre.scaler.blueBias = (float(v) for v in order)
        report.add("map", "set", f"input '{image.name}'",
                   f"image input ({color}, {w}x{h}): Core ML feeds 0-255 pixels as {scale:g} * x + "
                   f"{_fmt(bias)}" + (f" (the model's own '{folded}')" if folded else ""))


def _chw(fd: Any) -> tuple[int, int, int]:
    shape = [int(s) for s in fd.type.multiArrayType.shape]
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 3:
        raise BadInputError(f"input '{fd.name}' of shape {shape} is not an image (C, H, W)",
                            where=f"input '{fd.name}'", fix="make image inputs of (H, W, C) Keras inputs only")
    return shape[0], shape[1], shape[2]


def _preprocessing(nn: Any, image: ImageInput, channels: int, report: ConversionReport):
    """(channelScale, per-channel biases, folded layer name or '') for one image input."""
    folded = _fold_leading_affine(nn, image.name, channels)
    if folded is not None:
        if image.scale is not None or image.bias is not None:
            raise BadInputError(f"the model already scales input '{image.name}' in layer '{folded[2]}', which "
                                "becomes the image preprocessing", where="options --image-scale/--image-bias",
                                fix="drop --image-scale and --image-bias")
        return folded
    scale = 1.0 if image.scale is None else float(image.scale)
    bias = tuple(image.bias) if image.bias is not None else (0.0,)
    if len(bias) == 1:
        bias = bias * channels
    if len(bias) != channels:
        raise BadInputError(f"--image-bias gives {len(bias)} values for {channels} channels",
                            where="option --image-bias", fix="give one value, or one per channel")
    if image.scale is None and image.bias is None:
        report.add("map", "note", f"input '{image.name}'",
                   "the network receives raw 0-255 pixel values (no Rescaling layer on the input, no --image-scale):"
                   " if it was trained on [0, 1] inputs, convert with --image-scale 0.00392156862745098")
    return scale, tuple(float(b) for b in bias), ""


def _fold_leading_affine(nn: Any, blob: str, channels: int):
    """Remove the single affine layer reading ``blob`` (linear activation, or a scale layer with one scale
    for all channels); return (scale, biases, its name), or None when there is none to fold."""
    readers = [i for i, layer in enumerate(nn.layers) if blob in layer.input]
    if len(readers) != 1:
        return None
    layer = nn.layers[readers[0]]
    kind = layer.WhichOneof("layer")
    if kind == "activation" and layer.activation.WhichOneof("NonlinearityType") == "linear":
        scale, bias = float(layer.activation.linear.alpha), (float(layer.activation.linear.beta),) * channels
    elif kind == "scale":
        s = np.asarray(layer.scale.scale.floatValue, np.float32)
        b = np.asarray(layer.scale.bias.floatValue, np.float32) if layer.scale.hasBias else np.zeros(1, np.float32)
        if s.size not in (1, channels) or b.size not in (1, channels) or not np.all(s == s.ravel()[0]):
            return None
        scale, bias = float(s.ravel()[0]), tuple(float(v) for v in np.broadcast_to(b, (channels,)))
    else:
        return None
    out, name = layer.output[0], layer.name
    del nn.layers[readers[0]]
    for other in nn.layers:
        for i, b in enumerate(other.input):
            if b == out:
                other.input[i] = blob
    return scale, bias, name


def _fmt(bias: Sequence[float]) -> str:
    values = [f"{b:g}" for b in bias]
    return values[0] if len(set(values)) == 1 else "(" + ", ".join(values) + ")"
