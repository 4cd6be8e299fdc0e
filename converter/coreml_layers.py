"""Small builders of Core ML ``NeuralNetworkLayer`` messages, shared by every front end.

Weights are stored as float32 ``floatValue`` in Core ML's layout (see :mod:`ground.layout` for the
reorderings). Builders never mark anything updatable: that is the transforms' job.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ground import weight_params as WP
from ground.protos import NeuralNetwork_pb2 as NN

Layer = NN.NeuralNetworkLayer
Pads = tuple[tuple[int, int], tuple[int, int]]
"""((top, bottom), (left, right))"""


def new_layer(name: str, inputs: Sequence[str], outputs: Sequence[str]) -> Layer:
    layer = NN.NeuralNetworkLayer()
    layer.name = name
    layer.input.extend(list(inputs))
    layer.output.extend(list(outputs))
    return layer


set_weights = WP.write
"""Store values (any shape, Core ML layout) in a ``WeightParams`` as float32."""


def _border(msg, pads: Pads) -> None:
    for start, end in pads:
        b = msg.borderAmounts.add()
        b.startEdgeSize, b.endEdgeSize = int(start), int(end)


# ---------------------------------------------------------------- weighted layers


def _weights_and_bias(p, weights: np.ndarray, bias: np.ndarray | None) -> None:
    """Store ``weights`` and, when given, ``bias`` (setting ``hasBias``) in a weighted layer's params."""
    set_weights(p.weights, weights)
    if bias is not None:
        p.hasBias = True
        set_weights(p.bias, bias)


def inner_product(name: str, inp: str, out: str, weights: np.ndarray, bias: np.ndarray | None = None) -> Layer:
    """innerProduct with ``weights`` ``(out, in)``."""
    layer = new_layer(name, [inp], [out])
    p = layer.innerProduct
    p.outputChannels, p.inputChannels = (int(s) for s in weights.shape)
    _weights_and_bias(p, weights, bias)
    return layer


def convolution(name: str, inp: str, out: str, weights: np.ndarray, bias: np.ndarray | None = None, *,
                stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1),
                padding: str | Pads = "valid", groups: int = 1, deconv: bool = False,
                output_hw: tuple[int, int] | None = None) -> Layer:
    """convolution with ``weights`` ``(out, in/groups, kh, kw)`` (deconvolution: ``(in, out/groups, kh, kw)``).

    ``padding`` is 'valid', 'same' (Core ML's BOTTOM_RIGHT_HEAVY, as TensorFlow pads) or explicit pads.
    """
    layer = new_layer(name, [inp], [out])
    p = layer.convolution
    a, b, kh, kw = (int(s) for s in weights.shape)
    if deconv:
        p.isDeconvolution = True
        p.kernelChannels, p.outputChannels = a, b * groups
        if output_hw is not None:
            p.outputShape.extend([int(output_hw[0]), int(output_hw[1])])
    else:
        p.outputChannels, p.kernelChannels = a, b
    p.nGroups = int(groups)
    p.kernelSize.extend([kh, kw])
    p.stride.extend([int(s) for s in stride])
    p.dilationFactor.extend([int(d) for d in dilation])
    if padding == "same":
        p.same.asymmetryMode = NN.SamePadding.BOTTOM_RIGHT_HEAVY
    else:
        _border(p.valid.paddingAmounts, ((0, 0), (0, 0)) if padding == "valid" else padding)
    _weights_and_bias(p, weights, bias)
    return layer


def batchnorm(name: str, inp: str, out: str, *, gamma, beta, mean, variance, epsilon: float) -> Layer:
    layer = new_layer(name, [inp], [out])
    p = layer.batchnorm
    p.channels = int(len(mean))
    p.epsilon = float(epsilon)
    for field, values in (("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", variance)):
        set_weights(getattr(p, field), values)
    return layer


def scale(name: str, inp: str, out: str, scale_values: np.ndarray, bias: np.ndarray | None = None) -> Layer:
    """Per-channel (``(C,)``) or scalar (``(1,)``) ``y = scale * x + bias``."""
    layer = new_layer(name, [inp], [out])
    p = layer.scale
    scale_values = np.atleast_1d(np.asarray(scale_values, np.float32))
    p.shapeScale.extend([int(scale_values.size)])
    set_weights(p.scale, scale_values)
    if bias is not None:
        bias = np.atleast_1d(np.asarray(bias, np.float32))
        p.hasBias = True
        p.shapeBias.extend([int(bias.size)])
        set_weights(p.bias, bias)
    return layer


