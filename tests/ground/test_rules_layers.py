"""Apple's per-layer rules (NeuralNetworkLayerValidator.cpp): one valid layer per type, then one mutation per
rule that breaks exactly that rule, matched against Apple's message."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from ground.protos import Model_pb2, NeuralNetwork_pb2 as NN
from ground.rules import pass_structure, violations
from ground.rules import layers as L
from ground.spec_io import read_spec

ROOT = Path(__file__).resolve().parents[2]


def _layer(kind: str, inputs=("x",), outputs=("y",)) -> Any:
    layer = NN.NeuralNetworkLayer(name="L")
    layer.input.extend(inputs)
    layer.output.extend(outputs)
    getattr(layer, kind).SetInParent()
    return layer


def _floats(wp: Any, n: int) -> None:
    wp.ClearField("floatValue")
    wp.floatValue.extend([0.5] * n)


def _f16(wp: Any, n: int) -> None:
    wp.ClearField("floatValue")
    wp.float16Value = b"\x00\x3c" * n


def _quant(wp: Any, n_bytes: int, bits: int = 8, scale: int = 1, lut: int | None = None) -> None:
    wp.ClearField("floatValue")
    wp.rawValue = b"\x01" * n_bytes
    wp.quantization.numberOfBits = bits
    if lut is None:
        wp.quantization.linearQuantization.scale.extend([1.0] * scale)
    else:
        wp.quantization.lookupTableQuantization.floatValue.extend([0.0] * lut)


def _int8(wp: Any, bits: int = 8, scale: int = 1, bias: int = 0, lut: bool = False) -> None:
    wp.ClearField("floatValue")
    wp.int8RawValue = b"\x01" * 12
    wp.quantization.numberOfBits = bits
    if lut:
        wp.quantization.lookupTableQuantization.floatValue.extend([0.0] * 2 ** bits)
    else:
        wp.quantization.linearQuantization.scale.extend([1.0] * scale)
        wp.quantization.linearQuantization.bias.extend([0.0] * bias)


def conv(deconv: bool = False) -> Any:
    layer = _layer("convolution")
    p = layer.convolution
    p.outputChannels, p.kernelChannels, p.nGroups = (4, 3, 2) if deconv else (2, 3, 1)
    p.isDeconvolution = deconv
    p.kernelSize.extend([3, 3])
    p.valid.paddingAmounts.borderAmounts.add()
    p.valid.paddingAmounts.borderAmounts.add()
    _floats(p.weights, 54)
    p.hasBias = True
    _floats(p.bias, p.outputChannels)
    return layer


def _matrix(kind: str, n_bias: int, **sizes: int) -> Any:
    """A ``kind`` layer with ``sizes`` set, weights of their product and (``n_bias``) a bias."""
    layer = _layer(kind)
    p = getattr(layer, kind)
    n = 1
    for field, value in sizes.items():
        setattr(p, field, value)
        n *= value
    _floats(p.weights, n)
    if n_bias:
        p.hasBias = True
        _floats(p.bias, n_bias)
    return layer


def inner() -> Any:
    return _matrix("innerProduct", 3, inputChannels=4, outputChannels=3)


def batchnorm() -> Any:
    layer = _layer("batchnorm")
    layer.batchnorm.channels = 3
    for f in ("gamma", "beta", "mean", "variance"):
        _floats(getattr(layer.batchnorm, f), 3)
    return layer


def bias() -> Any:
    layer = _layer("bias")
    layer.bias.shape.extend([3])
    _floats(layer.bias.bias, 3)
    return layer


def scale() -> Any:
    layer = _layer("scale")
    p = layer.scale
    p.shapeScale.extend([3])
    _floats(p.scale, 3)
    p.hasBias = True
    p.shapeBias.extend([1])
    _floats(p.bias, 1)
    return layer


def load_constant() -> Any:
    layer = _layer("loadConstant", inputs=())
    layer.loadConstant.shape.extend([1, 2, 2])
    _floats(layer.loadConstant.data, 4)
    return layer


def load_constant_nd() -> Any:
    layer = _layer("loadConstantND", inputs=())
    layer.loadConstantND.shape.extend([2, 2])
    _floats(layer.loadConstantND.data, 4)
    return layer


def embedding(nd: bool = False) -> Any:
    if nd:
        return _matrix("embeddingND", 0, vocabSize=5, embeddingSize=2)
    return _matrix("embedding", 2, inputDim=5, outputChannels=2)


def simple_rnn() -> Any:
    layer = _layer("simpleRecurrent", inputs=("x", "h0"), outputs=("y", "h1"))
    p = layer.simpleRecurrent
    p.inputVectorSize, p.outputVectorSize, p.hasBiasVector = 3, 2, True
    _floats(p.weightMatrix, 6)
    _floats(p.recursionMatrix, 4)
    _floats(p.biasVector, 2)
    p.activation.sigmoid.SetInParent()
    return layer


def gru() -> Any:
    layer = _layer("gru", outputs=("y", "h1"))
    p = layer.gru
    p.inputVectorSize, p.outputVectorSize, p.hasBiasVectors = 3, 2, True
    for g in ("update", "reset", "output"):
        _floats(getattr(p, f"{g}GateWeightMatrix"), 6)
        _floats(getattr(p, f"{g}GateRecursionMatrix"), 4)
        _floats(getattr(p, f"{g}GateBiasVector"), 2)
    p.activations.add().sigmoid.SetInParent()
    p.activations.add().tanh.SetInParent()
    return layer


LSTM_STEMS = ("inputGate", "forgetGate", "blockInput", "outputGate")


def _lstm_weights(w: Any, params: Any, x: int = 3, h: int = 2) -> None:
    for s in LSTM_STEMS:
        _floats(getattr(w, f"{s}WeightMatrix"), h * x)
        _floats(getattr(w, f"{s}RecursionMatrix"), h * h)
        _floats(getattr(w, f"{s}BiasVector"), h)
    for s in ("inputGate", "forgetGate", "outputGate"):
        _floats(getattr(w, f"{s}PeepholeVector"), h)
    params.hasBiasVectors = params.hasPeepholeVectors = True


def _acts(field: Any) -> None:
    field.add().sigmoid.SetInParent()
    field.add().tanh.SetInParent()
    field.add().tanh.SetInParent()


def lstm() -> Any:
    layer = _layer("uniDirectionalLSTM", outputs=("y", "h1", "c1"))
    p = layer.uniDirectionalLSTM
    p.inputVectorSize, p.outputVectorSize = 3, 2
    _lstm_weights(p.weightParams, p.params)
    _acts(p.activations)
    return layer


def bilstm() -> Any:
    layer = _layer("biDirectionalLSTM", outputs=("y", "h1", "c1", "h1b", "c1b"))
    p = layer.biDirectionalLSTM
    p.inputVectorSize, p.outputVectorSize = 3, 2
    for _ in range(2):
        _lstm_weights(p.weightParams.add(), p.params)
    _acts(p.activationsForwardLSTM)
    _acts(p.activationsBackwardLSTM)
    return layer


def activation(kind: str = "ReLU") -> Any:
    layer = _layer("activation")
    getattr(layer.activation, kind).SetInParent()
    if kind == "PReLU":
        _floats(layer.activation.PReLU.alpha, 3)
    if kind == "parametricSoftplus":
        _floats(layer.activation.parametricSoftplus.alpha, 3)
        _floats(layer.activation.parametricSoftplus.beta, 3)
    return layer


def simple(kind: str, **fields: Any) -> Callable[[], Any]:
    """A layer of ``kind`` with repeated / scalar ``fields`` set (nested fields as 'a__b')."""
    def build() -> Any:
        layer = _layer(kind, inputs=fields.get("_inputs", ("x",)), outputs=fields.get("_outputs", ("y",)))
        for key, value in fields.items():
            if key.startswith("_"):
                continue
            target = getattr(layer, kind)
            *path, last = key.split("__")
            for part in path:
                target = getattr(target, part)
            if isinstance(value, list):
                getattr(target, last).extend(value)
            elif value is None:
                getattr(target, last).SetInParent()
            else:
                setattr(target, last, value)
        return layer
    return build


def pooling() -> Any:
    layer = _layer("pooling")
    layer.pooling.valid.SetInParent()
    return layer


def padding() -> Any:
    layer = _layer("padding")
    layer.padding.constant.SetInParent()
    for _ in range(2):
        layer.padding.paddingAmounts.borderAmounts.add()
    return layer


def crop(two: bool = False) -> Any:
    layer = _layer("crop", inputs=("x", "ref") if two else ("x",))
    if two:
        layer.crop.offset.extend([0, 0])
    else:
        for _ in range(2):
            layer.crop.cropAmounts.borderAmounts.add()
    return layer


def batched_matmul() -> Any:
    return _matrix("batchedMatmul", 0, weightMatrixFirstDimension=4, weightMatrixSecondDimension=3)


def layer_norm() -> Any:
    layer = _layer("layerNormalization")
    p = layer.layerNormalization
    p.normalizedShape.extend([3])
    _floats(p.gamma, 3)
    _floats(p.beta, 3)
    return layer


def with_tensors(build: Callable[[], Any], rank_in: int, rank_out: int) -> Callable[[], Any]:
    def built() -> Any:
        layer = build()
        for _ in layer.input:
            layer.inputTensor.add().rank = rank_in
        for _ in layer.output:
            layer.outputTensor.add().rank = rank_out
        return layer
    return built


BASES: dict[str, Callable[[], Any]] = {
    "conv": conv, "deconv": lambda: conv(True), "inner": inner, "batchnorm": batchnorm, "bias": bias,
    "scale": scale, "loadConstant": load_constant, "loadConstantND": load_constant_nd, "embedding": embedding,
    "embeddingND": lambda: embedding(True), "simpleRNN": simple_rnn, "gru": gru, "lstm": lstm, "bilstm": bilstm,
    "relu": activation, "prelu": lambda: activation("PReLU"), "softplusP": lambda: activation("parametricSoftplus"),
    "pooling": pooling, "padding": padding, "lrn": simple("lrn", k=1.0),
    "upsample": simple("upsample", scalingFactor=[2, 2]),
    "upsampleFrac": simple("upsample", fractionalScalingFactor=[1.5, 1.5], mode=1, linearUpsampleMode=1),
    "reshape": simple("reshape", targetShape=[1, 2, 3]), "permute": simple("permute", axis=[0, 2, 3, 1]),
    "reduce": with_tensors(simple("reduce", axis=0), 3, 3), "reorganize": simple("reorganizeData", blockSize=2),
    "slice": with_tensors(simple("slice", stride=1, startIndex=0, endIndex=-1), 3, 3),
    "crop": crop, "crop2": lambda: crop(True), "resizeBilinear": simple("resizeBilinear", targetSize=[2, 2]),
    "cropResize": simple("cropResize", _inputs=("x", "boxes")), "copy": simple("copy"),
    "transpose": simple("transpose", axes=[0, 2, 1]), "clip": simple("clip", minVal=0.0, maxVal=6.0),
    "concatND": with_tensors(simple("concatND", axis=-1, _inputs=("x", "z")), 3, 3),
    "softmaxND": with_tensors(simple("softmaxND", axis=-1), 4, 4),
    "flattenTo2D": with_tensors(simple("flattenTo2D", axis=1), 4, 2),
    "reshapeStatic": simple("reshapeStatic", targetShape=[2, 3]),
    "splitND": simple("splitND", numSplits=2, _outputs=("y", "y2")),
    "sliceStatic": simple("sliceStatic", beginIds=[0], endIds=[1], strides=[1], beginMasks=[False],
                          endMasks=[False]),
    "reverse": with_tensors(simple("reverse", reverseDim=[True, False]), 2, 2),
    "expandDims": with_tensors(simple("expandDims", axes=[0]), 2, 3),
    "squeeze": with_tensors(simple("squeeze", axes=[-1]), 3, 2), "batchedMatmul": batched_matmul,
    "layerNorm": layer_norm, "custom": simple("custom", className="MyLayer"), "gelu": simple("gelu"),
    "add": simple("add", _inputs=("x", "z")),
}


@pytest.mark.parametrize("base", sorted(BASES))
def test_valid_layers_have_no_problem(base):
    assert L.layer_problems(BASES[base](), nd=True) == []


def _set(path: str, value: Any) -> Callable[[Any], None]:
    def mutate(layer: Any) -> None:
        target = getattr(layer, L.S.kind(layer))
        *parts, last = path.split(".")
        for part in parts:
            target = getattr(target, part)
        if isinstance(value, list):
            target.ClearField(last)
            getattr(target, last).extend(value)
        else:
            setattr(target, last, value)
    return mutate


def _clear(path: str) -> Callable[[Any], None]:
    def mutate(layer: Any) -> None:
        target = getattr(layer, L.S.kind(layer))
        *parts, last = path.split(".")
        for part in parts:
            target = getattr(target, part)
        target.ClearField(last)
    return mutate


def _wp(path: str, fill: Callable[..., None], *args: Any, **kw: Any) -> Callable[[Any], None]:
    def mutate(layer: Any) -> None:
        target = getattr(layer, L.S.kind(layer))
        for part in path.split("."):
            target = target[int(part)] if part.isdigit() else getattr(target, part)
        fill(target, *args, **kw)
    return mutate


def _both(*mutations: Callable[[Any], None]) -> Callable[[Any], None]:
    def mutate(layer: Any) -> None:
        for m in mutations:
            m(layer)
    return mutate


def _io(inputs=None, outputs=None) -> Callable[[Any], None]:
    def mutate(layer: Any) -> None:
        if inputs is not None:
            del layer.input[:]
            layer.input.extend(inputs)
        if outputs is not None:
            del layer.output[:]
            layer.output.extend(outputs)
    return mutate


def _second_storage(path: str) -> Callable[[Any], None]:
    """Fill float16 beside float32: Apple's 'more than one storage' (UNSPECIFIED)."""
    def mutate(layer: Any) -> None:
        target = getattr(layer, L.S.kind(layer))
        for part in path.split("."):
            target = getattr(target, part)
        target.float16Value = b"\x00\x3c"
    return mutate


