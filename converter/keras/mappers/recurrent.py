"""Recurrent layers: LSTM -> uniDirectionalLSTM, GRU (reset_after=False) -> gru.

Core ML's recurrent layers read a rank-5 ``[Seq, Batch, C, 1, 1]`` blob; the project keeps a ``(T, F)``
sequence as ``[1, F, 1, T]`` (EXACT_ARRAY_MAPPING, see ground/layout.py). So each mapper moves time to
the sequence axis (transpose + expandDims), runs the recurrent layer, and brings its output back: the last
step as a ``[1, units, 1, 1]`` vector (squeeze), or every step as a ``[1, units, 1, T]`` sequence (transpose
+ squeeze). The transposes are iOS 13 layers, so a model with a recurrent layer declares its inputs with
EXACT_ARRAY_MAPPING. Core ML clips every gate's pre-activation (and an LSTM's cell) to [-50, 50]; Keras does
not, which only shows for pre-activations beyond 50.
"""
from __future__ import annotations

from converter import coreml_layers as L
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer
from ground import layout

ACTIVATIONS = {"tanh": "tanh", "sigmoid": "sigmoid", "relu": "ReLU", "linear": "linear", None: "linear"}
"""Keras activation -> Core ML recurrent activation (Core ML's recurrent layers take only these four here;
its sigmoidHard is 0.2x + 0.5, not Keras 3's hard_sigmoid x/6 + 0.5)."""


def _activation(layer: SourceLayer, ctx: MapContext, key: str, default: str) -> str:
    name = layer.config.get(key, default)
    ctx.require(name in ACTIVATIONS, layer, key,
                f"'{name}' has no Core ML recurrent equivalent (Core ML's recurrent layers take linear, sigmoid, "
                "tanh, ReLU, and scaled tanh / hard sigmoid with fixed constants)",
                "use tanh, sigmoid, relu or linear")
    return ACTIVATIONS[name]


def _check(layer: SourceLayer, ctx: MapContext) -> None:
    cfg = layer.config
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


def _outputs(layer: SourceLayer, ctx: MapContext, units: int, states: int) -> tuple[list[str], list]:
    """The recurrent layer's output blobs (y, then its final states) and the layers bringing y back."""
    seq = bool(layer.config.get("return_sequences"))
    t = int(layer.input_shapes[0][0])
    y = ctx.tmp(layer, "y", (t if seq else 1, 1, units, 1, 1))
    names = [y] + [ctx.tmp(layer, s, (1, 1, units, 1, 1)) for s in ("h", "c")[:states]]
    if not seq:
        return names, [L.squeeze(ctx.lname(layer, "last"), y, ctx.out(layer), [0])]
    moved = ctx.tmp(layer, "time_last", (1, 1, units, 1, t))
    return names, [L.transpose(ctx.lname(layer, "time_last"), y, moved, [4, 1, 2, 3, 0]),
                   L.squeeze(ctx.lname(layer, "sequence"), moved, ctx.out(layer), [0])]


def _bias(layer: SourceLayer):
    return layer.weights.get("bias") if layer.config.get("use_bias", True) else None


@keras_layer("LSTM", coreml="uniDirectionalLSTM (+ transpose, expandDims, squeeze)",
             notes="return_sequences True/False, go_backwards with the last output; activations tanh, sigmoid, "
                   "relu, linear; frozen on device (EXACT_ARRAY_MAPPING)")
def map_lstm(layer: SourceLayer, ctx: MapContext) -> list:
    _check(layer, ctx)
    act = _activation(layer, ctx, "activation", "tanh")
    rec = _activation(layer, ctx, "recurrent_activation", "sigmoid")
    w = layer.weights
    gates = layout.recurrent_gates(w["kernel"], w["recurrent_kernel"], _bias(layer), 4)
    into, steps = _steps(layer, ctx)
    names, back = _outputs(layer, ctx, int(w["recurrent_kernel"].shape[0]), 2)
    return into + [L.uni_lstm(layer.name, [steps], names, gates, activations=(rec, act, act),
                              sequence_output=bool(layer.config.get("return_sequences")),
                              reverse=bool(layer.config.get("go_backwards")))] + back


@keras_layer("GRU", coreml="gru (+ transpose, expandDims, squeeze)",
             notes="reset_after=False only (Keras 3 defaults to True, which Core ML's gru cannot express); "
                   "return_sequences True/False; frozen on device (EXACT_ARRAY_MAPPING)")
def map_gru(layer: SourceLayer, ctx: MapContext) -> list:
    _check(layer, ctx)
    ctx.require(not layer.config.get("reset_after", True), layer, "reset_after",
                "reset_after=True applies the reset gate after the recurrent matrix; Core ML's gru applies it before "
                "(Keras' reset_after=False), and no weights of one form compute the other",
                "build the GRU with GRU(..., reset_after=False) and train it again")
    act = _activation(layer, ctx, "activation", "tanh")
    rec = _activation(layer, ctx, "recurrent_activation", "sigmoid")
    w = layer.weights
    gates = layout.recurrent_gates(w["kernel"], w["recurrent_kernel"], _bias(layer), 3)
    into, steps = _steps(layer, ctx)
    names, back = _outputs(layer, ctx, int(w["recurrent_kernel"].shape[0]), 1)
    return into + [L.gru(layer.name, [steps], names, gates, activations=(rec, act),
                         sequence_output=bool(layer.config.get("return_sequences")),
                         reverse=bool(layer.config.get("go_backwards")))] + back
