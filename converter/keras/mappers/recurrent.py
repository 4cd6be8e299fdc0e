"""Recurrent layers: LSTM -> uniDirectionalLSTM, GRU (reset_after=False) -> gru, SimpleRNN -> simpleRecurrent,
Bidirectional(LSTM) -> biDirectionalLSTM.

Core ML's recurrent layers read a rank-5 ``[Seq, Batch, C, 1, 1]`` blob; the project keeps a ``(T, F)``
sequence as ``[1, F, 1, T]`` (EXACT_ARRAY_MAPPING, see ground/layout.py). So each mapper moves time to
the sequence axis (transpose + expandDims), runs the recurrent layer, and brings its output back: the last
step as a ``[1, units, 1, 1]`` vector (squeeze), or every step as a ``[1, units, 1, T]`` sequence (transpose
+ squeeze). The transposes are iOS 13 layers, so a model with a recurrent layer declares its inputs with
EXACT_ARRAY_MAPPING. Core ML clips every gate's pre-activation to [-50, 50] (NeuralNetwork.proto); Keras does
not. Sigmoid and tanh are saturated there in float32, so only linear and ReLU activations can differ, and
only where a pre-activation leaves [-50, 50]: the conversion report says so. An LSTM's cell clip is set out
of reach (``coreml_layers.CELL_CLIP``).
"""
from __future__ import annotations

import numpy as np

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer
from ground import layout

ACTIVATIONS = {"tanh": "tanh", "sigmoid": "sigmoid", "relu": "ReLU", "linear": "linear", None: "linear"}
"""Keras activation -> Core ML recurrent activation (Core ML's recurrent layers take only these four here;
its sigmoidHard is 0.2x + 0.5, not Keras 3's hard_sigmoid x/6 + 0.5)."""


def _activation(layer: SourceLayer, ctx: MapContext, cfg: dict, key: str, default: str) -> str:
    name = cfg.get(key, default)
    ctx.require(name in ACTIVATIONS, layer, key,
                f"'{name}' has no Core ML recurrent equivalent (Core ML's recurrent layers take linear, sigmoid, "
                "tanh, ReLU, and scaled tanh / hard sigmoid with fixed constants)",
                "use tanh, sigmoid, relu or linear")
    if ACTIVATIONS[name] in ("linear", "ReLU"):
        ctx.note(layer, "note", f"{key} '{name or 'linear'}': Core ML clips each gate's pre-activation to [-50, 50] "
                                "(Keras does not), so outputs differ from Keras' where one leaves that range")
    return ACTIVATIONS[name]


def _check(layer: SourceLayer, ctx: MapContext, cfg: dict) -> None:
    """The options Core ML cannot express; ``cfg`` is the recurrent layer's config (a Bidirectional's inner one)."""
    ctx.require(not cfg.get("return_state"), layer, "return_state", "the final states are not mapped as outputs",
                "use return_state=False (return_sequences=False gives the last output)")
    ctx.require(not cfg.get("stateful"), layer, "stateful",
                "Core ML keeps no state between predictions", "use stateful=False")
    ctx.require(not (cfg.get("go_backwards") and cfg.get("return_sequences")), layer, "go_backwards",
                "Core ML does not document the order of a reversed layer's output sequence",
                "use go_backwards=False with return_sequences=True, or return_sequences=False")
    ctx.require(len(layer.input_shapes[0]) == 2, layer, "input shape",
                f"input shape {tuple(layer.input_shapes[0])}: a recurrent layer reads a (time, features) sequence",
                "feed a (T, F) sequence")


def _steps(layer: SourceLayer, ctx: MapContext) -> tuple[list, str]:
    """``[1, F, 1, T]`` -> ``[T, 1, F, 1, 1]``: time on Core ML's sequence axis."""
    t, f = (int(s) for s in layer.input_shapes[0])
    moved = ctx.tmp(layer, "time_first", (t, 1, f, 1))
    steps = ctx.tmp(layer, "steps", (t, 1, f, 1, 1))
    return [L.transpose(ctx.lname(layer, "time_first"), ctx.inp(layer).name, moved, [3, 0, 1, 2]),
            L.expand_dims(ctx.lname(layer, "steps"), moved, steps, [-1])], steps


def _outputs(layer: SourceLayer, ctx: MapContext, seq: bool, units: int, states: tuple[str, ...],
             state_units: int) -> tuple[list[str], list]:
    """The recurrent layer's output blobs (y, then its final states) and the layers bringing y back."""
    t = int(layer.input_shapes[0][0])
    y = ctx.tmp(layer, "y", (t if seq else 1, 1, units, 1, 1))
    names = [y] + [ctx.tmp(layer, s, (1, 1, state_units, 1, 1)) for s in states]
    if not seq:
        return names, [L.squeeze(ctx.lname(layer, "last"), y, ctx.out(layer), [0])]
    moved = ctx.tmp(layer, "time_last", (1, 1, units, 1, t))
    return names, [L.transpose(ctx.lname(layer, "time_last"), y, moved, [4, 1, 2, 3, 0]),
                   L.squeeze(ctx.lname(layer, "sequence"), moved, ctx.out(layer), [0])]


def _gates(layer: SourceLayer, cfg: dict, weights: list, count: int):
    """(W, R, b) per gate from a recurrent layer's weights in Keras' order (kernel, recurrent_kernel[, bias])."""
    bias = weights[2] if cfg.get("use_bias", True) else None
    return layout.recurrent_gates(weights[0], weights[1], bias, count)


