"""Recurrent layers on Core ML's sequence axis: ``uniDirectionalLSTM``, ``biDirectionalLSTM``, ``gru`` and
``simpleRecurrent`` (rank-N engine only).

NeuralNetwork.proto: the input is a rank-5 ``[Seq, Batch, inputVectorSize, 1, 1]`` blob; the output
``y`` is ``[Seq, Batch, outputVectorSize, 1, 1]`` with ``sequenceOutput``, else the last step
``[1, Batch, outputVectorSize, 1, 1]``; further outputs are the final states (LSTM: h, c; GRU: h) and
further inputs the initial ones (zeros when absent). Every gate's pre-activation is clipped to [-50, 50],
an LSTM's cell to ``cellClipThreshold`` (0: 50). Tensors are ``(N, *S)`` (see emulator/rank_n.py).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedConfigError
from ground.rules.layers_weighted import RECURRENT_ACTIVATIONS

from .. import rank_n as R
from . import weights as W
from .activation import ACTIVATIONS
from .registry import op

CLIP = 50.0

LSTM_GATES = ("inputGate", "forgetGate", "blockInput", "outputGate")
GRU_GATES = ("updateGate", "resetGate", "outputGate")


def sequence_op(kind: str, **kwargs):
    """Register a layer type that reads Core ML's sequence axis (only the rank-N engine models it)."""
    R.SEQUENCE_KINDS.add(kind)
    return op(kind, **kwargs)


def _gate_weights(where: str, holder, gates: tuple[str, ...], size: int, units: int, bias: bool) -> dict:
    """Gates side by side: ``W`` (in, G*units), ``R`` (units, G*units), ``b`` (G*units,) (zeros without bias)."""
    ws = [W.read(getattr(holder, f"{g}WeightMatrix"), (units, size), where=where, what=f"{g} weights") for g in gates]
    rs = [W.read(getattr(holder, f"{g}RecursionMatrix"), (units, units), where=where, what=f"{g} recursion")
          for g in gates]
    bs = [W.read(getattr(holder, f"{g}BiasVector"), (units,), where=where, what=f"{g} bias") if bias
          else np.zeros(units, np.float32) for g in gates]
    return {"W": np.ascontiguousarray(np.concatenate(ws, 0).T), "R": np.ascontiguousarray(np.concatenate(rs, 0).T),
            "b": np.concatenate(bs)}


def _lstm_weights(where: str, weights, params, size: int, units: int, suffix: str = "") -> dict:
    out = _gate_weights(where, weights, LSTM_GATES, size, units, params.hasBiasVectors)
    if params.forgetBias:
        out["b"][units:2 * units] += 1.0
    if params.hasPeepholeVectors:
        out["peep"] = np.stack([W.read(getattr(weights, f"{g}PeepholeVector"), (units,), where=where,
                                       what=f"{g} peephole") for g in ("inputGate", "forgetGate", "outputGate")])
    return {k + suffix: v for k, v in out.items()}


def _lstm_params(layer) -> dict:
    p = layer.uniDirectionalLSTM
    return _lstm_weights(layer.name, p.weightParams, p.params, int(p.inputVectorSize), int(p.outputVectorSize))


def _bilstm_params(layer) -> dict:
    p = layer.biDirectionalLSTM
    if len(p.weightParams) != 2:
        raise UnsupportedConfigError(f"{len(p.weightParams)} weightParams given, a biDirectionalLSTM takes 2 "
                                     "(forward, backward)", where=f"layer '{layer.name}'", fix="give both directions")
    size, units = int(p.inputVectorSize), int(p.outputVectorSize)
    return {**_lstm_weights(layer.name, p.weightParams[0], p.params, size, units, "_f"),
            **_lstm_weights(layer.name, p.weightParams[1], p.params, size, units, "_b")}


def _gru_params(layer) -> dict:
    p = layer.gru
    return _gate_weights(layer.name, p, GRU_GATES, int(p.inputVectorSize), int(p.outputVectorSize), p.hasBiasVectors)


def _rnn_params(layer) -> dict:
    p = layer.simpleRecurrent
    size, units = int(p.inputVectorSize), int(p.outputVectorSize)
    return {"W": np.ascontiguousarray(W.read(p.weightMatrix, (units, size), where=layer.name).T),
            "R": np.ascontiguousarray(W.read(p.recursionMatrix, (units, units), where=layer.name, what="recursion").T),
            "b": W.read(p.biasVector, (units,), where=layer.name, what="bias") if p.hasBiasVector
            else np.zeros(units, np.float32)}


