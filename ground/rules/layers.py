"""Rule 4, the per-layer half: Apple's ``NeuralNetworkLayerValidator.cpp``, one small check per rule.

Core ML calls one validator per layer type (``validateLayer`` in ``NeuralNetworkValidator.cpp``): first
the number of inputs and outputs (``validateInputCount`` / ``validateOutputCount``), then (N-d
interpretation) ranks, which :mod:`.interface` checks, then the type's parameters and weights (weights:
:mod:`.layers_weighted`). :data:`CHECKS` is the registry, keyed by layer type; :func:`layer_params` runs
every check of every layer and reports all problems together (Apple stops at the first; here a check
stops at the first problem of its own rule, and the layer's other checks still run).

Rules that need a blob's rank use only what the spec states (a layer's ``inputTensor`` /
``outputTensor``), as Apple's do; shapes are not propagated here (the runtime measures them).
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import RuleViolation
from ..protos import NeuralNetwork_pb2
from .. import nn_spec as S
from . import interface as I
from . import layers_weighted as LW
from .weights import Problem, first, value_type

Check = Callable[[Any, bool], "Problem | None"]
"""A check takes the layer and whether the network runs in the N-d array interpretation."""

# (min inputs, max inputs, min outputs, max outputs); -1: no bound; a bound of 0 is not enforced, as in
# Apple's helpers. Every type Apple knows that is not listed takes exactly one input and one output.
COUNTS: dict[str, tuple[int, int, int, int]] = {
    **dict.fromkeys(("convolution", "crop", "batchedMatmul", "tile", "constantPad", "oneHot", "cumSum",
                     "greaterThan", "greaterEqual", "lessThan", "lessEqual", "equal", "notEqual"), (1, 2, 1, 1)),
    **dict.fromkeys(("concat", "concatND", "stack"), (2, -1, 1, 1)),
    **dict.fromkeys(("split", "splitND"), (1, 1, 2, -1)),
    **dict.fromkeys(("add", "multiply", "average", "max", "min"), (1, -1, 1, 1)),
    **dict.fromkeys(("loadConstant", "loadConstantND", "fillStatic", "rangeStatic", "randomNormalStatic",
                     "randomUniformStatic", "randomBernoulliStatic"), (0, 0, 1, 1)),
    **dict.fromkeys(("dot", "cropResize", "powBroadcastable", "reshapeLike", "reshapeDynamic", "broadcastToLike",
                     "broadcastToDynamic", "addBroadcastable", "subtractBroadcastable", "multiplyBroadcastable",
                     "divideBroadcastable", "maxBroadcastable", "minBroadcastable", "floorDivBroadcastable",
                     "modBroadcastable", "gather", "gatherND", "gatherAlongAxis", "reverseSeq", "sliceBySize",
                     "logicalAnd", "logicalOr", "logicalXor"), (2, 2, 1, 1)),
    **dict.fromkeys(("whereBroadcastable", "scatter", "scatterND", "scatterAlongAxis"), (3, 3, 1, 1)),
    **dict.fromkeys(("gru", "topK"), (1, 2, 2, 2)),
    **dict.fromkeys(("loopContinue", "loopBreak"), (0, 0, 0, 0)),
    "simpleRecurrent": (2, 2, 2, 2), "uniDirectionalLSTM": (1, 3, 3, 3), "biDirectionalLSTM": (1, 5, 5, 5),
    "custom": (1, -1, 1, -1), "branch": (1, 1, 0, 0), "loop": (0, 1, 0, 0), "rangeDynamic": (0, 3, 1, 1),
    "sliceDynamic": (2, 7, 1, 1), "NonMaximumSuppression": (2, 5, 4, 4),
}
ONE_TO_ONE = (1, 1, 1, 1)
LAYER_TYPES = frozenset(f.name for f in NeuralNetwork_pb2.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"].fields)


def type_number(layer: Any) -> int:
    """Apple prints a layer's type in count messages as its ``layer`` field number (e.g. 140: innerProduct)."""
    return layer.DESCRIPTOR.fields_by_name[S.kind(layer)].number


