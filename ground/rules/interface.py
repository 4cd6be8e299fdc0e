"""Rule 4 of coreml-update-rules.md, the interface half: how Core ML reads a network's array inputs.

Apple's ``validateNeuralNetworkTopLevel`` (``NeuralNetworkValidator.cpp``) decides first whether the
network runs in the N-d array interpretation: it does when a layer newer than iOS 12 is present
(``isIOS12NeuralNetworkLayer``, ``Utils.cpp``) or a shape mapping other than RANK5 is set. Then the
shape mapping must fit, inputs must have an accepted rank, and (N-d only) every layer that reads or
writes a model input or output must accept that blob's rank (``validateRankCount`` per layer type in
``NeuralNetworkLayerValidator.cpp``). Quoted messages are Apple's, word for word.
"""
from __future__ import annotations

from typing import Any

from ..errors import RuleViolation

from .. import nn_spec as S
from . import classifier as C
from . import network as N

IOS12_LAYERS = frozenset((
    "convolution", "innerProduct", "batchnorm", "activation", "pooling", "padding", "concat", "lrn", "softmax",
    "split", "add", "multiply", "unary", "upsample", "bias", "l2normalize", "reshape", "flatten", "permute",
    "reduce", "loadConstant", "scale", "simpleRecurrent", "gru", "uniDirectionalLSTM", "biDirectionalLSTM", "crop",
    "average", "max", "min", "dot", "mvn", "embedding", "sequenceRepeat", "reorganizeData", "slice", "custom",
    "resizeBilinear", "cropResize"))

RANK5_WITH_NEW_LAYER = ("Neural Network Multi-Array input shape mapping cannot be 'RANK5_ARRAY_MAPPING' if the "
                        "network contains a layer added in version 4 (iOS 13) or later. Use 'EXACT_ARRAY_MAPPING' "
                        "instead.")
RANK5_WITH_NEW_IMAGE = ("Neural Network Multi-Array input shape mapping cannot be 'RANK5_ARRAY_MAPPING' if the "
                        "image input Shape mapping is not 'RANK5_IMAGE_MAPPING'")

# layer type -> (Apple's name for it, min rank, max rank; -1 no bound), from validateRankCount calls
RANK_LIMITS = {
    "convolution": ("Convolution", 4, -1), "innerProduct": ("InnerProduct", 1, 5),
    "batchnorm": ("Batchnorm", 3, -1), "pooling": ("Pooling", 4, -1), "padding": ("Padding", 2, -1),
    "lrn": ("LRNLayer", 3, -1), "split": ("Split", 3, -1), "upsample": ("Upsample", 3, -1),
    "bias": ("Bias", 3, -1), "l2normalize": ("L2Normalize", 3, -1), "reshape": ("Reshape", 5, 5),
    "flatten": ("Flatten", 3, -1), "permute": ("Permute", 5, 5), "reorganizeData": ("ReorganizeData", 3, -1),
    "scale": ("Scale", 3, -1), "simpleRecurrent": ("SimpleRecurrent", 5, 5), "gru": ("GRU", 5, 5),
    "uniDirectionalLSTM": ("UniDirectionalLSTM", 5, 5), "biDirectionalLSTM": ("BiDirectionalLSTM", 5, 5),
    "crop": ("Crop", 3, -1), "dot": ("DotProduct", 3, -1), "mvn": ("MeanVarianceNormalize", 3, -1),
    "embedding": ("Embedding", 4, -1), "embeddingND": ("EmbeddingND", 2, 5),
    "sequenceRepeat": ("SequenceRepeat", 5, -1), "softmax": ("Softmax", 3, -1), "concat": ("Concat", 3, -1),
    "resizeBilinear": ("ResizeBilinear", 3, -1), "cropResize": ("CropResize", 5, -1),
}
EQUAL_RANK_ONLY = {"unary": "Unary"}
EXACT = 1   # NeuralNetworkMultiArrayShapeMapping.EXACT_ARRAY_MAPPING


def is_ios12_layer(layer: Any) -> bool:
    """Apple's ``isIOS12NeuralNetworkLayer``: a layer Core ML already ran in iOS 12 (rank-5 interpretation)."""
    k = S.kind(layer)
    if k not in IOS12_LAYERS:
        return False
    if k == "convolution":
        return len(layer.input) == 1
    if k == "innerProduct":
        return not layer.innerProduct.int8DynamicQuantize
    if k == "upsample":
        return layer.upsample.linearUpsampleMode == 0 and not len(layer.upsample.fractionalScalingFactor)
    if k == "reorganizeData":
        return layer.reorganizeData.mode != layer.reorganizeData.PIXEL_SHUFFLE
    return True


def new_layers(nn: Any) -> list[str]:
    """Names of the layers added in specification version 4 (iOS 13) or later."""
    return [layer.name for layer in nn.layers if not is_ios12_layer(layer)]


def nd_array_interpretation(nn: Any) -> bool:
    """Whether Core ML runs the network with N-d blobs (ranks as declared) rather than rank-5 blobs."""
    return bool(new_layers(nn)) or nn.arrayInputShapeMapping != 0 or nn.imageInputShapeMapping != 0


