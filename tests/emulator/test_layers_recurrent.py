"""uniDirectionalLSTM and gru against numpy step loops written from NeuralNetwork.proto's equations.

Each spec uses EXACT_ARRAY_MAPPING with a rank-5 ``[Seq, 1, C, 1, 1]`` input, as Core ML's recurrent
layers read. The references run one example and one time step at a time in plain numpy.
"""
from __future__ import annotations

import numpy as np
import pytest

from ground.errors import UnsupportedConfigError, UnsupportedLayerError, ValidationError
from tests.emulator.conftest import new_layer, set_weights
from tests.emulator.test_layers_nd import _spec, run

N, T, X, H = 3, 6, 4, 5
CLIP = 50.0


def _act(kind: str):
    return {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh, "ReLU": lambda v: np.maximum(v, 0),
            "linear": lambda v: v, "sigmoidHard": lambda v: np.clip(0.2 * v + 0.5, 0, 1),
            "scaledTanh": lambda v: 1.7159 * np.tanh(2 / 3 * v)}[kind]


def _set_act(field, kind: str) -> None:
    msg = getattr(field.add(), kind)
    msg.SetInParent()
    if kind == "linear":
        msg.alpha = 1.0
    if kind == "sigmoidHard":
        msg.alpha, msg.beta = 0.2, 0.5
    if kind == "scaledTanh":
        msg.alpha, msg.beta = 1.7159, 2 / 3


def _gates(rng, count: int, scale: float = 0.6):
    return [(rng.normal(0, scale, (H, X)), rng.normal(0, scale, (H, H)), rng.normal(0, scale, H)) for _ in range(count)]


def _lstm_layer(gates, acts, *, seq, bias=True, peep=None, forget_bias=False, coupled=False, cell_clip=0.0,
                reverse=False, inputs=("x",)):
    layer = new_layer("lstm", list(inputs), ["y", "h", "c"])
    p = layer.uniDirectionalLSTM
    p.inputVectorSize, p.outputVectorSize = X, H
    for a in acts:
        _set_act(p.activations, a)
    p.params.sequenceOutput, p.params.hasBiasVectors = seq, bias
    p.params.forgetBias, p.params.coupledInputAndForgetGate = forget_bias, coupled
    p.params.cellClipThreshold = cell_clip
    p.reverseInput = reverse
    w = p.weightParams
    for name, (wx, wh, b) in zip(("inputGate", "forgetGate", "blockInput", "outputGate"), gates):
        set_weights(getattr(w, f"{name}WeightMatrix"), wx)
        set_weights(getattr(w, f"{name}RecursionMatrix"), wh)
        if bias:
            set_weights(getattr(w, f"{name}BiasVector"), b)
    if peep is not None:
        p.params.hasPeepholeVectors = True
        for name, v in zip(("inputGate", "forgetGate", "outputGate"), peep):
            set_weights(getattr(w, f"{name}PeepholeVector"), v)
    return layer


def _lstm_ref(x, gates, acts, *, seq, bias=True, peep=None, forget_bias=False, coupled=False, cell_clip=0.0,
              reverse=False, h0=None, c0=None):
    """x (T, X) -> (ys (T', H), h, c) for one example."""
    f, g, hh = (_act(a) for a in acts)
    clip = lambda v: np.clip(v, -CLIP, CLIP)  # noqa: E731
    (wi, ri, bi), (wf, rf, bf), (wz, rz, bz), (wo, ro, bo) = gates
    if not bias:
        bi = bf = bz = bo = 0.0
    bf = bf + (1.0 if forget_bias else 0.0)
    pi, pf, po = peep if peep is not None else (0.0, 0.0, 0.0)
    y = np.zeros(H) if h0 is None else h0
    c = np.zeros(H) if c0 is None else c0
    ys = []
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        i = f(clip(wi @ x[t] + ri @ y + pi * c + bi))
        fg = f(clip(wf @ x[t] + rf @ y + pf * c + bf))
        z = g(clip(wz @ x[t] + rz @ y + bz))
        c = c * (1 - i) + i * z if coupled else c * fg + i * z
        c = np.clip(c, -(cell_clip or CLIP), cell_clip or CLIP)
        o = f(clip(wo @ x[t] + ro @ y + po * c + bo))
        y = hh(c) * o
        ys.append(y)
    return (np.stack(ys) if seq else y[None]), y, c