# (base, mutation, Apple's message)
CASES: list[tuple[str, Callable[[Any], None], str]] = [
    # input / output counts (validateInputCount / validateOutputCount; the type as its field number)
    ("inner", _io(inputs=["x", "z"]), "Layer 'L' of type 140 has 2 inputs but expects exactly 1."),
    ("inner", _io(outputs=[]), "Layer 'L' of type 140 has 0 outputs but expects exactly 1."),
    ("conv", _io(inputs=["x", "w", "b"]), "Layer 'L' of type 100 has 3 inputs but expects at most 2."),
    ("add", _io(inputs=[]), "Layer 'L' of type 230 has 0 inputs but expects at least 1."),
    ("concatND", _io(inputs=["x"]), "Layer 'L' of type 980 has 1 inputs but expects at least 2."),
    ("splitND", _io(outputs=["y"]), "Layer 'L' of type 975 has 1 outputs but expects at least 2."),
    ("lstm", _io(outputs=["y"]), "Layer 'L' of type 420 has 1 outputs but expects exactly 3."),
    ("bilstm", _io(inputs=list("abcdef")), "Layer 'L' of type 430 has 6 inputs but expects at most 5."),
    ("simpleRNN", _io(inputs=["x"]), "Layer 'L' of type 400 has 1 inputs but expects exactly 2."),
    ("gru", _io(outputs=["y"]), "Layer 'L' of type 410 has 1 outputs but expects exactly 2."),
    ("gelu", _io(inputs=["x", "z"]), "Layer 'L' of type 795 has 2 inputs but expects exactly 1."),
    ("transpose", _io(outputs=["y", "z"]), "Layer 'L' of type 985 has 2 outputs but expects exactly 1."),
    ("clip", _io(inputs=[]), "Layer 'L' of type 660 has 0 inputs but expects exactly 1."),
    ("crop", _io(inputs=["x", "a", "b"]), "Layer 'L' of type 190 has 3 inputs but expects at most 2."),
    # convolution
    ("conv", _clear("valid"), "Padding type for convolution layer 'L' is not set."),
    ("deconv", _io(inputs=["x", "w"]), "Deconvolution Layer 'L' does not support weight as input tensor."),
    ("conv", _both(_io(inputs=["x", "w"]), _set("dilationFactor", [2, 2])),
     "Convolution layer: 'L' , dilated convolution does not support weight as input tensor."),
    ("conv", _second_storage("weights"), "Convolution layer 'L'  has invalid weights/bias fields."),
    ("conv", _wp("bias", _f16, 2), "Convolution layer Lhas unmatched precisions of weights/bias They should either "
                                   "be half or full precision."),
    ("conv", _wp("weights", _floats, 53), "Convolution layer 'L' has weight matrix of size 53 to encode a "
                                          "2 × 3 × 3 × 3 convolution."),
    ("conv", _set("kernelSize", [1]), "Convolution layer 'L' has weight matrix of size 54 to encode a "
                                      "2 × 3 × 1 × 3 convolution."),      # an unset kernel side is 3
    ("deconv", _wp("weights", _floats, 72), "Deconvolution layer 'L' has weight matrix of size 72 to encode a "
                                            "3 × 2 × 3 × 3 convolution."),
    ("conv", _wp("bias", _floats, 3), "Convolution layer 'L' has a bias vector of size 3 but should be 2."),
    ("conv", _clear("weights"), "Layer Lhas not specified weights."),
    ("conv", _clear("bias"), "Layer Lhas not specified bias."),
    ("conv", _wp("weights", _quant, 53), "ConvolutionLayer 'L' has insufficient bytes for quantized weight with "
                                         "54units."),
    ("conv", _wp("weights", _quant, 54, scale=3), "ConvolutionLayer 'L' has invalid quantization parameters for "
                                                  "quantized weight."),
    ("conv", _wp("weights", _quant, 27, bits=4, lut=8), "ConvolutionLayer 'L' has invalid quantization parameters "
                                                        "for quantized weight."),
    ("conv", _wp("weights", _quant, 61, bits=9), "ConvolutionLayer 'L' has invalid quantization parameters for "
                                                 "quantized weight."),
    # innerProduct / batchedMatmul
    ("inner", _second_storage("bias"), "Inner product layer 'L' has invalid weights/bias fields."),
    ("inner", _wp("weights", _f16, 12), "Inner product layer 'Lhas unmatched precisions of weights/bias They "
                                        "should either be half or full precision."),
    ("inner", _set("inputChannels", 5), "Layer 'L has incorrect weight matrix size 12 to encode a 5 × 3 Inner "
                                        "product."),
    ("inner", _wp("bias", _floats, 4), "Layer 'L' has incorrect bias vector size 4 (expected 3)."),
    ("inner", _wp("bias", _quant, 2), "Inner productLayer 'L' has insufficient bytes for quantized bias with 3units."),
    ("inner", _set("int8DynamicQuantize", True), "Layer 'L' of type 'InnerProduct : when flag 'int8DynamicQuantize' "
                                                 "is set to true, weights must be stored in the int8 format."),
    ("batchedMatmul", _set("weightMatrixSecondDimension", 4), "Layer 'L has incorrect weight matrix size 12 to "
                                                              "encode a 4 × 4 BatchedMatMul."),
    ("batchedMatmul", _both(_io(inputs=["x", "z"]), _set("hasBias", True)),
     "BatchedMatMul layer 'L': has two inputs and 'hasBias' flag is set to True.However, bias is only supported "
     "when the layer has 1 input."),
    ("inner", _both(_set("int8DynamicQuantize", True), _wp("weights", _int8, bits=4)),
     "Layer 'L' of type 'InnerProduct : Number of bits must equal 8 when flag 'int8DynamicQuantize' is set to true."),
    ("inner", _both(_set("int8DynamicQuantize", True), _wp("weights", _int8, lut=True)),
     "Layer 'L' of type 'InnerProduct : Linear quantization must be used when flag 'int8DynamicQuantize' is set to "
     "true."),
    ("inner", _both(_set("int8DynamicQuantize", True), _wp("weights", _int8, scale=3)),
     "Layer 'L' of type 'InnerProduct : Linear quantization scale must be size 1 when flag 'int8DynamicQuantize' is "
     "set to true."),
    ("inner", _both(_set("int8DynamicQuantize", True), _wp("weights", _int8, bias=1)),
     "Layer 'L' of type 'InnerProduct : Linear quantization bias must be empty when flag 'int8DynamicQuantize' is "
     "set to true."),
    ("batchedMatmul", _both(_io(inputs=["x", "z"]), _set("int8DynamicQuantize", True)),
     "BatchedMatMul layer 'L': cannot use dynamic quantization with 2 inputs."),
    ("conv", _wp("bias", _quant, 1, bits=8), "ConvolutionLayer 'L' has insufficient bytes for quantized bias with "
                                             "2units."),
    ("gru", _second_storage("updateGateWeightMatrix"), "GRULayer 'L' has unspecified update gate weight matrix."),
    # batchnorm
    ("batchnorm", _wp("mean", _f16, 3), "Batchnorm layer 'L' parameters have values for both full and half "
                                        "precision. Parameters should either be specified in half or full "
                                        "precision, mixed parameters are not supported."),
    ("batchnorm", _wp("gamma", _floats, 4), "BatchNormLayer 'L' has incorrect gamma size 4 (expected 3)."),
    ("batchnorm", _clear("beta"), "BatchNormLayer 'L' has empty beta."),
    ("batchnorm", _clear("mean"), "Batchnorm layer 'L' is missing mean and variance."),
    ("batchnorm", _wp("variance", _floats, 2), "BatchNormLayer 'L' has incorrect variance size 2 (expected 3)."),
    # bias, scale, loadConstant(ND)
    ("bias", _second_storage("bias"), "Bias product layer 'L' has both full precision and half precision weights "
                                      "and/or bias fields populated"),
    ("bias", _set("shape", [1, 3]), "Bias layer 'L' cannot be 2 dimensional. Must be 1D or 3D."),
    ("bias", _set("shape", [3, 2, 2]), "BiasLayer 'L' has incorrect bias size 3 (expected 12)."),
    ("scale", _wp("bias", _f16, 1), "Scale layer 'L' has invalid scale/bias fields. Field value types should match "
                                    "and should either be half or full precision."),
    ("scale", _second_storage("scale"), "Scale layer 'L' has invalid scale/bias fields."),
    ("scale", _set("shapeScale", [3, 1]), "The shape vector for the scale layer 'L' is 2 dimensional but should be "
                                          "1D or 3D."),
    ("scale", _set("shapeScale", [4]), "ScaleLayer 'L' has incorrect scale size 3 (expected 4)."),
    ("scale", _set("shapeBias", []), "The bias vector for scale layer 'L' is 0 dimensional but should be either 1D "
                                     "or 3D."),
    ("scale", _set("shapeBias", [3]), "ScaleLayer 'L' has incorrect bias size 1 (expected 3)."),
    ("loadConstant", _set("shape", [4]), "Load constant layer 'L' must be a 3D constant."),
    ("loadConstant", _set("shape", [1, 2, 3]), "LoadConstantLayer 'L' has incorrect constants size 4 (expected 6)."),
    ("loadConstant", _second_storage("data"), "Load constant layer 'L' has both full precision and half precision "
                                              "weight fields populated"),
    ("loadConstantND", _set("shape", []), "Target shape is required parameter for 'L' layer."),
    ("loadConstantND", _set("shape", [1, 1, 1, 1, 2, 2]), "LoadConstantND layer 'L'can only accept shape of length "
                                                          "1 to 5"),
    ("loadConstantND", _set("shape", [3, 2]), "LoadConstantNDLayer 'L' has incorrect constants size 4 (expected 6)."),
    # embedding / embeddingND
    ("embedding", _set("inputDim", 4), "EmbeddingLayer 'L' has incorrect weight size 10 (expected 8)."),
    ("embedding", _wp("bias", _floats, 3), "EmbeddingLayer 'L' has incorrect bias size 3 (expected 2)."),
    ("embedding", _second_storage("weights"), "Embedding 'L' has invalid weights/bias fields. Field value types "
                                              "should match and should either be half or full precision."),
    ("embedding", _wp("bias", _f16, 2), "Embedding layer 'Lhas unmatched precisions of weights/bias They should "
                                        "either be half or full precision."),
    ("embeddingND", _set("embeddingSize", 3), "EmbeddingNDLayer 'L' has incorrect weight size 10 (expected 15)."),
    ("embeddingND", _clear("weights"), "EmbeddingNDLayer 'L' has empty weight."),
    # recurrent layers
    ("simpleRNN", _wp("recursionMatrix", _f16, 4), "Simple recurrent layer 'L' has invalid weightMatrix/"
                                                   "recusionMatrix/Bias fields. Field value types should match and "
                                                   "should either be half or full precision."),
    ("simpleRNN", _second_storage("weightMatrix"), "Simple recurrent layer 'L' has invalid weightMatrix/"
                                                   "recusionMatrix/Bias fields."),
    ("simpleRNN", _set("inputVectorSize", 4), "SimpleRNNLayer 'L' has incorrect WeightMatrix size 6 (expected 8)."),
    ("simpleRNN", _wp("biasVector", _floats, 3), "SimpleRNNLayer 'L' has incorrect BiasVector size 3 (expected 2)."),
    ("simpleRNN", _wp("activation", lambda a: a.PReLU.SetInParent()),
     "Recurrent non-linearity type MLActivationParamsNonlinearityType_PReLU is not supported in this version of "
     "CoreML."),
    ("gru", _wp("resetGateBiasVector", _f16, 2), "GRU layer 'L' has invalid weight/recursion matrix or bias fields. "
                                                 "Field value types should match and should be either half or full "
                                                 "precision"),
    ("gru", _wp("resetGateWeightMatrix", _floats, 5), "GRULayer 'L' has incorrect reset gate weight matrix size 5 "
                                                      "(expected 6)."),
    ("gru", _wp("outputGateRecursionMatrix", _floats, 6), "GRULayer 'L' has incorrect output gate recursion matrix "
                                                          "size 6 (expected 4)."),
    ("gru", _wp("updateGateBiasVector", _floats, 1), "GRULayer 'L' has incorrect update gate bias vector size 1 "
                                                     "(expected 2)."),
    ("gru", _wp("activations.0", lambda a: a.ELU.SetInParent()),
     "Recurrent non-linearity type MLActivationParamsNonlinearityType_ELU is not supported in this version of "
     "CoreML."),
    ("lstm", _wp("weightParams.forgetGateBiasVector", _f16, 2), "LSTM weight parameters have inconsistent field "
                                                                "value types. Types should match and should be "
                                                                "either half or full precision"),
    ("lstm", _clear("activations"), "Unidirectional LSTM layer:L must provide 3 activations"),
    ("lstm", _set("inputVectorSize", 4), "Unidirectional LSTMLayer 'L' has incorrect input gate weight matrix size 6 "
                                         "(expected 8)."),
    ("lstm", _wp("weightParams.blockInputRecursionMatrix", _floats, 3),
     "Unidirectional LSTMLayer 'L' has incorrect block input gate recursion matrix size 3 (expected 4)."),
    ("lstm", _wp("weightParams.blockInputBiasVector", _floats, 3),
     "Unidirectional LSTMLayer 'L' has incorrect block input bias vector size 3 (expected 2)."),
    ("lstm", _wp("weightParams.forgetGatePeepholeVector", _floats, 3),
     "Unidirectional LSTMLayer 'L' has incorrect forget gate peep hole vector size 3 (expected 2)."),
    ("lstm", _wp("activations.2", lambda a: a.softsign.SetInParent()),
     "Recurrent non-linearity type MLActivationParamsNonlinearityType_softsign is not supported in this version of "
     "CoreML."),
    ("bilstm", _clear("activationsBackwardLSTM"), "Bidirectional LSTM layer:L backward lstm must provide 3 "
                                                  "activations"),
    ("bilstm", _wp("weightParams.1.outputGateWeightMatrix", _floats, 5),
     "Bidirectional LSTMLayer 'L' has incorrect backward output gate weight matrix size 5 (expected 6)."),
    ("bilstm", _wp("weightParams.0.blockInputBiasVector", _floats, 5),
     "Bidirectional LSTMLayer 'L' has incorrect forward block input bias vector size 5 (expected 2)."),
    ("bilstm", _wp("weightParams.1.inputGatePeepholeVector", _floats, 5),
     "Bidirectional LSTMLayer 'L' has incorrect backward input gate peephole vector size 5 (expected 2)."),
    ("bilstm", _clear("weightParams"), "biDirectionalLSTM layer 'L' has 0 weightParams"),
    # activations
    ("relu", _clear("ReLU"), "Nonlinearity type INVALID is not supported in this version of CoreML."),
    ("prelu", _second_storage("PReLU.alpha"), "Nonlinearity type MLActivationParamsNonlinearityType_PReLU has "
                                              "inconsistent weight parameter types."),
    ("softplusP", _wp("parametricSoftplus.beta", _f16, 3),
     "Nonlinearity type MLActivationParamsNonlinearityType_parametricSoftplus has inconsistent weight parameter "
     "types."),
    # other classic layers
    ("pooling", _clear("valid"), "Padding type for the pooling layer 'L' is not set."),
    ("padding", _wp("paddingAmounts", lambda p: p.borderAmounts.add()),
     "Padding layer L specifies 3 padding amounts but it must either specify 2 (for x and y axes), or 0 for the "
     "default values."),
    ("padding", _clear("constant"), "Padding layer L padding type is not set."),
    ("lrn", _set("k", -1.0), "Parameter 'K' for the LRN layer 'L' must be positive."),
    ("upsample", _set("scalingFactor", [2]), "Invalid scaling factor in upsampling layer 'L'. Only one of "
                                             "scalingFactor and fractionalScalingFactor can be set, and if set, must "
                                             "be of size 2. Found scalingFactor of size 1 and fractionalScalingFactor "
                                             "of size 0"),
    ("upsampleFrac", _set("linearUpsampleMode", 0), "Invalid upsample layer 'L'. Fractional upsample only compatible "
                                                    "with align_corners=true or align_corners=false"),
    ("upsample", _set("linearUpsampleMode", 1), "Layer 'L' of type Upsample uses Nearest Neighbors but uses linear "
                                                "upsampling mode other than DEFAULT."),
    ("reshape", _set("targetShape", [6]), "Reshape layer 'L' target shape must be 3D or 4D."),
    ("permute", _set("axis", [0, 1, 2]), "Permute layer 'L' must have 4D axis parameters."),
    ("reduce", lambda layer: setattr(layer.inputTensor[0], "rank", 2),
     "Reduce layer 'L': input's rank is smaller than the dimensions provided in the axis parameter"),
    ("reorganize", _set("blockSize", 1), "Block size for layer 'L' must be > 1."),
    ("slice", _set("stride", 0), "Stride length for the slice layer 'L' must be > 1."),
    ("slice", _both(_set("startIndex", 3), _set("endIndex", 2)), "Slice layer L has an end index before the start "
                                                                 "index."),
    ("slice", _set("axis", 7), "Slice layer: 'L': unknown value for parameter 'axis'."),
    ("slice", lambda layer: setattr(layer.inputTensor[0], "rank", 2),
     "Slice layer 'L': input's rank is smaller than the dimension provided in the axis parameter"),
    ("crop", _clear("cropAmounts"), "cropAmounts parameter for the crop layer 'L' is of length 0 but requires "
                                    "exactly two crop constraints (for X,Y axes)."),
    ("crop2", _set("offset", [1]), "Offset parameter for the crop layer 'L' is of length 1 but requires exactly two "
                                   "offsets (for X,Y axes)."),
    ("resizeBilinear", _set("targetSize", [2]), "Target Size in the resize bilinear layer 'L' must be a vector of "
                                                "size 2 (i.e height, width) but is a vector of size 1."),
    ("cropResize", _set("targetSize", [1, 2, 3]), "Target Size in the crop resize layer 'L' must be a vector of size "
                                                  "2 (i.e height, width) but is a vector of size 3."),
    ("copy", _io(outputs=["x"]), "Copy layer 'L' has identical input and output names."),
    ("custom", _set("className", ""), "Custom layer L has an empty 'className' field. This field is required in "
                                      "order for Core ML to link to the implementation for this custom class."),
    ("custom", lambda layer: layer.custom.weights.add(), "Custom layer L has a weights parameter with multiple "
                                                         "types filled in.  The WeightParams message should be "
                                                         "treated as a oneof."),
    # N-d layers
    ("transpose", _set("axes", []), "Axes are required parameters for 'L' layer."),
    ("clip", _set("minVal", 7.0), "Value of minval should be smaller than maxval for 'L' layer."),
    ("concatND", _set("axis", 3), "Value of axis must be in the range [-rank(tensor), rank(tensor)) for 'L' layer."),
    ("softmaxND", _set("axis", -5), "Value of axis must be in the range [-rank(tensor), rank(tensor)) for 'L' "
                                    "layer."),
    ("flattenTo2D", _set("axis", 4), "Value of axis must be in the range [-rank(tensor), rank(tensor)) for 'L' "
                                     "layer."),
    ("reshapeStatic", _set("targetShape", []), "Target shape is required parameter for 'L' layer."),
    ("splitND", _set("numSplits", 0), "Either split_sizes or num_splits should be provided for 'L' layer."),
    ("splitND", _set("numSplits", 3), "Value of num_splits should match size of output names for 'L' layer."),
    ("sliceStatic", _set("strides", []), "Strides are required parameters for 'L' layer."),
    ("sliceStatic", _set("endMasks", []), "End masks are required parameters for 'L' layer."),
    ("reverse", _set("reverseDim", [True]), "Invalid size of reverse_dim for 'L' layer."),
    ("expandDims", _set("axes", []), "ExpandDims Layer 'L': length of the 'axes' parameter cannot be 0."),
    ("expandDims", _set("axes", [1, 1]), "ExpandDims Layer 'L': all the values in the 'axes' parameter must be "
                                         "unique."),
    ("expandDims", _set("axes", [0, 1]), "ExpandDims Layer 'L': input rank plus the length of the axes parameter "
                                         "must equal output rank."),
    ("expandDims", _set("axes", [3]), "ExpandDims Layer 'L': axes refers to a dimension that exceeds the output "
                                      "rank."),
    ("squeeze", _set("axes", [0, 2]), "Squeeze Layer 'L': output rank plus the length of the axes parameter must "
                                      "equal input rank."),
    ("squeeze", _set("axes", [5]), "Squeeze Layer 'L': axes refers to a dimension that exceeds the input rank."),
    ("layerNorm", _set("normalizedShape", []), "Normalized shape is required parameter for 'L' layer."),
    ("layerNorm", _clear("beta"), "Beta is required parameter for 'L' layer."),
    ("layerNorm", _wp("gamma", _quant, 3), "Gamma and Beta should not be quantized for 'L' layer."),
    ("layerNorm", _wp("gamma", _floats, 4), "Shape of gamma should match normalized_shape for 'L' layer."),
    ("sliceStatic", _set("beginIds", []), "Begin IDs are required parameters for 'L' layer."),
    ("sliceStatic", _set("endIds", []), "End IDs are required parameters for 'L' layer."),
    ("sliceStatic", _set("beginMasks", []), "Begin masks are required parameters for 'L' layer."),
    ("expandDims", _both(_set("axes", [0, -3]), lambda layer: setattr(layer.inputTensor[0], "rank", 1)),
     "ExpandDims Layer 'L': axes parameter list cannot have the same value more than once."),
    ("squeeze", _set("axes", []), "Squeeze Layer 'L': length of the 'axes' parameter cannot be 0."),
    ("squeeze", _set("axes", [1, 1]), "Squeeze Layer 'L': all the values in the 'axes' parameter must be unique."),
    ("squeeze", _both(_set("axes", [2, -1]), lambda layer: setattr(layer.outputTensor[0], "rank", 1)),
     "Squeeze Layer 'L': axes parameter list cannot have the same value more than once."),
    ("layerNorm", _wp("beta", _floats, 2), "Shape of beta should match normalized_shape for 'L' layer."),
    ("layerNorm", _clear("gamma"), "Gamma is required parameter for 'L' layer."),
]