def embedding(name: str, inp: str, out: str, weights: np.ndarray, bias: np.ndarray | None = None) -> Layer:
    """embedding with ``weights`` ``(D, input_dim)``."""
    layer = new_layer(name, [inp], [out])
    p = layer.embedding
    p.outputChannels, p.inputDim = (int(s) for s in weights.shape)
    _weights_and_bias(p, weights, bias)
    return layer


def embedding_nd(name: str, inp: str, out: str, weights: np.ndarray) -> Layer:
    """embeddingND (iOS 13) with ``weights`` ``(embeddingSize, vocabSize)``: indices ``(..., 1)`` ->
    ``(..., embeddingSize)``."""
    layer = new_layer(name, [inp], [out])
    p = layer.embeddingND
    p.embeddingSize, p.vocabSize = (int(s) for s in weights.shape)
    p.weights.floatValue.extend(np.asarray(weights, np.float32).ravel().tolist())
    return layer


def transpose(name: str, inp: str, out: str, axes: Sequence[int]) -> Layer:
    """transpose (iOS 13): output axis i is input axis ``axes[i]``."""
    layer = new_layer(name, [inp], [out])
    layer.transpose.axes.extend(int(a) for a in axes)
    return layer


def expand_dims(name: str, inp: str, out: str, axes: Sequence[int]) -> Layer:
    """expandDims (iOS 13): new axes of size 1 at ``axes`` of the output."""
    layer = new_layer(name, [inp], [out])
    layer.expandDims.axes.extend(int(a) for a in axes)
    return layer


def squeeze(name: str, inp: str, out: str, axes: Sequence[int]) -> Layer:
    """squeeze (iOS 13): drop the size-1 ``axes``."""
    layer = new_layer(name, [inp], [out])
    layer.squeeze.axes.extend(int(a) for a in axes)
    return layer


# ---------------------------------------------------------------- recurrent layers

Gate = tuple  # (W (units, in), R (units, units), b (units,) or None), see ground.layout.recurrent_gates
CELL_CLIP = 50000.0
"""An LSTM's cellClipThreshold: Core ML's default (0 means 50) would clip a cell that Keras lets grow (by up
to 1 per step with tanh); coremltools' builder writes this value too."""


def _recurrent_activations_one(params, kind: str) -> None:
    """Set an ``ActivationParams`` to ``kind`` ('sigmoid', 'tanh', 'ReLU', 'linear' with alpha 1)."""
    msg = getattr(params, kind)
    msg.SetInParent()
    if kind == "linear":
        msg.alpha = 1.0


def _recurrent_activations(field, kinds: Sequence[str]) -> None:
    """Fill a repeated ``ActivationParams`` with ``kinds``."""
    for kind in kinds:
        _recurrent_activations_one(field.add(), kind)


def _lstm_weights(w, gates: Sequence[Gate]) -> None:
    """Four gates (input, forget, block input, output) into an ``LSTMWeightParams``."""
    for prefix, (wx, wh, b) in zip(("inputGate", "forgetGate", "blockInput", "outputGate"), gates):
        set_weights(getattr(w, f"{prefix}WeightMatrix"), wx)
        set_weights(getattr(w, f"{prefix}RecursionMatrix"), wh)
        if b is not None:
            set_weights(getattr(w, f"{prefix}BiasVector"), b)


def uni_lstm(name: str, inputs: Sequence[str], outputs: Sequence[str], gates: Sequence[Gate], *,
             activations: Sequence[str], sequence_output: bool, reverse: bool = False) -> Layer:
    """uniDirectionalLSTM from four gates (input, forget, block input, output); outputs (y, h, c)."""
    layer = new_layer(name, inputs, outputs)
    p = layer.uniDirectionalLSTM
    units, size = (int(s) for s in gates[0][0].shape)
    p.inputVectorSize, p.outputVectorSize = size, units
    _recurrent_activations(p.activations, activations)
    p.params.sequenceOutput = bool(sequence_output)
    p.params.hasBiasVectors = gates[0][2] is not None
    p.params.cellClipThreshold = CELL_CLIP
    p.reverseInput = bool(reverse)
    _lstm_weights(p.weightParams, gates)
    return layer


def bi_lstm(name: str, inputs: Sequence[str], outputs: Sequence[str], forward: Sequence[Gate],
            backward: Sequence[Gate], *, activations: Sequence[str], sequence_output: bool) -> Layer:
    """biDirectionalLSTM (both directions share the activations); outputs (y, h_f, c_f, h_b, c_b)."""
    layer = new_layer(name, inputs, outputs)
    p = layer.biDirectionalLSTM
    units, size = (int(s) for s in forward[0][0].shape)
    p.inputVectorSize, p.outputVectorSize = size, units
    _recurrent_activations(p.activationsForwardLSTM, activations)
    _recurrent_activations(p.activationsBackwardLSTM, activations)
    p.params.sequenceOutput = bool(sequence_output)
    p.params.hasBiasVectors = forward[0][2] is not None
    p.params.cellClipThreshold = CELL_CLIP
    for gates in (forward, backward):
        _lstm_weights(p.weightParams.add(), gates)
    return layer