def _gru_layer(gates, acts, *, seq, bias=True, reverse=False, inputs=("x",)):
    layer = new_layer("gru", list(inputs), ["y", "h"])
    p = layer.gru
    p.inputVectorSize, p.outputVectorSize = X, H
    for a in acts:
        _set_act(p.activations, a)
    p.sequenceOutput, p.hasBiasVectors, p.reverseInput = seq, bias, reverse
    for name, (wx, wh, b) in zip(("updateGate", "resetGate", "outputGate"), gates):
        set_weights(getattr(p, f"{name}WeightMatrix"), wx)
        set_weights(getattr(p, f"{name}RecursionMatrix"), wh)
        if bias:
            set_weights(getattr(p, f"{name}BiasVector"), b)
    return layer


def _gru_ref(x, gates, acts, *, seq, bias=True, reverse=False, h0=None):
    f, g = (_act(a) for a in acts)
    clip = lambda v: np.clip(v, -CLIP, CLIP)  # noqa: E731
    (wz, rz, bz), (wr, rr, br), (wo, ro, bo) = gates
    if not bias:
        bz = br = bo = 0.0
    y = np.zeros(H) if h0 is None else h0
    ys = []
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        z = f(clip(wz @ x[t] + rz @ y + bz))
        r = f(clip(wr @ x[t] + rr @ y + br))
        o = g(clip(wo @ x[t] + ro @ (y * r) + bo))
        y = (1 - z) * o + z * y
        ys.append(y)
    return (np.stack(ys) if seq else y[None]), y


def _blob(v):  # (N, S, H) -> (N, S, 1, H, 1, 1)
    return np.asarray(v)[:, :, None, :, None, None]


def _pairs(cases: dict) -> list[tuple[str, bool]]:
    """(case, sequenceOutput) pairs; a reversed layer's output sequence is refused (tested below)."""
    return [(c, seq) for c in sorted(cases) for seq in cases[c].get("seqs", (False, True))]


@pytest.fixture
def rng():
    return np.random.default_rng(11)


LSTM_CASES = {
    "default": dict(acts=("sigmoid", "tanh", "tanh")),
    "no-bias": dict(acts=("sigmoid", "tanh", "tanh"), bias=False),
    "relu-linear-hard": dict(acts=("sigmoidHard", "ReLU", "linear")),
    "scaled-tanh": dict(acts=("sigmoid", "scaledTanh", "tanh")),
    "peephole-forget-bias": dict(acts=("sigmoid", "tanh", "tanh"), forget_bias=True, peep="yes"),
    "coupled-cell-clip": dict(acts=("sigmoid", "linear", "tanh"), coupled=True, cell_clip=0.3),
    "reverse-last": dict(acts=("sigmoid", "tanh", "tanh"), reverse=True, seqs=(False,)),
    "clipped-preactivations": dict(acts=("sigmoid", "linear", "linear"), scale=30.0),
}