def _one_way(layer: SourceLayer, ctx: MapContext, gate_count: int, states: tuple[str, ...], build) -> list:
    """A one-way recurrent layer: time moved onto the sequence axis, the layer ``build(steps, names, gates,
    sequence_output, reverse)`` returns, and its output brought back."""
    cfg = layer.config
    gates = _gates(layer, cfg, list(layer.weights.values()), gate_count)
    seq = bool(cfg.get("return_sequences"))
    into, steps = _steps(layer, ctx)
    units = int(gates[0][1].shape[0])
    names, back = _outputs(layer, ctx, seq, units, states, units)
    return into + build(steps, names, gates, seq, bool(cfg.get("go_backwards"))) + back


def _lstm_acts(layer: SourceLayer, ctx: MapContext, cfg: dict) -> tuple[str, str, str]:
    act = _activation(layer, ctx, cfg, "activation", "tanh")
    return _activation(layer, ctx, cfg, "recurrent_activation", "sigmoid"), act, act


@keras_layer("LSTM", coreml="uniDirectionalLSTM (+ transpose, expandDims, squeeze)",
             notes="return_sequences True/False, go_backwards with the last output; activations tanh, sigmoid, "
                   "relu, linear; frozen on device (EXACT_ARRAY_MAPPING)")
def map_lstm(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    _check(layer, ctx, cfg)
    acts = _lstm_acts(layer, ctx, cfg)
    return _one_way(layer, ctx, 4, ("h", "c"), lambda steps, names, gates, seq, reverse: [
        L.uni_lstm(layer.name, [steps], names, gates, activations=acts, sequence_output=seq, reverse=reverse)])


@keras_layer("GRU", coreml="gru (+ transpose, expandDims, squeeze)",
             notes="reset_after=False only (Keras 3 defaults to True, which Core ML's gru cannot express); "
                   "return_sequences True/False; frozen on device (EXACT_ARRAY_MAPPING)")
def map_gru(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    _check(layer, ctx, cfg)
    ctx.require(not cfg.get("reset_after", True), layer, "reset_after",
                "reset_after=True applies the reset gate after the recurrent matrix; Core ML's gru applies it before "
                "(Keras' reset_after=False), and no weights of one form compute the other",
                "build the GRU with GRU(..., reset_after=False) and train it again")
    acts = (_activation(layer, ctx, cfg, "recurrent_activation", "sigmoid"),
            _activation(layer, ctx, cfg, "activation", "tanh"))
    return _one_way(layer, ctx, 3, ("h",), lambda steps, names, gates, seq, reverse: [
        L.gru(layer.name, [steps], names, gates, activations=acts, sequence_output=seq, reverse=reverse)])


@keras_layer("SimpleRNN", coreml="simpleRecurrent (+ loadConstantND zeros, transpose, expandDims, squeeze)",
             notes="return_sequences True/False; the initial state Core ML requires is a constant of zeros; "
                   "frozen on device (EXACT_ARRAY_MAPPING)")
def map_simple_rnn(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    _check(layer, ctx, cfg)
    act = _activation(layer, ctx, cfg, "activation", "tanh")

    def build(steps: str, names: list[str], gates: list, seq: bool, reverse: bool) -> list:
        units = int(gates[0][1].shape[0])
        h0 = ctx.tmp(layer, "h0", (1, 1, units, 1, 1))
        zeros = L.load_constant_nd(ctx.lname(layer, "h0"), h0, np.zeros((1, 1, units, 1, 1), np.float32))
        return [zeros, L.simple_recurrent(layer.name, [steps, h0], names, gates[0], activation=act,
                                          sequence_output=seq, reverse=reverse)]
    return _one_way(layer, ctx, 1, ("h",), build)


@keras_layer("Bidirectional", coreml="biDirectionalLSTM (+ transpose, expandDims, squeeze)",
             notes="of an LSTM, merge_mode 'concat', the backward layer its mirror; return_sequences True/False; "
                   "frozen on device (EXACT_ARRAY_MAPPING)")
def map_bidirectional(layer: SourceLayer, ctx: MapContext) -> list:
    inner = layer.config.get("layer") or {}
    kind = inner.get("class_name")
    ctx.require(kind == "LSTM", layer, "layer", f"Bidirectional({kind}) is not mapped: Core ML's only bidirectional "
                "recurrent layer is an LSTM", "use Bidirectional(LSTM(...)), or a one-way GRU / SimpleRNN")
    ctx.require(layer.config.get("merge_mode", "concat") == "concat", layer, "merge_mode",
                f"merge_mode '{layer.config.get('merge_mode')}': Core ML's biDirectionalLSTM concatenates the two "
                "directions", "use merge_mode='concat'")
    cfg = inner.get("config", {})
    backward_layer = layer.config.get("backward_layer") or {"class_name": "LSTM", "config": cfg}
    bcfg = backward_layer.get("config", {})
    same = all(bcfg.get(k) == cfg.get(k) for k in ("activation", "recurrent_activation", "units", "use_bias"))
    ctx.require(backward_layer.get("class_name") == "LSTM" and same, layer, "backward_layer",
                "the backward layer differs from the forward LSTM; Core ML's biDirectionalLSTM runs both with one "
                "set of activations, units and biases", "leave backward_layer unset (Keras mirrors the forward layer)")
    _check(layer, ctx, cfg)
    acts = _lstm_acts(layer, ctx, cfg)
    weights = list(layer.weights.values())
    half = len(weights) // 2
    forward, backward = _gates(layer, cfg, weights[:half], 4), _gates(layer, cfg, weights[half:], 4)
    seq = bool(cfg.get("return_sequences"))
    into, steps = _steps(layer, ctx)
    units = int(forward[0][1].shape[0])
    names, back = _outputs(layer, ctx, seq, 2 * units, ("h_forward", "c_forward", "h_backward", "c_backward"), units)
    return into + [L.bi_lstm(layer.name, [steps], names, forward, backward, activations=acts,
                             sequence_output=seq)] + back