def simple_recurrent(name: str, inputs: Sequence[str], outputs: Sequence[str], gate: Gate, *, activation: str,
                     sequence_output: bool, reverse: bool = False) -> Layer:
    """simpleRecurrent; inputs (x, h0) and outputs (y, h), as Apple's validator requires."""
    layer = new_layer(name, inputs, outputs)
    p = layer.simpleRecurrent
    wx, wh, b = gate
    p.outputVectorSize, p.inputVectorSize = (int(s) for s in wx.shape)
    _recurrent_activations_one(p.activation, activation)
    p.sequenceOutput, p.reverseInput = bool(sequence_output), bool(reverse)
    set_weights(p.weightMatrix, wx)
    set_weights(p.recursionMatrix, wh)
    if b is not None:
        p.hasBiasVector = True
        set_weights(p.biasVector, b)
    return layer


def load_constant_nd(name: str, out: str, values: np.ndarray) -> Layer:
    """loadConstantND (iOS 13): ``values`` of any rank as a blob of that shape."""
    layer = new_layer(name, [], [out])
    layer.loadConstantND.shape.extend(int(s) for s in np.shape(values))
    set_weights(layer.loadConstantND.data, values)
    return layer


def gru(name: str, inputs: Sequence[str], outputs: Sequence[str], gates: Sequence[Gate], *,
        activations: Sequence[str], sequence_output: bool, reverse: bool = False) -> Layer:
    """gru from three gates (update, reset, output); outputs (y, h)."""
    layer = new_layer(name, inputs, outputs)
    p = layer.gru
    units, size = (int(s) for s in gates[0][0].shape)
    p.inputVectorSize, p.outputVectorSize = size, units
    _recurrent_activations(p.activations, activations)
    p.sequenceOutput = bool(sequence_output)
    p.reverseInput = bool(reverse)
    p.hasBiasVectors = gates[0][2] is not None
    for prefix, (wx, wh, b) in zip(("updateGate", "resetGate", "outputGate"), gates):
        set_weights(getattr(p, f"{prefix}WeightMatrix"), wx)
        set_weights(getattr(p, f"{prefix}RecursionMatrix"), wh)
        if b is not None:
            set_weights(getattr(p, f"{prefix}BiasVector"), b)
    return layer


# ---------------------------------------------------------------- activations


def activation(name: str, inp: str, out: str, kind: str, **params) -> Layer:
    """activation layer; ``kind`` is the ``NonlinearityType`` field ('ReLU', 'linear', 'leakyReLU', ...).

    ``params`` set scalar fields (alpha, beta); ``alpha_array`` fills PReLU's per-channel alpha.
    """
    layer = new_layer(name, [inp], [out])
    msg = getattr(layer.activation, kind)
    msg.SetInParent()
    alpha_array = params.pop("alpha_array", None)
    if alpha_array is not None:
        set_weights(msg.alpha, alpha_array)
    for key, value in params.items():
        setattr(msg, key, float(value))
    return layer


def linear(name: str, inp: str, out: str, alpha: float = 1.0, beta: float = 0.0) -> Layer:
    """``y = alpha * x + beta``; alpha=1, beta=0 is the identity the transforms drop."""
    return activation(name, inp, out, "linear", alpha=alpha, beta=beta)


def identity(name: str, inp: str, out: str) -> Layer:
    return linear(name, inp, out, 1.0, 0.0)


def softmax(name: str, inp: str, out: str) -> Layer:
    layer = new_layer(name, [inp], [out])
    layer.softmax.SetInParent()
    return layer


def clip(name: str, inp: str, out: str, lo: float, hi: float) -> Layer:
    layer = new_layer(name, [inp], [out])
    layer.clip.minVal, layer.clip.maxVal = float(lo), float(hi)
    return layer


def unary(name: str, inp: str, out: str, op: str, *, alpha: float = 1.0, epsilon: float = 1e-6,
          shift: float = 0.0, scale_value: float = 1.0) -> Layer:
    """unary: ``op`` in SQRT, RSQRT, INVERSE, POWER, EXP, LOG, ABS, THRESHOLD."""
    layer = new_layer(name, [inp], [out])
    p = layer.unary
    p.type = NN.UnaryFunctionLayerParams.Operation.Value(op)
    p.alpha, p.epsilon, p.shift, p.scale = float(alpha), float(epsilon), float(shift), float(scale_value)
    return layer