def _count(layer: Any, what: str, n: int, lo: int, hi: int) -> Problem | None:
    """Apple's ``validateInputCount`` / ``validateOutputCount``."""
    head = f"Layer '{layer.name}' of type {type_number(layer)} has {n} {what}s but expects"
    if hi > 0 and hi == lo and n != hi:
        return f"{head} exactly {lo}.", f"give the {S.kind(layer)} layer exactly {lo} {what}(s)"
    if lo > 0 and n < lo:
        return f"{head} at least {lo}.", f"give the {S.kind(layer)} layer at least {lo} {what}(s)"
    if hi > 0 and n > hi:
        return f"{head} at most {hi}.", f"give the {S.kind(layer)} layer at most {hi} {what}(s)"
    return None


def input_count(layer: Any, nd: bool) -> Problem | None:
    lo, hi, _, _ = COUNTS.get(S.kind(layer), ONE_TO_ONE)
    if S.kind(layer) == "logicalNot":
        lo, hi = 1, 1
    return _count(layer, "input", len(layer.input), lo, hi)


def output_count(layer: Any, nd: bool) -> Problem | None:
    _, _, lo, hi = COUNTS.get(S.kind(layer), ONE_TO_ONE)
    return _count(layer, "output", len(layer.output), lo, hi)


def _input_rank(layer: Any) -> int | None:
    """The rank the layer states for its first input (``inputTensor``), if it states one."""
    return int(layer.inputTensor[0].rank) if len(layer.inputTensor) else None


def _axis_in_rank(name: str, axis: int, rank: int | None) -> Problem | None:
    if rank is None or -rank <= axis < rank:
        return None
    return (f"Value of axis must be in the range [-rank(tensor), rank(tensor)) for '{name}' layer.",
            f"use an axis in [{-rank}, {rank})")


# ---------------------------------------------------------------- classic (iOS 11-12) layers


def convolution(layer: Any, nd: bool) -> Problem | None:
    p, name = layer.convolution, layer.name
    if p.WhichOneof("ConvolutionPaddingType") is None:
        return f"Padding type for convolution layer '{name}' is not set.", "set valid (with amounts) or same padding"
    if p.isDeconvolution and len(layer.input) != 1:
        return (f"Deconvolution Layer '{name}' does not support weight as input tensor.",
                "store the deconvolution's weights in the layer")
    if len(layer.input) != 1 and any(d > 1 for d in list(p.dilationFactor)[:2]):
        return (f"Convolution layer: '{name}' , dilated convolution does not support weight as input tensor.",
                "store the weights in the layer, or use dilation 1")
    return None


def activation(layer: Any, nd: bool) -> Problem | None:
    """Apple's ``validateActivationParams``: a nonlinearity is set; PReLU's alpha and parametric softplus'
    alpha and beta have one storage each (and the same one). Apple does not count alpha's values."""
    act = layer.activation
    which = act.WhichOneof("NonlinearityType")
    shown = f"MLActivationParamsNonlinearityType_{which}" if which else "INVALID"
    fix = "fill exactly one of floatValue / float16Value (the same one for alpha and beta)"
    if which is None:
        return f"Nonlinearity type {shown} is not supported in this version of CoreML.", "set the nonlinearity"
    if which == "PReLU" and value_type(act.PReLU.alpha) == "UNSPECIFIED":
        return f"Nonlinearity type {shown} has inconsistent weight parameter types.", fix
    if which == "parametricSoftplus":
        a, b = value_type(act.parametricSoftplus.alpha), value_type(act.parametricSoftplus.beta)
        if a != b or "UNSPECIFIED" in (a, b):
            return f"Nonlinearity type {shown} has inconsistent weight parameter types.", fix
    return None


def pooling(layer: Any, nd: bool) -> Problem | None:
    if layer.pooling.WhichOneof("PoolingPaddingType") is None:
        return (f"Padding type for the pooling layer '{layer.name}' is not set.",
                "set valid, same or includeLastPixel padding")
    return None


def padding(layer: Any, nd: bool) -> Problem | None:
    p, name = layer.padding, layer.name
    n = len(p.paddingAmounts.borderAmounts)
    if n not in (0, 2):
        return (f"Padding layer {name} specifies {n} padding amounts but it must either specify 2 (for x and y axes), "
                "or 0 for the default values.", "give two border amounts: height, then width")
    if p.WhichOneof("PaddingType") is None:
        return f"Padding layer {name} padding type is not set.", "set constant, reflection or replication padding"
    return None