def _supported(activations, count: int, sequence_output: bool, reverse: bool) -> str | None:
    kinds = [a.WhichOneof("NonlinearityType") for a in activations]
    if len(kinds) != count:
        return f"{len(kinds)} activations given, the layer takes {count}"
    bad = [k for k in kinds if k not in RECURRENT_ACTIVATIONS]     # Apple's rule; ground.rules refuses it first
    if bad:
        return f"recurrent non-linearity {bad[0]} is not supported by Core ML"
    if reverse and sequence_output:
        return "reverseInput with sequenceOutput: Core ML does not document the order of the output sequence"
    return None


def _lstm_supported(layer) -> str | None:
    p = layer.uniDirectionalLSTM
    return _supported(p.activations, 3, p.params.sequenceOutput, p.reverseInput)


def _bilstm_supported(layer) -> str | None:
    p = layer.biDirectionalLSTM
    return (_supported(p.activationsForwardLSTM, 3, False, False)
            or _supported(p.activationsBackwardLSTM, 3, False, False))


def _gru_supported(layer) -> str | None:
    p = layer.gru
    return _supported(p.activations, 2, p.sequenceOutput, p.reverseInput)


def _rnn_supported(layer) -> str | None:
    p = layer.simpleRecurrent
    return _supported([p.activation], 1, p.sequenceOutput, p.reverseInput)


def _fn(params_msg, clip: bool = True):
    """A recurrent activation; gates see their pre-activation clipped to [-50, 50] first."""
    kind = params_msg.WhichOneof("NonlinearityType")
    msg = getattr(params_msg, kind)
    if not clip:
        return lambda x: ACTIVATIONS[kind](msg, x, None)
    return lambda x: ACTIVATIONS[kind](msg, tf.clip_by_value(x, -CLIP, CLIP), None)


def _time_major(layer, x: tf.Tensor, size: int) -> tuple[tf.Tensor, int, int]:
    """``(N, Seq, Batch, C, 1, 1)`` -> ``(Seq, N*Batch, C)``, with Seq and Batch."""
    dims = [int(s) for s in x.shape[1:]]
    if len(dims) != 5 or dims[2] != size or dims[3:] != [1, 1]:
        raise UnsupportedConfigError(f"a recurrent layer reads a rank-5 [Seq, Batch, {size}, 1, 1] blob; this one is "
                                     f"{dims}", where=f"layer '{layer.name}'",
                                     fix="move time to the sequence axis (transpose, expandDims) first")
    seq, batch = dims[0], dims[1]
    steps = tf.reshape(tf.transpose(tf.reshape(x, [-1, seq, batch, size]), [1, 0, 2, 3]), [seq, -1, size])
    return steps, seq, batch


def _state(inputs: list, i: int, rows: tf.Tensor, units: int) -> tf.Tensor:
    """Initial state ``i`` (``(N, 1, Batch, units, 1, 1)``) as ``(N*Batch, units)``, zeros when not given."""
    if len(inputs) > i:
        x = R.broadcast_examples([inputs[0], inputs[i]])[1]
        return tf.reshape(x, [-1, units])
    return tf.zeros(tf.stack([rows, units]))


def _blob(rows: tf.Tensor, batch: int, units: int) -> tf.Tensor:
    """``(Seq', N*Batch, units)`` -> ``(N, Seq', Batch, units, 1, 1)``."""
    seq = int(rows.shape[0])
    y = tf.transpose(tf.reshape(rows, [seq, -1, batch, units]), [1, 0, 2, 3])
    return tf.reshape(y, [-1, seq, batch, units, 1, 1])


def _loop(cell, projected: tf.Tensor, states: tuple, reverse: bool) -> tuple[list, tuple]:
    """Step ``cell`` over ``projected`` ``(Seq, rows, G*units)``; the outputs in processing order, final states."""
    seq = int(projected.shape[0])
    ys = []
    for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
        states = cell.step(projected[t], states)
        ys.append(states[0])
    return ys, states


def _run(layer, inputs, size: int, units: int, reverse: bool, sequence_output: bool, params: dict, cell):
    """One direction of a recurrent layer: its outputs ``[y, *states]``, as many as the layer names."""
    steps, _, batch = _time_major(layer, inputs[0], size)
    projected = tf.tensordot(steps, params["W"], 1) + params["b"]        # (Seq, rows, G*units)
    ys, states = _loop(cell, projected, cell.start(inputs, tf.shape(steps)[1]), reverse)
    y = tf.stack(ys) if sequence_output else ys[-1][None]
    return ([_blob(y, batch, units)] + [_blob(s[None], batch, units) for s in states])[:len(layer.output)]