def gelu(name: str, inp: str, out: str, mode: str = "EXACT") -> Layer:
    layer = new_layer(name, [inp], [out])
    layer.gelu.mode = NN.GeluLayerParams.GeluMode.Value(mode)
    return layer


# ---------------------------------------------------------------- pooling, shape


def pooling(name: str, inp: str, out: str, kind: str, kernel: tuple[int, int], stride: tuple[int, int],
            padding: str = "valid", *, global_pool: bool = False) -> Layer:
    """pooling, ``kind`` 'max' | 'average'; 'same' padding excludes the padding from averages."""
    layer = new_layer(name, [inp], [out])
    p = layer.pooling
    p.type = NN.PoolingLayerParams.MAX if kind == "max" else NN.PoolingLayerParams.AVERAGE
    p.kernelSize.extend([int(k) for k in kernel])
    p.stride.extend([int(s) for s in stride])
    p.globalPooling = bool(global_pool)
    p.avgPoolExcludePadding = True
    if padding == "same":
        p.same.asymmetryMode = NN.SamePadding.BOTTOM_RIGHT_HEAVY
    else:
        _border(p.valid.paddingAmounts, ((0, 0), (0, 0)))
    return layer


def flatten(name: str, inp: str, out: str, channel_last: bool) -> Layer:
    """flatten; ``channel_last`` gives H, W, C order (Keras' order for channels-last tensors)."""
    layer = new_layer(name, [inp], [out])
    layer.flatten.mode = NN.FlattenLayerParams.CHANNEL_LAST if channel_last else NN.FlattenLayerParams.CHANNEL_FIRST
    return layer


def reshape(name: str, inp: str, out: str, target_chw: Sequence[int], channel_last: bool) -> Layer:
    layer = new_layer(name, [inp], [out])
    layer.reshape.targetShape.extend([int(s) for s in target_chw])
    layer.reshape.mode = NN.ReshapeLayerParams.CHANNEL_LAST if channel_last else NN.ReshapeLayerParams.CHANNEL_FIRST
    return layer


def permute(name: str, inp: str, out: str, axis: Sequence[int]) -> Layer:
    layer = new_layer(name, [inp], [out])
    layer.permute.axis.extend([int(a) for a in axis])
    return layer


def padding(name: str, inp: str, out: str, pads: Pads, value: float = 0.0) -> Layer:
    layer = new_layer(name, [inp], [out])
    layer.padding.constant.value = float(value)
    _border(layer.padding.paddingAmounts, pads)
    return layer


def crop(name: str, inp: str, out: str, pads: Pads) -> Layer:
    layer = new_layer(name, [inp], [out])
    _border(layer.crop.cropAmounts, pads)
    return layer


def upsample(name: str, inp: str, out: str, factors: tuple[int, int], bilinear: bool = False) -> Layer:
    """upsample by integer ``factors`` (h, w); bilinear uses half-pixel centres (ALIGN_CORNERS_FALSE)."""
    layer = new_layer(name, [inp], [out])
    p = layer.upsample
    p.scalingFactor.extend([int(f) for f in factors])
    if bilinear:
        p.mode = NN.UpsampleLayerParams.BILINEAR
        p.linearUpsampleMode = NN.UpsampleLayerParams.ALIGN_CORNERS_FALSE
    return layer


# ---------------------------------------------------------------- several inputs


ELEMENTWISE = {"add": "add", "multiply": "multiply", "average": "average", "max": "max", "min": "min"}


def elementwise(kind: str, name: str, inputs: Sequence[str], out: str) -> Layer:
    """add / multiply / average / max / min over two or more same-shaped inputs."""
    layer = new_layer(name, inputs, [out])
    getattr(layer, ELEMENTWISE[kind]).SetInParent()
    return layer


def concat(name: str, inputs: Sequence[str], out: str) -> Layer:
    """concat along C."""
    layer = new_layer(name, inputs, [out])
    layer.concat.sequenceConcat = False
    return layer


# ---------------------------------------------------------------- specification versions

IOS14_LAYERS = {"gelu"}


def min_spec_version(layer: Layer) -> int:
    """The lowest specificationVersion that accepts ``layer`` (4: iOS 13, 5: iOS 14)."""
    kind = layer.WhichOneof("layer")
    if kind in IOS14_LAYERS:
        return 5
    if kind == "upsample" and (layer.upsample.linearUpsampleMode or len(layer.upsample.fractionalScalingFactor)):
        return 5
    return 4