def lrn(layer: Any, nd: bool) -> Problem | None:
    if layer.lrn.k < 0.0:
        return f"Parameter 'K' for the LRN layer '{layer.name}' must be positive.", "set k >= 0"
    return None


def upsample(layer: Any, nd: bool) -> Problem | None:
    p, name = layer.upsample, layer.name
    s, f = len(p.scalingFactor), len(p.fractionalScalingFactor)
    valid = (f in (0, 2)) if s == 0 else (f == 0 and s == 2)
    if not valid:
        return (f"Invalid scaling factor in upsampling layer '{name}'. Only one of scalingFactor and "
                "fractionalScalingFactor can be set, and if set, must be of size 2. Found scalingFactor of size "
                f"{s} and fractionalScalingFactor of size {f}", "set two integer or two fractional factors")
    NN, DEFAULT = 0, 0
    if f == 2 and (p.mode == NN or p.linearUpsampleMode == DEFAULT):
        return (f"Invalid upsample layer '{name}'. Fractional upsample only compatible with align_corners=true or "
                "align_corners=false", "use BILINEAR mode with ALIGN_CORNERS_TRUE or ALIGN_CORNERS_FALSE")
    if p.linearUpsampleMode != DEFAULT and p.mode == NN:
        return (f"Layer '{name}' of type Upsample uses Nearest Neighbors but uses linear upsampling mode other than "
                "DEFAULT.", "use BILINEAR mode, or linearUpsampleMode DEFAULT")
    return None


def reshape(layer: Any, nd: bool) -> Problem | None:
    if len(layer.reshape.targetShape) not in (3, 4):
        return (f"Reshape layer '{layer.name}' target shape must be 3D or 4D.",
                "give targetShape as [C, H, W] or [Seq, C, H, W]")
    return None


def permute(layer: Any, nd: bool) -> Problem | None:
    if len(layer.permute.axis) != 4:
        return (f"Permute layer '{layer.name}' must have 4D axis parameters.",
                "give four axes over (Seq, C, H, W), e.g. [0, 2, 3, 1]")
    return None


REDUCE_MIN_RANK = {0: 3, 1: 2, 2: 1, 3: 1, 4: 1}      # CHW, HW, C, H, W (ReduceLayerParams.ReduceAxis)
SLICE_MIN_RANK = {0: 3, 1: 2, 2: 1}                    # CHANNEL_AXIS, HEIGHT_AXIS, WIDTH_AXIS


def reduce(layer: Any, nd: bool) -> Problem | None:
    rank = _input_rank(layer)
    if nd and rank is not None and rank < REDUCE_MIN_RANK.get(layer.reduce.axis, 0):
        return (f"Reduce layer '{layer.name}': input's rank is smaller than the dimensions provided in the axis "
                "parameter", "reduce over fewer axes, or feed a blob of higher rank")
    return None


def reorganize_data(layer: Any, nd: bool) -> Problem | None:
    if int(layer.reorganizeData.blockSize) < 2:
        return f"Block size for layer '{layer.name}' must be > 1.", "set blockSize to 2 or more"
    return None


def slice_(layer: Any, nd: bool) -> Problem | None:
    p, name = layer.slice, layer.name
    rank = _input_rank(layer)
    if nd and rank is not None:
        if p.axis not in SLICE_MIN_RANK:
            return (f"Slice layer: '{name}': unknown value for parameter 'axis'.",
                    "use CHANNEL_AXIS, HEIGHT_AXIS or WIDTH_AXIS")
        if rank < SLICE_MIN_RANK[p.axis]:
            return (f"Slice layer '{name}': input's rank is smaller than the dimension provided in the axis parameter",
                    "slice a blob of higher rank, or another axis")
    if int(p.stride) < 1:
        return f"Stride length for the slice layer '{name}' must be > 1.", "set stride to 1 or more"
    start, end = p.startIndex, p.endIndex
    if (end > 0 and end < start) or (end < 0 and start < 0 and start > end):
        return f"Slice layer {name} has an end index before the start index.", "make endIndex come after startIndex"
    return None


