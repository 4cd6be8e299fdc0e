"""Apple's input/output counts and activations of the recurrent layers (NeuralNetworkLayerValidator.cpp)."""
from __future__ import annotations

import pytest

from ground.protos import Model_pb2
from ground.rules import violations


def _spec(kind: str, inputs: int, outputs: int, activations: list[str]) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    x = spec.description.input.add()
    x.name = "x"
    x.type.multiArrayType.dataType = 65568
    x.type.multiArrayType.shape.extend([4])
    layer = spec.neuralNetwork.layers.add()
    layer.name = "rnn"
    layer.input.extend(["x"] + [f"s{i}" for i in range(1, inputs)])
    layer.output.extend([f"o{i}" for i in range(outputs)])
    params = getattr(layer, kind)
    if kind == "simpleRecurrent":
        fields = [params.activation]
    elif kind == "biDirectionalLSTM":
        fields = [params.activationsForwardLSTM.add() for _ in activations] + \
                 [params.activationsBackwardLSTM.add() for _ in activations]
        activations = activations * 2
    else:
        fields = [params.activations.add() for _ in activations]
    for field, name in zip(fields, activations):
        getattr(field, name).SetInParent()
    for i in range(1, inputs):                  # initial states fed as model inputs
        s = spec.description.input.add()
        s.name = f"s{i}"
        s.type.multiArrayType.dataType = 65568
        s.type.multiArrayType.shape.extend([4])
    out = spec.description.output.add()
    out.name = "o0"
    out.type.multiArrayType.dataType = 65568
    return spec


def _recurrent_messages(spec) -> list[str]:
    return [v.message for v in violations(spec) if v.where.startswith("layer 'rnn'")]


@pytest.mark.parametrize("kind,inputs,outputs,acts", [
    ("uniDirectionalLSTM", 1, 3, ["sigmoid", "tanh", "tanh"]), ("uniDirectionalLSTM", 3, 3, ["sigmoid"] * 3),
    ("gru", 1, 2, ["sigmoid", "tanh"]), ("gru", 2, 2, ["sigmoidHard", "ReLU"]),
    ("simpleRecurrent", 2, 2, ["linear"]), ("biDirectionalLSTM", 5, 5, ["sigmoid", "tanh", "scaledTanh"])])
def test_what_apple_accepts(kind, inputs, outputs, acts):
    assert _recurrent_messages(_spec(kind, inputs, outputs, acts)) == []


@pytest.mark.parametrize("kind,inputs,outputs,acts,message", [
    ("uniDirectionalLSTM", 1, 1, ["sigmoid", "tanh", "tanh"],
     "Layer 'rnn' of type 28 has 1 outputs but expects exactly 3."),
    ("uniDirectionalLSTM", 4, 3, ["sigmoid", "tanh", "tanh"],
     "Layer 'rnn' of type 28 has 4 inputs but expects at most 3."),
    ("uniDirectionalLSTM", 1, 3, ["sigmoid", "tanh"], "Unidirectional LSTM layer:rnn must provide 3 activations"),
    ("gru", 1, 1, ["sigmoid", "tanh"], "Layer 'rnn' of type 27 has 1 outputs but expects exactly 2."),
    ("gru", 1, 2, ["sigmoid", "softsign"],
     "Recurrent non-linearity type MLActivationParamsNonlinearityType_softsign is not supported in this version of CoreML."),
    ("simpleRecurrent", 1, 2, ["tanh"], "Layer 'rnn' of type 26 has 1 inputs but expects exactly 2."),
    ("biDirectionalLSTM", 1, 3, ["sigmoid", "tanh", "tanh"],
     "Layer 'rnn' of type 29 has 3 outputs but expects exactly 5."),
    ("biDirectionalLSTM", 1, 5, ["sigmoid", "tanh"], "Bidirectional LSTM layer:rnn forward lstm must provide 3 "
                                                     "activations"),
])
def test_apples_messages(kind, inputs, outputs, acts, message):
    assert message in _recurrent_messages(_spec(kind, inputs, outputs, acts))
