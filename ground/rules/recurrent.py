"""Rule 4, the recurrent layers' part of ``NeuralNetworkLayerValidator.cpp``: input and output counts and
activations of ``simpleRecurrent``, ``gru``, ``uniDirectionalLSTM`` and ``biDirectionalLSTM``.

Quoted messages are Apple's, word for word (the layer's type is printed as its field number in
``NeuralNetworkLayer``, as Apple's ``layer_case()`` does).
"""
from __future__ import annotations

from typing import Any

from ..errors import RuleViolation

from .. import nn_spec as S

COUNTS = {  # type: (field number, inputs min, max, outputs)
    "simpleRecurrent": (26, 2, 2, 2), "gru": (27, 1, 2, 2), "uniDirectionalLSTM": (28, 1, 3, 3),
    "biDirectionalLSTM": (29, 1, 5, 5)}
RECURRENT_ACTIVATIONS = ("linear", "sigmoid", "tanh", "scaledTanh", "sigmoidHard", "ReLU")


def _count(layer: Any, what: str, have: int, lo: int, hi: int, case: int) -> str | None:
    head = f"Layer '{layer.name}' of type {case} has {have} {what}"
    if lo == hi and have != lo:
        return f"{head} but expects exactly {lo}."
    if have < lo:
        return f"{head} but expects at least {lo}."
    if have > hi:
        return f"{head} but expects at most {hi}."
    return None


def _activations(layer: Any) -> tuple[list, list[str]]:
    """The layer's activation messages, and Apple's messages for a wrong number of them."""
    k = S.kind(layer)
    if k == "simpleRecurrent":
        return [layer.simpleRecurrent.activation], []
    if k == "gru":
        return list(layer.gru.activations), []
    if k == "uniDirectionalLSTM":
        acts = list(layer.uniDirectionalLSTM.activations)
        return acts, [] if len(acts) == 3 else [f"Unidirectional LSTM layer:{layer.name} must provide 3 activations"]
    p = layer.biDirectionalLSTM
    wrong = [f"Bidirectional LSTM layer:{layer.name} {side} lstm must provide 3 activations"
             for side, acts in (("forward", p.activationsForwardLSTM), ("backward", p.activationsBackwardLSTM))
             if len(acts) != 3]
    return list(p.activationsForwardLSTM) + list(p.activationsBackwardLSTM), wrong


def recurrent(spec: Any) -> list[RuleViolation]:
    """Apple's input/output counts and recurrent activations for every recurrent layer of ``spec``."""
    out = []
    for layer in S.nn_of(spec).layers:
        k = S.kind(layer)
        if k not in COUNTS:
            continue
        case, lo, hi, outputs = COUNTS[k]
        where = f"layer '{layer.name}'"
        problems = [_count(layer, "inputs", len(layer.input), lo, hi, case),
                    _count(layer, "outputs", len(layer.output), outputs, outputs, case)]
        acts, wrong = _activations(layer)
        for act in acts:
            name = act.WhichOneof("NonlinearityType")
            if name not in RECURRENT_ACTIVATIONS:
                problems.append(f"Recurrent non-linearity type {name} is not supported in this version of CoreML.")
        for problem in [p for p in problems if p] + wrong:
            out.append(RuleViolation("4", problem, where=where,
                                     fix=f"a {k} layer takes inputs (x{', initial states' if hi > 1 else ''}: {lo}-{hi}),"
                                         f" {outputs} outputs (y and the final states) and linear, sigmoid, tanh, "
                                         "ReLU, scaled tanh or hard sigmoid activations"))
    return out