def crop(layer: Any, nd: bool) -> Problem | None:
    p, name = layer.crop, layer.name
    if len(layer.input) == 1 and len(p.cropAmounts.borderAmounts) != 2:
        return (f"cropAmounts parameter for the crop layer '{name}' is of length {len(p.cropAmounts.borderAmounts)} "
                "but requires exactly two crop constraints (for X,Y axes).", "give two crop amounts: height, width")
    if len(layer.input) != 1 and len(p.offset) != 2:
        return (f"Offset parameter for the crop layer '{name}' is of length {len(p.offset)} but requires exactly two "
                "offsets (for X,Y axes).", "give two offsets: height, width")
    return None


def target_size(layer: Any, nd: bool) -> Problem | None:
    """resizeBilinear and cropResize: a target size, when given, of two values."""
    kind = S.kind(layer)
    n = len(getattr(layer, kind).targetSize)
    if n in (0, 2):
        return None
    what = "resize bilinear" if kind == "resizeBilinear" else "crop resize"
    return (f"Target Size in the {what} layer '{layer.name}' must be a vector of size 2 (i.e height, width) but is a "
            f"vector of size {n}.", "give targetSize as [height, width]")


def copy(layer: Any, nd: bool) -> Problem | None:
    if layer.input and layer.output and layer.input[0] == layer.output[0]:
        return (f"Copy layer '{layer.name}' has identical input and output names.",
                "give the copy's output its own blob name")
    return None


# ---------------------------------------------------------------- N-d (iOS 13+) layers


def transpose(layer: Any, nd: bool) -> Problem | None:
    if not len(layer.transpose.axes):
        return f"Axes are required parameters for '{layer.name}' layer.", "give the permutation of the input's axes"
    return None


def clip(layer: Any, nd: bool) -> Problem | None:
    if layer.clip.minVal > layer.clip.maxVal:
        return f"Value of minval should be smaller than maxval for '{layer.name}' layer.", "set minVal <= maxVal"
    return None


def axis_in_rank(layer: Any, nd: bool) -> Problem | None:
    """concatND, softmaxND, flattenTo2D, slidingWindows: the axis fits the input rank stated in the layer."""
    return _axis_in_rank(layer.name, getattr(layer, S.kind(layer)).axis, _input_rank(layer))


def target_shape(layer: Any, nd: bool) -> Problem | None:
    """reshapeStatic, fillStatic: a target shape is given."""
    if not len(getattr(layer, S.kind(layer)).targetShape):
        return f"Target shape is required parameter for '{layer.name}' layer.", "set targetShape"
    return None


def split_nd(layer: Any, nd: bool) -> Problem | None:
    p, name = layer.splitND, layer.name
    n = len(p.splitSizes) or p.numSplits
    return first([
        (f"Either split_sizes or num_splits should be provided for '{name}' layer.", "set numSplits or splitSizes")
        if n == 0 else None,
        _axis_in_rank(name, p.axis, _input_rank(layer)),
        (f"Value of num_splits should match size of output names for '{name}' layer.",
         "give the layer one output per split") if n and n != len(layer.output) else None])


def slice_static(layer: Any, nd: bool) -> Problem | None:
    p = layer.sliceStatic
    for field, what in (("beginIds", "Begin IDs"), ("endIds", "End IDs"), ("strides", "Strides"),
                        ("beginMasks", "Begin masks"), ("endMasks", "End masks")):
        if not len(getattr(p, field)):
            return f"{what} are required parameters for '{layer.name}' layer.", f"set {field} (one per axis)"
    return None


def reverse(layer: Any, nd: bool) -> Problem | None:
    rank = _input_rank(layer)
    if rank is not None and len(layer.reverse.reverseDim) != rank:
        return f"Invalid size of reverse_dim for '{layer.name}' layer.", "give one reverseDim flag per input axis"
    return None