@pytest.mark.parametrize("case,seq", _pairs(LSTM_CASES))
def test_lstm_against_step_loop(rng, case, seq):
    kw = dict(LSTM_CASES[case])
    kw.pop("seqs", None)
    gates = _gates(rng, 4, kw.pop("scale", 0.6))
    if kw.get("peep"):
        kw["peep"] = [rng.normal(0, 0.5, H) for _ in range(3)]
    x = rng.normal(size=(N, T, X))
    ys, hs, cs = run([_lstm_layer(gates, seq=seq, **kw)], {"x": x[:, :, None, :, None, None]}, ["y", "h", "c"])
    ref = [_lstm_ref(e, gates, seq=seq, **kw) for e in x]
    np.testing.assert_allclose(ys, _blob([r[0] for r in ref]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hs, _blob([r[1][None] for r in ref]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cs, _blob([r[2][None] for r in ref]), rtol=1e-5, atol=1e-5)


def test_lstm_initial_states(rng):
    gates = _gates(rng, 4)
    acts = ("sigmoid", "tanh", "tanh")
    x, h0, c0 = rng.normal(size=(N, T, X)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    layer = _lstm_layer(gates, acts, seq=True, inputs=("x", "h0", "c0"))
    feeds = {"x": x[:, :, None, :, None, None], "h0": _blob(h0[:, None]), "c0": _blob(c0[:, None])}
    (ys,) = run([layer], feeds, ["y"])
    ref = [_lstm_ref(x[n], gates, acts, seq=True, h0=h0[n], c0=c0[n])[0] for n in range(N)]
    np.testing.assert_allclose(ys, _blob(ref), rtol=1e-5, atol=1e-5)


GRU_CASES = {
    "default": dict(acts=("sigmoid", "tanh")),
    "no-bias": dict(acts=("sigmoid", "tanh"), bias=False),
    "hard-relu": dict(acts=("sigmoidHard", "ReLU")),
    "linear": dict(acts=("sigmoid", "linear")),
    "reverse-last": dict(acts=("sigmoid", "tanh"), reverse=True, seqs=(False,)),
}


@pytest.mark.parametrize("case,seq", _pairs(GRU_CASES))
def test_gru_against_step_loop(rng, case, seq):
    kw = dict(GRU_CASES[case])
    kw.pop("seqs", None)
    gates = _gates(rng, 3)
    x = rng.normal(size=(N, T, X))
    ys, hs = run([_gru_layer(gates, seq=seq, **kw)], {"x": x[:, :, None, :, None, None]}, ["y", "h"])
    ref = [_gru_ref(e, gates, seq=seq, **kw) for e in x]
    np.testing.assert_allclose(ys, _blob([r[0] for r in ref]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hs, _blob([r[1][None] for r in ref]), rtol=1e-5, atol=1e-5)


def test_gru_initial_state(rng):
    gates = _gates(rng, 3)
    x, h0 = rng.normal(size=(N, T, X)), rng.normal(size=(N, H))
    layer = _gru_layer(gates, ("sigmoid", "tanh"), seq=False, inputs=("x", "h0"))
    (ys,) = run([layer], {"x": x[:, :, None, :, None, None], "h0": _blob(h0[:, None])}, ["y"])
    ref = [_gru_ref(x[n], gates, ("sigmoid", "tanh"), seq=False, h0=h0[n])[0] for n in range(N)]
    np.testing.assert_allclose(ys, _blob(ref), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_reversed_sequence_output_is_refused(rng, kind):
    layer = (_lstm_layer(_gates(rng, 4), ("sigmoid", "tanh", "tanh"), seq=True, reverse=True) if kind == "lstm"
             else _gru_layer(_gates(rng, 3), ("sigmoid", "tanh"), seq=True, reverse=True))
    with pytest.raises(UnsupportedLayerError, match="reverseInput with sequenceOutput: Core ML does not document"):
        run([layer], {"x": rng.normal(size=(N, T, 1, X, 1, 1))}, [layer.output[0]])


def test_unsupported_recurrent_activation_is_refused_with_apples_message(rng):
    layer = _gru_layer(_gates(rng, 3), ("sigmoid", "tanh"), seq=False)
    layer.gru.activations[1].ELU.alpha = 1.0
    with pytest.raises(ValidationError, match="Recurrent non-linearity type MLActivationParamsNonlinearityType_ELU is not supported in this version of "
                                              "CoreML."):
        run([layer], {"x": rng.normal(size=(N, T, 1, X, 1, 1))}, ["y"])


def test_a_gru_needs_two_activations(rng):
    layer = _gru_layer(_gates(rng, 3), ("sigmoid",), seq=False)
    with pytest.raises(UnsupportedLayerError, match="1 activations given, the layer takes 2"):
        run([layer], {"x": rng.normal(size=(N, T, 1, X, 1, 1))}, ["y"])


def test_input_not_on_the_sequence_axis_is_refused(rng):
    layer = _gru_layer(_gates(rng, 3), ("sigmoid", "tanh"), seq=False)
    with pytest.raises(UnsupportedConfigError, match=r"reads a rank-5 \[Seq, Batch, 4, 1, 1\] blob; this one is "
                                                     r"\[1, 1, 4, 1, 6\]"):
        run([layer], {"x": rng.normal(size=(N, 1, 1, X, 1, T))}, ["y"])


def test_the_nhwc_engine_hands_recurrent_layers_to_the_rank_n_engine(rng):
    """A rank-5-mapped network ([C] input: one time step) runs in the rank-N engine."""
    import emulator
    from emulator.network import refusal

    gates = _gates(rng, 3)
    layer = _gru_layer(gates, ("sigmoid", "tanh"), seq=False)
    assert refusal(layer, False) == "it reads Core ML's sequence axis, which only the rank-N engine models"
    assert refusal(layer, True) is None
    spec = _spec({"x": (X,)}, ["y"], [layer], exact=False)
    x = rng.normal(size=(N, X))
    got = emulator.load(spec).predict({"x": x.astype(np.float32)})["y"]
    ref = [_gru_ref(e[None], gates, ("sigmoid", "tanh"), seq=False)[0] for e in x]
    np.testing.assert_allclose(got.reshape(N, H), np.reshape(ref, (N, H)), rtol=1e-5, atol=1e-5)


def _rnn_layer(gate, act, *, seq, bias=True, inputs=("x", "h0")):
    layer = new_layer("rnn", list(inputs), ["y", "h"])
    p = layer.simpleRecurrent
    p.inputVectorSize, p.outputVectorSize = X, H
    _set_act_single(p.activation, act)
    p.sequenceOutput, p.hasBiasVector = seq, bias
    set_weights(p.weightMatrix, gate[0])
    set_weights(p.recursionMatrix, gate[1])
    if bias:
        set_weights(p.biasVector, gate[2])
    return layer


def _set_act_single(msg_field, kind: str) -> None:
    msg = getattr(msg_field, kind)
    msg.SetInParent()
    if kind == "linear":
        msg.alpha = 1.0


@pytest.mark.parametrize("act", ["tanh", "ReLU", "linear"])
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_simple_recurrent_against_step_loop(rng, act, seq, bias):
    (w, r, b), = _gates(rng, 1)
    x, h0 = rng.normal(size=(N, T, X)), rng.normal(size=(N, H))
    layer = _rnn_layer((w, r, b), act, seq=seq, bias=bias)
    ys, hs = run([layer], {"x": x[:, :, None, :, None, None], "h0": _blob(h0[:, None])}, ["y", "h"])
    f = _act(act)
    ref_y, ref_h = [], []
    for n in range(N):
        y, steps = h0[n], []
        for t in range(T):
            y = f(np.clip(w @ x[n, t] + r @ y + (b if bias else 0), -CLIP, CLIP))
            steps.append(y)
        ref_y.append(np.stack(steps) if seq else y[None])
        ref_h.append(y[None])
    np.testing.assert_allclose(ys, _blob(ref_y), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hs, _blob(ref_h), rtol=1e-5, atol=1e-5)


def _bilstm_layer(fwd, bwd, acts, *, seq):
    layer = new_layer("bilstm", ["x"], ["y", "hf", "cf", "hb", "cb"])
    p = layer.biDirectionalLSTM
    p.inputVectorSize, p.outputVectorSize = X, H
    for a in acts:
        _set_act(p.activationsForwardLSTM, a)
        _set_act(p.activationsBackwardLSTM, a)
    p.params.sequenceOutput, p.params.hasBiasVectors = seq, True
    for gates in (fwd, bwd):
        w = p.weightParams.add()
        for name, (wx, wh, b) in zip(("inputGate", "forgetGate", "blockInput", "outputGate"), gates):
            set_weights(getattr(w, f"{name}WeightMatrix"), wx)
            set_weights(getattr(w, f"{name}RecursionMatrix"), wh)
            set_weights(getattr(w, f"{name}BiasVector"), b)
    return layer


@pytest.mark.parametrize("seq", [False, True])
def test_bidirectional_lstm_follows_the_proto_example(rng, seq):
    """Output at step t: [yf_t, yb_t], yb_t having read x_T .. x_t; the last step: [yf_T, yb_1]."""
    fwd, bwd = _gates(rng, 4), _gates(rng, 4)
    acts = ("sigmoid", "tanh", "tanh")
    x = rng.normal(size=(N, T, X))
    ys, hf, cb = run([_bilstm_layer(fwd, bwd, acts, seq=seq)], {"x": x[:, :, None, :, None, None]},
                     ["y", "hf", "cb"])
    ref, ref_hf, ref_cb = [], [], []
    for e in x:
        yf, hf_n, _ = _lstm_ref(e, fwd, acts, seq=True)
        yb, _, cb_n = _lstm_ref(e, bwd, acts, seq=True, reverse=True)    # in reading order: x_T first
        both = np.concatenate([yf, yb[::-1]], axis=-1)
        ref.append(both if seq else np.concatenate([yf[-1], yb[-1]])[None])
        ref_hf.append(hf_n[None])
        ref_cb.append(cb_n[None])
    np.testing.assert_allclose(ys, _blob(ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hf, _blob(ref_hf), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cb, _blob(ref_cb), rtol=1e-5, atol=1e-5)
