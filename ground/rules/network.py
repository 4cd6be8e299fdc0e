"""Core ML's network-wide rules of ``NeuralNetworkValidator.cpp`` not in :mod:`.interface` (rule 35):
array input ranks with flexible shapes, and (N-d interpretation) the layers' ``inputTensor`` /
``outputTensor`` messages (``validateTensorMessage``, ``NeuralNetworkValidatorUtils.hpp``).

Quoted messages are Apple's, word for word.
"""
from __future__ import annotations

from typing import Any

from ..errors import RuleViolation

RANK5_INPUT_RANK = "Input MLMultiArray to neural networks must have dimension 1 (vector) or 3 (image-like arrays)."


def _v(message: str, where: str, fix: str) -> RuleViolation:
    return RuleViolation("35", message, where=where, fix=fix)


def rank5_input(fd: Any) -> list[RuleViolation]:
    """The rank-5 path: a fixed shape of rank 1 or 3, or flexible shapes (enumerated / range) all of rank 1 or 3."""
    t = fd.type.multiArrayType
    shape, flex = list(t.shape), t.WhichOneof("ShapeFlexibility")
    where, fix = f"input '{fd.name}' of shape {shape}", "declare the input as [C] or [C, H, W], or use EXACT_ARRAY_MAPPING"
    if shape and len(shape) not in (1, 3):
        return [_v(RANK5_INPUT_RANK, where, fix)]
    if flex == "enumeratedShapes":
        flexible_ok = all(len(s.shape) in (1, 3) for s in t.enumeratedShapes.shapes)
    elif flex == "shapeRange":
        flexible_ok = len(t.shapeRange.sizeRanges) in (1, 3)
    else:
        flexible_ok = False
    if not flexible_ok and not shape:
        return [_v(RANK5_INPUT_RANK, where, fix)]
    return []


def nd_input(fd: Any) -> list[RuleViolation]:
    """Apple's ``validateNdMultiArrayInputType``: a default shape, and a shape range of its rank."""
    t = fd.type.multiArrayType
    where = f"input '{fd.name}'"
    if not len(t.shape):
        return [_v("Input MLMultiArray to neural networks must have at least 1 dimension.", where,
                   "declare the input's shape")]
    if t.WhichOneof("ShapeFlexibility") == "shapeRange" and len(t.shapeRange.sizeRanges) != len(t.shape):
        return [_v("For MLMultiArray input: Rank of the flexible shape range must match the rank of the default shape.",
                   where, "give the range one entry per dimension of the default shape")]
    return []


def tensors(nn: Any, io_ranks: dict[str, int]) -> list[RuleViolation]:
    """N-d interpretation: tensor lists as long as the blob lists, ``rank`` equal to ``dimValue``'s length and
    positive, and one rank per blob wherever it is declared (a model input's or output's rank against its
    feature is :mod:`.interface`'s check)."""
    out: list[RuleViolation] = []
    ranks: dict[str, int] = {}
    for layer in nn.layers:
        where = f"layer '{layer.name}'"
        for side, blobs, given in (("input", layer.input, layer.inputTensor),
                                   ("output", layer.output, layer.outputTensor)):
            if not len(given):
                continue
            if len(blobs) != len(given):
                message = (f"Layer '{layer.name}''s input and inputTensors have different lengths" if side == "input"
                           else f"Layer '{layer.name}''s output and \"outputTensors\" property have different lengths")
                out.append(_v(message, where, f"give one {side}Tensor per {side} blob, or none"))
                continue
            for blob, tensor in zip(blobs, given):
                rank = int(tensor.rank)
                if len(tensor.dimValue):
                    if rank != len(tensor.dimValue):
                        out.append(_v(f"Tensor in layer '{layer.name}': rank must match the length of dimValue", where,
                                      f"set the rank of '{blob}' to {len(tensor.dimValue)}"))
                    elif rank < 1:
                        out.append(_v(f"Tensor in layer '{layer.name}': rank must be positive", where,
                                      "give the tensor a positive rank"))
                if blob not in io_ranks and blob in ranks and ranks[blob] != rank:
                    out.append(_v(f"Inconsistent rank for the blob named '{blob}'.", where,
                                  f"declare '{blob}' with one rank ({ranks[blob]}) in every layer"))
                ranks.setdefault(blob, rank)
    return out


def preprocessing(spec: Any, nn: Any) -> list[RuleViolation]:
    """Rule 38 (project; Apple's validator checks no preprocessing field): each entry names a model input
    (``NeuralNetwork.proto``: "must be equal to the input name"; empty only for a one-input model), sets a
    scaler or a mean image, and a mean image holds one value per [C, H, W] element of its image."""
    inputs = {fd.name: fd for fd in spec.description.input}
    out = []
    for i, pre in enumerate(nn.preprocessing):
        where = f"preprocessing {i}"
        name = pre.featureName or (next(iter(inputs)) if len(inputs) == 1 else "")
        if name not in inputs:
            out.append(RuleViolation("38", f"project rule: the preprocessing names input '{pre.featureName}', which the "
                                           "model does not have: Core ML applies it to no input", where=where,
                                     fix=f"set featureName to one of {sorted(inputs)}", origin="project"))
            continue
        kind = pre.WhichOneof("preprocessor")
        if kind is None:
            out.append(RuleViolation("38", "project rule: the preprocessing sets neither a scaler nor a mean image",
                                     where=where, fix="set scaler or meanImage, or remove the entry", origin="project"))
        elif kind == "meanImage" and inputs[name].type.WhichOneof("Type") == "imageType":
            t = inputs[name].type.imageType
            want = (1 if t.colorSpace in (10, 40) else 3) * t.height * t.width
            if len(pre.meanImage.meanImage) != want:
                out.append(RuleViolation(
                    "38", f"project rule: the mean image holds {len(pre.meanImage.meanImage)} values; the image "
                    f"'{name}' has {want} ([C, H, W])", where=where,
                    fix="store one mean value per channel and pixel, in [C, H, W] order", origin="project"))
    return out