def _axes_problems(layer: Any, axes: list[int], rank: int | None, other: int | None, kind: str) -> Problem | None:
    """expandDims / squeeze: axes given, unique, and (ranks stated) consistent with the ranks."""
    head = f"{'ExpandDims' if kind == 'expandDims' else 'Squeeze'} Layer '{layer.name}'"
    if not axes:
        return f"{head}: length of the 'axes' parameter cannot be 0.", "list the axes"
    if len(set(axes)) != len(axes):
        return f"{head}: all the values in the 'axes' parameter must be unique.", "list each axis once"
    if rank is None or other is None:
        return None
    full = other if kind == "expandDims" else rank            # the rank the axes index
    if kind == "expandDims" and rank + len(axes) != other:
        return (f"{head}: input rank plus the length of the axes parameter must equal output rank.",
                "declare an output rank of input rank + len(axes)")
    if kind == "squeeze" and rank != 1 and other + len(axes) != rank:
        return (f"{head}: output rank plus the length of the axes parameter must equal input rank.",
                "declare an output rank of input rank - len(axes)")
    resolved = [a + full if a < 0 else a for a in axes]
    if len(set(resolved)) != len(resolved):
        return f"{head}: axes parameter list cannot have the same value more than once.", "list each axis once"
    if max(resolved) > full - 1 or min(resolved) < 0:
        side = "output" if kind == "expandDims" else "input"
        return f"{head}: axes refers to a dimension that exceeds the {side} rank.", f"use axes within the {side} rank"
    return None


def expand_dims(layer: Any, nd: bool) -> Problem | None:
    out = int(layer.outputTensor[0].rank) if len(layer.outputTensor) and len(layer.inputTensor) else None
    return _axes_problems(layer, list(layer.expandDims.axes), _input_rank(layer) if out is not None else None, out,
                          "expandDims")


def squeeze(layer: Any, nd: bool) -> Problem | None:
    if layer.squeeze.squeezeAll:
        return None
    out = int(layer.outputTensor[0].rank) if len(layer.outputTensor) and len(layer.inputTensor) else None
    return _axes_problems(layer, list(layer.squeeze.axes), _input_rank(layer) if out is not None else None, out,
                          "squeeze")


def _weighted(fn: Callable[[Any], Problem | None]) -> Check:
    def check(layer: Any, nd: bool) -> Problem | None:
        return fn(layer)
    check.__name__ = fn.__name__
    return check


CHECKS: dict[str, list[Check]] = {
    "convolution": [convolution], "activation": [activation], "pooling": [pooling], "padding": [padding],
    "lrn": [lrn], "upsample": [upsample], "reshape": [reshape], "permute": [permute], "reduce": [reduce],
    "reorganizeData": [reorganize_data], "slice": [slice_], "crop": [crop], "resizeBilinear": [target_size],
    "cropResize": [target_size], "copy": [copy], "transpose": [transpose], "clip": [clip],
    "concatND": [axis_in_rank], "softmaxND": [axis_in_rank], "flattenTo2D": [axis_in_rank],
    "slidingWindows": [axis_in_rank], "reshapeStatic": [target_shape], "fillStatic": [target_shape],
    "splitND": [split_nd], "sliceStatic": [slice_static], "reverse": [reverse], "expandDims": [expand_dims],
    "squeeze": [squeeze],
}
for _kind, _fns in LW.CHECKS.items():
    CHECKS.setdefault(_kind, []).extend(_weighted(f) for f in _fns)


def layer_problems(layer: Any, nd: bool) -> list[Problem]:
    """Every problem of one layer: its input and output counts, then (counts right: the type's other checks
    read inputs and outputs by position) each of the type's own checks. An unknown type is Apple's error."""
    kind = S.kind(layer)
    if kind not in LAYER_TYPES:
        return [(f"Unsupported layer type (CoreML.Specification.NeuralNetworkLayer) for layer '{layer.name}'.",
                 "set the layer's type")]
    found = [p for p in (input_count(layer, nd), output_count(layer, nd)) if p is not None]
    if found:
        return found
    return [p for p in (check(layer, nd) for check in CHECKS.get(kind, [])) if p is not None]


def layer_params(spec: Any, kinds: tuple[str, ...] | None = None) -> list[RuleViolation]:
    """Apple's per-layer rules for every layer of a NeuralNetwork spec (or only those of ``kinds``), all
    reported together."""
    nn = S.nn_of(spec)
    nd = I.nd_array_interpretation(nn)
    return [RuleViolation("4", message, where=f"layer '{layer.name}' ({S.kind(layer)})", fix=fix)
            for layer in nn.layers if kinds is None or S.kind(layer) in kinds
            for message, fix in layer_problems(layer, nd)]


RECURRENT_TYPES = ("simpleRecurrent", "gru", "uniDirectionalLSTM", "biDirectionalLSTM")