class _LSTMCell:
    def __init__(self, units: int, activations, lstm_params, params: dict, suffix: str = "", first_state: int = 1):
        self.units, self.first = units, first_state
        self.f, self.g = _fn(activations[0]), _fn(activations[1])
        self.h = _fn(activations[2], clip=False)      # h(c_t): the cell has its own clip
        self.r, self.peep = params["R" + suffix], params.get("peep" + suffix)
        self.coupled = lstm_params.coupledInputAndForgetGate
        self.cell_clip = float(lstm_params.cellClipThreshold) or CLIP

    def start(self, inputs, rows):
        return _state(inputs, self.first, rows, self.units), _state(inputs, self.first + 1, rows, self.units)

    def step(self, xw, states):
        y, c = states
        i, f, z, o = tf.split(xw + y @ self.r, 4, axis=-1)
        if self.peep is not None:
            i, f = i + self.peep[0] * c, f + self.peep[1] * c
        i, f, z = self.f(i), self.f(f), self.g(z)
        c = c * (1.0 - i) + i * z if self.coupled else c * f + i * z
        c = tf.clip_by_value(c, -self.cell_clip, self.cell_clip)
        if self.peep is not None:
            o = o + self.peep[2] * c
        return self.h(c) * self.f(o), c


class _GRUCell:
    def __init__(self, layer, params) -> None:
        p = layer.gru
        self.units = int(p.outputVectorSize)
        self.f, self.g = (_fn(a) for a in p.activations)
        self.r_zr, self.r_o = params["R"][:, :2 * self.units], params["R"][:, 2 * self.units:]

    def start(self, inputs, rows):
        return (_state(inputs, 1, rows, self.units),)

    def step(self, xw, states):
        (y,) = states
        u = self.units
        zr = self.f(xw[:, :2 * u] + y @ self.r_zr)
        z, r = zr[:, :u], zr[:, u:]
        o = self.g(xw[:, 2 * u:] + (y * r) @ self.r_o)
        return ((1.0 - z) * o + z * y,)


class _SimpleCell:
    def __init__(self, layer, params) -> None:
        p = layer.simpleRecurrent
        self.units, self.f, self.r = int(p.outputVectorSize), _fn(p.activation), params["R"]

    def start(self, inputs, rows):
        return (_state(inputs, 1, rows, self.units),)

    def step(self, xw, states):
        return (self.f(xw + states[0] @ self.r),)


@sequence_op("uniDirectionalLSTM", params=_lstm_params, supports=_lstm_supported)
def uni_lstm(layer, inputs, params):
    p = layer.uniDirectionalLSTM
    units = int(p.outputVectorSize)
    return _run(layer, inputs, int(p.inputVectorSize), units, p.reverseInput, p.params.sequenceOutput, params,
                _LSTMCell(units, p.activations, p.params, params))


@sequence_op("biDirectionalLSTM", params=_bilstm_params, supports=_bilstm_supported)
def bi_lstm(layer, inputs, params):
    """Outputs ``[y, h_f, c_f, h_b, c_b]``; ``y`` at step t is ``[yf_t, yb_t]`` where ``yb_t`` has read the
    sequence from its end back to t (NeuralNetwork.proto's example), or ``[yf_T, yb_1]`` for the last step."""
    p = layer.biDirectionalLSTM
    size, units = int(p.inputVectorSize), int(p.outputVectorSize)
    steps, _, batch = _time_major(layer, inputs[0], size)
    rows = tf.shape(steps)[1]
    runs = []
    for suffix, acts, first, reverse in (("_f", p.activationsForwardLSTM, 1, False),
                                         ("_b", p.activationsBackwardLSTM, 3, True)):
        cell = _LSTMCell(units, acts, p.params, params, suffix, first)
        projected = tf.tensordot(steps, params["W" + suffix], 1) + params["b" + suffix]
        runs.append(_loop(cell, projected, cell.start(inputs, rows), reverse))
    (yf, sf), (yb, sb) = runs
    if p.params.sequenceOutput:
        y = tf.concat([tf.stack(yf), tf.stack(yb[::-1])], axis=-1)
    else:
        y = tf.concat([yf[-1], yb[-1]], axis=-1)[None]
    outs = [_blob(y, batch, 2 * units)] + [_blob(s[None], batch, units) for s in (*sf, *sb)]
    return outs[:len(layer.output)]


@sequence_op("simpleRecurrent", params=_rnn_params, supports=_rnn_supported)
def simple_recurrent(layer, inputs, params):
    p = layer.simpleRecurrent
    return _run(layer, inputs, int(p.inputVectorSize), int(p.outputVectorSize), p.reverseInput, p.sequenceOutput,
                params, _SimpleCell(layer, params))


@sequence_op("gru", params=_gru_params, supports=_gru_supported)
def gru(layer, inputs, params):
    p = layer.gru
    return _run(layer, inputs, int(p.inputVectorSize), int(p.outputVectorSize), p.reverseInput, p.sequenceOutput,
                params, _GRUCell(layer, params))
