"""Apple's checks of the layers that hold weights (``NeuralNetworkLayerValidator.cpp``): storage kinds,
matching precisions and the number of values each ``WeightParams`` must hold.

Each function takes a layer and returns ``(Apple's message, fix)`` for the first problem in Apple's order,
or None. :data:`CHECKS` maps a layer type to its checks; :mod:`.layers` runs them.
"""
from __future__ import annotations

from typing import Any, Callable

from . import weights as W
from .weights import FIX_ONE_STORAGE, FIX_SAME_PRECISION, FIX_SIZE, Problem, first, general, value_type

MIXED = "has unmatched precisions of weights/bias They should either be half or full precision."
RECURRENT_ACTIVATIONS = ("linear", "sigmoid", "tanh", "scaledTanh", "sigmoidHard", "ReLU")


def convolution(layer: Any) -> Problem | None:
    """Weights ``outputChannels x kernelChannels x kh x kw`` (deconvolution: ``kernelChannels x
    outputChannels/nGroups x kh x kw``; kernel size 3 where unset), bias ``outputChannels``. A convolution
    whose weights come as a second input holds none."""
    p, name = layer.convolution, layer.name
    if len(layer.input) > 1:
        return None
    wt, bt = value_type(p.weights), value_type(p.bias)
    if wt == W.UNSPECIFIED or (p.hasBias and bt == W.UNSPECIFIED):
        return f"Convolution layer '{name}'  has invalid weights/bias fields.", FIX_ONE_STORAGE
    if p.hasBias and W.mixed_float(wt, bt):
        return f"Convolution layer {name}{MIXED}", FIX_SAME_PRECISION
    groups = p.nGroups or 1
    kh = p.kernelSize[0] if len(p.kernelSize) > 0 else 3
    kw = p.kernelSize[1] if len(p.kernelSize) > 1 else 3
    dims = ((p.kernelChannels, p.outputChannels // groups) if p.isDeconvolution
            else (p.outputChannels, p.kernelChannels)) + (kh, kw)
    expected = dims[0] * dims[1] * kh * kw
    if wt in (W.FLOAT32, W.FLOAT16):
        size = W.float_count(p.weights)
        if size != expected:
            what = "Deconvolution" if p.isDeconvolution else "Convolution"
            return (f"{what} layer '{name}' has weight matrix of size {size} to encode a "
                    f"{' × '.join(str(d) for d in dims)} convolution.", FIX_SIZE)
    elif wt == W.QUINT:
        found = general(p.weights, expected, p.outputChannels, "Convolution", name, "weight")
        if found:
            return found
    else:
        return f"Layer {name}has not specified weights.", "store the convolution's weights"
    if not p.hasBias:
        return None
    if bt in (W.FLOAT32, W.FLOAT16):
        size = W.float_count(p.bias)
        if size != p.outputChannels:
            return (f"Convolution layer '{name}' has a bias vector of size {size} but should be "
                    f"{p.outputChannels}.", FIX_SIZE)
        return None
    if bt == W.QUINT:
        return general(p.bias, p.outputChannels, 1, "Convolution", name, "bias")
    return f"Layer {name}has not specified bias.", "store the bias values, or clear hasBias"


def _matrix_and_bias(layer: Any, p: Any, n_in: int, n_out: int, kind: str) -> Problem | None:
    """Apple's ``validateInnerProductWeightsBias`` (innerProduct, batchedMatmul with one input)."""
    name = layer.name
    wt, bt = value_type(p.weights), value_type(p.bias)
    if wt == W.UNSPECIFIED or (p.hasBias and bt == W.UNSPECIFIED):
        return f"{kind} layer '{name}' has invalid weights/bias fields.", FIX_ONE_STORAGE
    if p.hasBias and W.mixed_float(wt, bt):
        return f"{kind} layer '{name}{MIXED}", FIX_SAME_PRECISION
    if wt in (W.FLOAT32, W.FLOAT16):
        size = W.float_count(p.weights)
        if size != n_in * n_out:
            return (f"Layer '{name} has incorrect weight matrix size {size} to encode a {n_in} × {n_out} {kind}.",
                    FIX_SIZE)
    elif wt == W.QUINT:
        found = general(p.weights, n_in * n_out, n_out, kind, name, "weight")
        if found:
            return found
    if p.hasBias and bt in (W.FLOAT32, W.FLOAT16):
        size = W.float_count(p.bias)
        if size != n_out:
            return f"Layer '{name}' has incorrect bias vector size {size} (expected {n_out}).", FIX_SIZE
    elif p.hasBias and bt == W.QUINT:
        return general(p.bias, n_out, 1, kind, name, "bias")
    return None


def inner_product(layer: Any) -> Problem | None:
    """Weights ``inputChannels x outputChannels``, bias ``outputChannels``; int8 dynamic quantization's
    storage rules."""
    p = layer.innerProduct
    if p.int8DynamicQuantize:
        found = W.int8_requirements(p.weights, "InnerProduct", layer.name)
        if found:
            return found
    return _matrix_and_bias(layer, p, p.inputChannels, p.outputChannels, "Inner product")


def batched_matmul(layer: Any) -> Problem | None:
    """With one input: the weight matrix and bias as innerProduct's; with two: no bias, no int8."""
    p, name = layer.batchedMatmul, layer.name
    if len(layer.input) > 1 and p.hasBias:
        return (f"BatchedMatMul layer '{name}': has two inputs and 'hasBias' flag is set to True.However, bias is "
                "only supported when the layer has 1 input.", "clear hasBias, or give the layer one input")
    if len(layer.input) > 1 and p.int8DynamicQuantize:
        return (f"BatchedMatMul layer '{name}': cannot use dynamic quantization with 2 inputs.",
                "clear int8DynamicQuantize")
    if p.int8DynamicQuantize:
        found = W.int8_requirements(p.weights, "BatchedMatMul", name)
        if found:
            return found
    if len(layer.input) == 1:
        return _matrix_and_bias(layer, p, p.weightMatrixFirstDimension, p.weightMatrixSecondDimension,
                                "BatchedMatMul")
    return None


def batchnorm(layer: Any) -> Problem | None:
    """gamma, beta (and mean, variance unless computed) of ``channels`` values, one precision."""
    p, name = layer.batchnorm, layer.name
    kinds = [value_type(getattr(p, f)) for f in ("gamma", "beta", "mean", "variance")]
    if not W.compatible(kinds) or W.UNSPECIFIED in kinds:
        return (f"Batchnorm layer '{name}' parameters have values for both full and half precision. Parameters "
                "should either be specified in half or full precision, mixed parameters are not supported.",
                FIX_SAME_PRECISION)
    c = p.channels
    checks = [general(p.gamma, c, 1, "BatchNorm", name, "gamma"), general(p.beta, c, 1, "BatchNorm", name, "beta")]
    if not p.computeMeanVar:
        if kinds[2] == W.EMPTY:
            checks.append((f"Batchnorm layer '{name}' is missing mean and variance.",
                           "store the running mean and variance, or set computeMeanVar"))
        checks += [general(p.mean, c, 1, "BatchNorm", name, "mean"),
                   general(p.variance, c, 1, "BatchNorm", name, "variance")]
    return first(checks)


def _shaped(wp: Any, shape: Any, cls: str, name: str, what: str) -> Problem | None:
    """A parameter of shape ``[1]``, ``[C]``, ``[1, H, W]`` or ``[C, H, W]`` (quantized per C when 3-D)."""
    total = 1
    for s in shape:
        total *= s
    per = shape[0] if len(shape) == 3 and shape[0] > 1 else 1
    return general(wp, total, per, cls, name, what)


def bias(layer: Any) -> Problem | None:
    p, name = layer.bias, layer.name
    if value_type(p.bias) == W.UNSPECIFIED:
        return (f"Bias product layer '{name}' has both full precision and half precision weights and/or bias fields "
                "populated", FIX_ONE_STORAGE)
    if len(p.shape) not in (1, 3):
        return (f"Bias layer '{name}' cannot be {len(p.shape)} dimensional. Must be 1D or 3D.",
                "give the bias shape [C] / [1] or [C, H, W] / [1, H, W]")
    return _shaped(p.bias, p.shape, "Bias", name, "bias")


def scale(layer: Any) -> Problem | None:
    p, name = layer.scale, layer.name
    st, bt = value_type(p.scale), value_type(p.bias)
    if st == W.UNSPECIFIED or (p.hasBias and bt == W.UNSPECIFIED):
        return f"Scale layer '{name}' has invalid scale/bias fields.", FIX_ONE_STORAGE
    if p.hasBias and W.mixed_float(st, bt):
        return (f"Scale layer '{name}' has invalid scale/bias fields. Field value types should match and should "
                "either be half or full precision.", FIX_SAME_PRECISION)
    if len(p.shapeScale) not in (1, 3):
        return (f"The shape vector for the scale layer '{name}' is {len(p.shapeScale)} dimensional but should be "
                "1D or 3D.", "give shapeScale as [C] / [1] or [C, H, W] / [1, H, W]")
    found = _shaped(p.scale, p.shapeScale, "Scale", name, "scale")
    if found or not p.hasBias:
        return found
    if len(p.shapeBias) not in (1, 3):
        return (f"The bias vector for scale layer '{name}' is {len(p.shapeBias)} dimensional but should be either "
                "1D or 3D.", "give shapeBias as [C] / [1] or [C, H, W] / [1, H, W]")
    return _shaped(p.bias, p.shapeBias, "Scale", name, "bias")


def load_constant(layer: Any) -> Problem | None:
    p, name = layer.loadConstant, layer.name
    if value_type(p.data) == W.UNSPECIFIED:
        return (f"Load constant layer '{name}' has both full precision and half precision weight fields populated",
                FIX_ONE_STORAGE)
    if len(p.shape) != 3:
        return f"Load constant layer '{name}' must be a 3D constant.", "give the constant a [C, H, W] shape"
    return _shaped(p.data, p.shape, "LoadConstant", name, "constants")


def load_constant_nd(layer: Any) -> Problem | None:
    p, name = layer.loadConstantND, layer.name
    if not len(p.shape):
        return f"Target shape is required parameter for '{name}' layer.", "set the constant's shape"
    if value_type(p.data) == W.UNSPECIFIED:
        return (f"LoadConstantND layer '{name}' has both full precision and half precision weight fields populated",
                FIX_ONE_STORAGE)
    if not 1 <= len(p.shape) <= 5:
        return f"LoadConstantND layer '{name}'can only accept shape of length 1 to 5", "use a shape of rank 1 to 5"
    total = 1
    for s in p.shape:
        total *= s
    return general(p.data, total, 1, "LoadConstantND", name, "constants")


def _embedding(layer: Any, p: Any, vocab: int, size: int, kind: str) -> Problem | None:
    """Apple's ``validateEmbeddingWeightsBias``: weights ``vocab x size``, bias ``size``."""
    name = layer.name
    wt, bt = value_type(p.weights), value_type(p.bias)
    if wt == W.UNSPECIFIED or (p.hasBias and bt == W.UNSPECIFIED):
        return (f"{kind} '{name}' has invalid weights/bias fields. Field value types should match and should either "
                "be half or full precision.", FIX_ONE_STORAGE)
    if p.hasBias and W.mixed_float(wt, bt):
        return f"{kind} layer '{name}{MIXED}", FIX_SAME_PRECISION
    return first([general(p.weights, vocab * size, size, kind, name, "weight"),
                  general(p.bias, size, 1, kind, name, "bias") if p.hasBias else None])


def embedding(layer: Any) -> Problem | None:
    p = layer.embedding
    return _embedding(layer, p, p.inputDim, p.outputChannels, "Embedding")


def embedding_nd(layer: Any) -> Problem | None:
    p = layer.embeddingND
    return _embedding(layer, p, p.vocabSize, p.embeddingSize, "EmbeddingND")


def recurrent_activation(act: Any) -> Problem | None:
    """Apple's ``validateRecurrentActivationParams``."""
    which = act.WhichOneof("NonlinearityType")
    if which in RECURRENT_ACTIVATIONS:
        return None
    shown = f"MLActivationParamsNonlinearityType_{which}" if which else "INVALID"
    return (f"Recurrent non-linearity type {shown} is not supported in this version of CoreML.",
            "use linear, sigmoid, tanh, scaledTanh, sigmoidHard or ReLU as recurrent activations")


def simple_recurrent(layer: Any) -> Problem | None:
    p, name = layer.simpleRecurrent, layer.name
    wt, rt, bt = value_type(p.weightMatrix), value_type(p.recursionMatrix), value_type(p.biasVector)
    if W.UNSPECIFIED in (wt, rt) or (p.hasBiasVector and bt == W.UNSPECIFIED):
        return (f"Simple recurrent layer '{name}' has invalid weightMatrix/recusionMatrix/Bias fields.",
                FIX_ONE_STORAGE)
    if wt != W.QUINT and rt != W.QUINT and (wt != rt or (p.hasBiasVector and bt != W.QUINT and wt != bt)):
        return (f"Simple recurrent layer '{name}' has invalid weightMatrix/recusionMatrix/Bias fields. Field value "
                "types should match and should either be half or full precision.", FIX_SAME_PRECISION)
    x, h = p.inputVectorSize, p.outputVectorSize
    return first([general(p.weightMatrix, x * h, h, "SimpleRNN", name, "WeightMatrix"),
                  general(p.recursionMatrix, h * h, h, "SimpleRNN", name, "RecursionMatrix"),
                  general(p.biasVector, h, 1, "SimpleRNN", name, "BiasVector") if p.hasBiasVector else None,
                  recurrent_activation(p.activation)])


GRU_GATES = ("update", "reset", "output")


def gru(layer: Any) -> Problem | None:
    p, name = layer.gru, layer.name
    fields = [f"{g}Gate{m}" for g in GRU_GATES for m in ("WeightMatrix", "RecursionMatrix")]
    fields += [f"{g}GateBiasVector" for g in GRU_GATES] if p.hasBiasVectors else []
    if not W.compatible(value_type(getattr(p, f)) for f in fields):
        return (f"GRU layer '{name}' has invalid weight/recursion matrix or bias fields. Field value types should "
                "match and should be either half or full precision", FIX_SAME_PRECISION)
    x, h = p.inputVectorSize, p.outputVectorSize
    checks = [general(getattr(p, f"{g}GateWeightMatrix"), x * h, h, "GRU", name, f"{g} gate weight matrix")
              for g in GRU_GATES]
    checks += [general(getattr(p, f"{g}GateRecursionMatrix"), h * h, h, "GRU", name, f"{g} gate recursion matrix")
               for g in GRU_GATES]
    if p.hasBiasVectors:
        checks += [general(getattr(p, f"{g}GateBiasVector"), h, 1, "GRU", name, f"{g} gate bias vector")
                   for g in GRU_GATES]
    checks += [recurrent_activation(a) for a in p.activations]
    return first(checks)


# (field stem, Apple's name in weight-matrix messages, in bias messages)
LSTM_GATES = (("inputGate", "input gate", "input gate"), ("forgetGate", "forget gate", "forget gate"),
              ("blockInput", "block input gate", "block input"), ("outputGate", "output gate", "output gate"))
LSTM_PEEPHOLES = (("inputGate", "input gate"), ("forgetGate", "forget gate"), ("outputGate", "output gate"))


def _lstm_sizes(w: Any, params: Any, x: int, h: int, cls: str, name: str, side: str, peephole: str
                ) -> list[Problem | None]:
    """The eight matrices (``h x x`` input, ``h x h`` recursion), four biases and three peepholes of ``h``."""
    out = [general(getattr(w, f"{stem}WeightMatrix"), h * x, h, cls, name, f"{side}{label} weight matrix")
           for stem, label, _ in LSTM_GATES]
    out += [general(getattr(w, f"{stem}RecursionMatrix"), h * h, h, cls, name, f"{side}{label} recursion matrix")
            for stem, label, _ in LSTM_GATES]
    if params.hasBiasVectors:
        out += [general(getattr(w, f"{stem}BiasVector"), h, 1, cls, name, f"{side}{label} bias vector")
                for stem, _, label in LSTM_GATES]
    if params.hasPeepholeVectors:
        out += [general(getattr(w, f"{stem}PeepholeVector"), h, 1, cls, name, f"{side}{label} {peephole} vector")
                for stem, label in LSTM_PEEPHOLES]
    return out


def _lstm_types(w: Any, params: Any) -> Problem | None:
    """Apple's ``validateLSTMWeightParams``: no float32/float16 mix among the filled parameters."""
    stems = [s for s, _, _ in LSTM_GATES]
    fields = [f"{s}WeightMatrix" for s in stems] + [f"{s}RecursionMatrix" for s in stems]
    fields += [f"{s}BiasVector" for s in stems] if params.hasBiasVectors else []
    fields += [f"{s}PeepholeVector" for s, _ in LSTM_PEEPHOLES] if params.hasPeepholeVectors else []
    if W.compatible(value_type(getattr(w, f)) for f in fields):
        return None
    return ("LSTM weight parameters have inconsistent field value types. Types should match and should be either "
            "half or full precision", FIX_SAME_PRECISION)


def uni_lstm(layer: Any) -> Problem | None:
    p, name = layer.uniDirectionalLSTM, layer.name
    checks: list[Problem | None] = [recurrent_activation(a) for a in p.activations]
    checks.append(_lstm_types(p.weightParams, p.params))
    if len(p.activations) != 3:
        checks.append((f"Unidirectional LSTM layer:{name} must provide 3 activations",
                       "give the recurrent, cell and output activations (e.g. sigmoid, tanh, tanh)"))
    checks += _lstm_sizes(p.weightParams, p.params, p.inputVectorSize, p.outputVectorSize,
                          "Unidirectional LSTM", name, "", "peep hole")
    return first(checks)


def bi_lstm(layer: Any) -> Problem | None:
    """As Apple: activations, three per direction, then both directions' sizes (Apple's type-consistency
    call reads the layer's uniDirectionalLSTM field, which a biDirectionalLSTM never sets: no check)."""
    p, name = layer.biDirectionalLSTM, layer.name
    checks: list[Problem | None] = [recurrent_activation(a)
                                    for a in (*p.activationsForwardLSTM, *p.activationsBackwardLSTM)]
    for side, acts in (("forward", p.activationsForwardLSTM), ("backward", p.activationsBackwardLSTM)):
        if len(acts) != 3:
            checks.append((f"Bidirectional LSTM layer:{name} {side} lstm must provide 3 activations",
                           f"give the {side} LSTM's recurrent, cell and output activations"))
    found = first(checks)
    if found:
        return found
    if len(p.weightParams) != 2:
        return (f"biDirectionalLSTM layer '{name}' has {len(p.weightParams)} weightParams; Core ML's validator "
                "reads exactly two (forward, backward)", "store the forward and the backward LSTM's weights")
    x, h = p.inputVectorSize, p.outputVectorSize
    fwd, bwd = p.weightParams
    checks = _lstm_sizes(fwd, p.params, x, h, "Bidirectional LSTM", name, "forward ", "peephole")[:8]
    checks += _lstm_sizes(bwd, p.params, x, h, "Bidirectional LSTM", name, "backward ", "peephole")[:8]
    for w, side in ((fwd, "forward "), (bwd, "backward ")):
        if p.params.hasBiasVectors:
            checks += [general(getattr(w, f"{stem}BiasVector"), h, 1, "Bidirectional LSTM", name,
                               f"{side}{label} bias vector") for stem, _, label in LSTM_GATES]
    for w, side in ((fwd, "forward "), (bwd, "backward ")):
        if p.params.hasPeepholeVectors:
            checks += [general(getattr(w, f"{stem}PeepholeVector"), h, 1, "Bidirectional LSTM", name,
                               f"{side}{label} peephole vector") for stem, label in LSTM_PEEPHOLES]
    return first(checks)


def layer_normalization(layer: Any) -> Problem | None:
    p, name = layer.layerNormalization, layer.name
    if not len(p.normalizedShape):
        return f"Normalized shape is required parameter for '{name}' layer.", "set normalizedShape"
    if not p.HasField("gamma"):
        return f"Gamma is required parameter for '{name}' layer.", "store gamma"
    if not p.HasField("beta"):
        return f"Beta is required parameter for '{name}' layer.", "store beta"
    if p.gamma.HasField("quantization"):
        return f"Gamma and Beta should not be quantized for '{name}' layer.", "store gamma and beta as float32"
    total = 1
    for s in p.normalizedShape:
        total *= s
    for what in ("gamma", "beta"):
        if len(getattr(p, what).floatValue) != total:
            return (f"Shape of {what} should match normalized_shape for '{name}' layer.",
                    f"store prod(normalizedShape) = {total} float32 {what} values")
    return None


def custom(layer: Any) -> Problem | None:
    p, name = layer.custom, layer.name
    if not p.className:
        return (f"Custom layer {name} has an empty 'className' field. This field is required in order for Core ML to "
                "link to the implementation for this custom class.", "set className")
    for wp in p.weights:
        if sum(bool(len(v)) for v in (wp.floatValue, wp.float16Value, wp.rawValue, wp.int8RawValue)) != 1:
            return (f"Custom layer {name} has a weights parameter with multiple types filled in.  The WeightParams "
                    "message should be treated as a oneof.", FIX_ONE_STORAGE)
    return None


CHECKS: dict[str, list[Callable[[Any], Problem | None]]] = {
    "convolution": [convolution], "innerProduct": [inner_product], "batchedMatmul": [batched_matmul],
    "batchnorm": [batchnorm], "bias": [bias], "scale": [scale], "loadConstant": [load_constant],
    "loadConstantND": [load_constant_nd], "embedding": [embedding], "embeddingND": [embedding_nd],
    "simpleRecurrent": [simple_recurrent], "gru": [gru], "uniDirectionalLSTM": [uni_lstm],
    "biDirectionalLSTM": [bi_lstm], "layerNormalization": [layer_normalization], "custom": [custom],
}