def interface(spec: Any) -> list[RuleViolation]:
    """Shape-mapping and input-rank rules, then (N-d interpretation) the tensor messages and the ranks at the
    model's edges (feature descriptions, present for every model type, are :mod:`.features`')."""
    nn, desc = S.nn_of(spec), spec.description
    out = C.nn_io_types(spec, S.model_kind(spec)) + N.preprocessing(spec, nn)
    arrays = [f for f in desc.input if f.type.WhichOneof("Type") == "multiArrayType"]
    newer = new_layers(nn)
    if newer and nn.arrayInputShapeMapping == 0 and arrays:
        out.append(RuleViolation("4", RANK5_WITH_NEW_LAYER, where=f"layer '{newer[0]}'" + (
            f" (and {len(newer) - 1} more)" if len(newer) > 1 else ""),
            fix="set arrayInputShapeMapping = EXACT_ARRAY_MAPPING and declare the inputs with their full rank "
                "(e.g. [1, C, H, W]), or replace the newer layers by iOS 12 ones"))
    if nn.arrayInputShapeMapping == 0 and nn.imageInputShapeMapping != 0 and arrays:
        out.append(RuleViolation("4", RANK5_WITH_NEW_IMAGE, fix="set arrayInputShapeMapping = EXACT_ARRAY_MAPPING"))
    # "Neural networks require at least one input." / "... non-optional input.": Apple's generic checks
    # (features.description / features.optional) refuse these first, with their own messages
    nd = nd_array_interpretation(nn)
    for f in arrays:
        out += N.nd_input(f) if nd else N.rank5_input(f)
    if nd:
        out += N.tensors(nn, _io_ranks(spec, nn)) + _edge_ranks(spec, nn)
    return out


def _io_ranks(spec: Any, nn: Any) -> dict[str, int]:
    """Apple's ``ioBlobNameToRank``: ranks of the model's array/image inputs and shaped array outputs."""
    ranks: dict[str, int] = {}
    for f in spec.description.input:
        which = f.type.WhichOneof("Type")
        if which == "multiArrayType":
            ranks[f.name] = 5 if nn.arrayInputShapeMapping == 0 else len(f.type.multiArrayType.shape)
        elif which == "imageType":
            ranks[f.name] = 5 if nn.imageInputShapeMapping == 0 else 4
    for f in spec.description.output:
        if f.type.WhichOneof("Type") == "multiArrayType" and len(f.type.multiArrayType.shape):
            ranks[f.name] = len(f.type.multiArrayType.shape)
    return ranks


def _edge_ranks(spec: Any, nn: Any) -> list[RuleViolation]:
    """Per layer, as Apple's validator: declared tensor ranks, rank equality, then the type's rank limits."""
    io = _io_ranks(spec, nn)
    ranks = dict(io)
    out = []
    for layer in nn.layers:
        where = f"layer '{layer.name}'"
        for side, blobs, tensors in (("input", layer.input, layer.inputTensor),
                                     ("output", layer.output, layer.outputTensor)):
            for blob, tensor in zip(blobs, tensors):
                if blob in io and int(tensor.rank) != io[blob]:
                    also = "also an input to the model" if side == "input" else "also an output of the model"
                    model_side = "model description"
                    out.append(RuleViolation(
                        "4", f"Layer '{layer.name}''s {side} '{blob}' is {also}. However, for this tensor the rank "
                        f"provided in the layer description does not match the one provided in the {model_side}",
                        where=where, fix="make the layer's tensor rank equal to the declared feature's rank"))
                ranks.setdefault(blob, int(tensor.rank))
        k = S.kind(layer)
        if k == "activation" and layer.activation.WhichOneof("NonlinearityType") in ("PReLU", "parametricSoftplus"):
            name = "ActivationPReLU" if layer.activation.WhichOneof("NonlinearityType") == "PReLU" \
                else "ActivationParametricSoftplus"
            limits = (name, 3, -1)
        elif k == "concat" and layer.concat.sequenceConcat:
            limits = ("Concat", 5, -1)
        else:
            limits = RANK_LIMITS.get(k) or ((EQUAL_RANK_ONLY[k], 0, -1) if k in EQUAL_RANK_ONLY else None)
        if limits is None or not layer.input or not layer.output:
            continue
        name, lo, hi = limits
        r_in, r_out = ranks.get(layer.input[0]), ranks.get(layer.output[0])
        if r_in is not None and r_out is not None and r_in != r_out:
            out.append(RuleViolation(
                "4", f"Layer '{layer.name}' of type '{name}' expects equal ranks for its input and output, but they "
                "are not equal.", where=where, fix="declare input and output features of one rank"))
            continue
        for side, r in (("input", r_in), ("output", r_out)):
            problem = _rank_problem(r, lo, hi) if r is not None else None
            if problem:
                out.append(RuleViolation(
                    "4", f"Layer '{layer.name}' of type '{name}' has {side} rank {r} but expects rank {problem}.",
                    where=where, fix=_rank_fix(name)))
                break
    return out


def _rank_problem(rank: int, lo: int, hi: int) -> str | None:
    """Apple's ``checkRank``: the expectation ``rank`` breaks, or None."""
    if hi > 0 and hi == lo and rank != hi:
        return f"exactly {lo}"
    if lo > 0 and rank < lo:
        return f"at least {lo}"
    if hi > 0 and rank > hi:
        return f"at most {hi}"
    return None


def _rank_fix(name: str) -> str:
    if name == "Softmax":
        return ("declare the feature with rank 3 or more (e.g. [1, K, 1, 1] under EXACT_ARRAY_MAPPING), keep the "
                "default RANK5_ARRAY_MAPPING, or use softmaxND (which cannot be under the loss)")
    return "declare the model input/output with a rank this layer accepts (e.g. [1, C, H, W] under EXACT_ARRAY_MAPPING)"