@pytest.mark.parametrize("base, mutate, expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_refuses_with_apples_message(base, mutate, expected):
    layer = BASES[base]()
    mutate(layer)
    found = [message for message, _ in L.layer_problems(layer, nd=True)]
    assert len(found) == 1 and found[0].startswith(expected), found


def _net(*layers: Any) -> Model_pb2.Model:
    spec = Model_pb2.Model(specificationVersion=4)
    for name in ("x",):
        f = spec.description.input.add(name=name)
        f.type.multiArrayType.shape.extend([4])
        f.type.multiArrayType.dataType = Model_pb2.ArrayFeatureType.FLOAT32
    out = spec.description.output.add(name="y")
    out.type.multiArrayType.dataType = Model_pb2.ArrayFeatureType.FLOAT32
    spec.neuralNetwork.layers.extend(layers)
    return spec


def test_validate_and_the_pass_pipeline_report_every_layer_together():
    a, b = inner(), inner()
    a.name, b.name = "first", "second"
    a.output[0], b.input[0] = "h", "h"
    spec = _net(a, b)
    assert [v for v in violations(spec) if v.where.startswith("layer")] == []
    a, b = spec.neuralNetwork.layers
    a.innerProduct.inputChannels = 5
    b.innerProduct.hasBias = False
    b.input.append("x")
    found = [(v.rule, v.where, v.message) for v in violations(spec)]
    assert found == [
        ("4", "layer 'first' (innerProduct)", "Layer 'first has incorrect weight matrix size 12 to encode a 5 × 3 "
                                              "Inner product."),
        ("4", "layer 'second' (innerProduct)", "Layer 'second' of type 140 has 2 inputs but expects exactly 1.")]
    assert [v.message for v in pass_structure(spec)] == [m for _, _, m in found]
    assert all(v.fix for v in violations(spec))


def test_unknown_layer_type_is_apples_error():
    layer = NN.NeuralNetworkLayer(name="L", input=["x"], output=["y"])
    assert L.layer_problems(layer, nd=False) == [(
        "Unsupported layer type (CoreML.Specification.NeuralNetworkLayer) for layer 'L'.", "set the layer's type")]


def test_counts_cover_every_layer_type_apple_knows():
    assert set(L.COUNTS) <= L.LAYER_TYPES and len(L.LAYER_TYPES) == 158
    # a bound of 0 is never enforced (Apple's helpers test `max > 0` / `min > 0`)
    assert L.layer_problems(load_constant(), nd=True) == []
    loop = _layer("loop", inputs=("a", "b"), outputs=())
    assert [m for m, _ in L.layer_problems(loop, nd=True)] == [
        "Layer 'L' of type 615 has 2 inputs but expects at most 1."]


def test_rank_dependent_rules_wait_for_stated_ranks():
    """Without inputTensor/outputTensor Apple (and this check) cannot know a rank: nothing is refused."""
    for build in (simple("concatND", axis=9, _inputs=("x", "z")), simple("expandDims", axes=[7]),
                  simple("reverse", reverseDim=[True]), simple("softmaxND", axis=-9)):
        assert L.layer_problems(build(), nd=True) == []


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("fixtures/**/*.mlmodel")))
def test_committed_fixture_models_pass_the_layer_rules(path):
    assert L.layer_params(read_spec(ROOT / path)) == []
