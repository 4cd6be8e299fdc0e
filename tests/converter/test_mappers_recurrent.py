"""Keras LSTM / GRU / SimpleRNN / Bidirectional(LSTM) -> Core ML uniDirectionalLSTM / gru / simpleRecurrent /
biDirectionalLSTM: the spec Apple's rules accept, predictions equal to Keras', a frozen recurrent body under a
head that trains, and every refusal's message."""
from __future__ import annotations

import numpy as np
import pytest

from ground.errors import UnsupportedConfigError
from ground.nn_spec import param_count

from .conftest import parity, randomize

T, F, UNITS = 7, 4, 6


CORE = {"LSTM": ("uniDirectionalLSTM", 3), "GRU": ("gru", 2), "SimpleRNN": ("simpleRecurrent", 2),
        "Bidirectional": ("biDirectionalLSTM", 5)}
"""Keras kind -> (Core ML layer, the output count Apple's validator requires)."""


def _rnn(k, kind: str, **kw):
    if kind == "GRU":
        kw.setdefault("reset_after", False)
    if kind == "SimpleRNN":
        kw.pop("recurrent_activation", None)
    if kind == "Bidirectional":
        name = kw.pop("name", None)
        return k.layers.Bidirectional(k.layers.LSTM(UNITS, **kw), name=name)
    return getattr(k.layers, kind)(UNITS, **kw)


def _sequence_model(k, kind: str, **kw):
    x = k.Input((T, F), name="x")
    return k.Model(x, _rnn(k, kind, **kw)(x))


CASES = {  # name: layer options
    "default": {},
    "sequences": {"return_sequences": True},
    "no-bias": {"use_bias": False},
    "no-bias-sequences": {"use_bias": False, "return_sequences": True},
    "relu-hard": {"activation": "relu", "recurrent_activation": "sigmoid", "return_sequences": True},
    "linear-tanh": {"activation": "linear", "recurrent_activation": "tanh"},     # an unbounded cell, see RELATIVE
    "go-backwards-last": {"go_backwards": True},
    "dropout-inference": {"dropout": 0.3, "recurrent_dropout": 0.2},
}


RELATIVE = {"linear-tanh": 2e-5}
"""Cases compared relative to the output's size: a linear LSTM cell reaches |y| ~ 36 here, where float32 leaves
Keras itself 2.5e-4 from a float64 step loop (the runtime 7e-4; 1.3e-5 relative to Keras)."""


@pytest.mark.parametrize("kind,case", [(k, c) for k in sorted(CORE) for c in sorted(CASES)
                                       if not (k == "Bidirectional" and CASES[c].get("go_backwards"))])  # Keras refuses
def test_recurrent_layer_matches_keras(keras_mod, kind, case):
    from transforms.validate import violations

    model = randomize(_sequence_model(keras_mod, kind, **CASES[case]))
    x = np.random.RandomState(3).normal(size=(8, T, F)).astype(np.float32)
    atol = RELATIVE[case] * float(np.abs(np.asarray(model(x))).max()) if case in RELATIVE else 1e-5
    spec, _ = parity(model, x, atol=atol)
    nn = spec.neuralNetwork
    kinds = [layer.WhichOneof("layer") for layer in nn.layers]
    core = nn.layers[kinds.index(CORE[kind][0])]
    assert len(core.output) == CORE[kind][1]                         # Apple's validateOutputCount
    assert param_count(core) == model.count_params()                  # every weight stored, nested ones counted
    assert nn.arrayInputShapeMapping == 1                            # transposes are iOS 13 layers
    assert list(spec.description.input[0].type.multiArrayType.shape) == [1, 1, T, F]
    assert [v for v in violations(spec) if v.origin == "apple"] == []


def test_lstm_gates_land_in_their_core_ml_fields(keras_mod):
    """Keras' kernel columns i, f, c, o go to the input, forget, block-input and output gate matrices."""
    model = randomize(_sequence_model(keras_mod, "LSTM"))
    from converter.convert import to_inference_spec

    spec, _, _ = to_inference_spec(model)
    (lstm,) = [layer for layer in spec.neuralNetwork.layers if layer.WhichOneof("layer") == "uniDirectionalLSTM"]
    kernel, recurrent, bias = (np.asarray(v) for v in model.layers[1].weights)
    w = lstm.uniDirectionalLSTM.weightParams
    for g, name in enumerate(("inputGate", "forgetGate", "blockInput", "outputGate")):
        cols = slice(g * UNITS, (g + 1) * UNITS)
        np.testing.assert_array_equal(np.reshape(getattr(w, f"{name}WeightMatrix").floatValue, (UNITS, F)),
                                      kernel[:, cols].T)
        np.testing.assert_array_equal(np.reshape(getattr(w, f"{name}RecursionMatrix").floatValue, (UNITS, UNITS)),
                                      recurrent[:, cols].T)
        np.testing.assert_array_equal(getattr(w, f"{name}BiasVector").floatValue, bias[cols])


def _classifier(k, kind: str):
    x = k.Input((10,), name="x", dtype="int32")
    h = k.layers.Embedding(30, 8, name="emb")(x)
    h = _rnn(k, kind, name="rnn")(h)
    return k.Model(x, k.layers.Dense(3, activation="softmax", name="head")(h))


def _cross_entropy(model, x, labels, out: str) -> float:
    probs = model.predict(x)[out].reshape(len(x), -1)
    return float(-np.mean(np.log(probs[np.arange(len(x)), labels] + 1e-12)))


@pytest.mark.parametrize("kind", sorted(CORE))
def test_embedding_rnn_dense_trains_only_the_head(keras_mod, kind):
    """The default policy marks the Dense head; one epoch changes it alone and lowers the loss."""
    import emulator
    from converter.convert import convert
    from ground.layout import source_batch_to_input
    from transforms.options import UpdateOptions

    keras_mod.utils.set_random_seed(0)
    model = randomize(_classifier(keras_mod, kind))
    model.get_layer("emb").trainable = False
    model.get_layer("rnn").trainable = False
    result = convert(model, options=UpdateOptions(batch_size=8, epochs=1, learning_rate=0.5, optimizer="sgd"))
    spec = result.spec
    assert [layer.name for layer in spec.neuralNetwork.layers if layer.isUpdatable] == ["head"]

    rng = np.random.RandomState(5)
    x = rng.randint(0, 30, size=(64, 10)).astype(np.float32)
    labels = (x[:, 0] % 3).astype(np.int64)                      # learnable from the first token
    fed = source_batch_to_input(x, spec.description.input[0].type.multiArrayType.shape)
    out = spec.description.output[0].name
    cm = emulator.load(spec)
    np.testing.assert_allclose(cm.predict(fed)[out].reshape(len(x), -1), model.predict(x, verbose=0), atol=1e-5)
    before = _cross_entropy(cm, fed, labels, out)
    run = cm.update({"x": fed, f"{out}_true": labels}, epochs=1)
    after = _cross_entropy(run.model, fed, labels, out)
    assert after < before, (before, after)
    old, new = cm.network.params, run.model.network.params
    changed = sorted(name for name in old if any(not np.array_equal(old[name][k], new[name][k]) for k in old[name]))
    assert changed == ["head"]


def test_marking_the_lstm_updatable_is_refused(keras_mod):
    from converter.convert import convert
    from transforms.options import UpdateOptions

    model = randomize(_classifier(keras_mod, "LSTM"))
    with pytest.raises(UnsupportedConfigError, match="layer 'rnn' is a uniDirectionalLSTM layer; only convolution "
                                                     "and innerProduct layers can be updatable \\(Core ML's validator"):
        convert(model, options=UpdateOptions(updatable="rnn,head"))


def test_the_runtime_refuses_to_train_an_updatable_lstm(keras_mod):
    """A model from another tool may mark a uniDirectionalLSTM updatable (Apple's validator allows it)."""
    import emulator
    from converter.convert import convert
    from transforms.options import UpdateOptions

    model = randomize(_classifier(keras_mod, "LSTM"))
    spec = convert(model, options=UpdateOptions(updatable="head")).spec
    layers = spec.neuralNetwork.layers
    squeeze = next(i for i, layer in enumerate(layers) if layer.name == "rnn__last")
    del layers[squeeze]                                  # the head reads the LSTM: nothing blocks back-propagation
    head = next(layer for layer in layers if layer.name == "head")
    head.input[0] = "rnn__y"
    next(layer for layer in layers if layer.name == "rnn").isUpdatable = True
    cm = emulator.load(spec)
    x = np.zeros((8, 10, 1, 1), np.float32)
    out = spec.description.output[0].name
    with pytest.raises(UnsupportedConfigError, match="the uniDirectionalLSTM layer is marked updatable: Core ML's "
                                                     "validator lets it through \\(rule 6\\).*freeze it"):
        cm.update({"x": x[:, None], f"{out}_true": np.zeros(8, np.int64)}, epochs=1)


REFUSALS = {  # name: (kind, options, message)
    "gru-reset-after": ("GRU", {"reset_after": True}, "option 'reset_after': reset_after=True applies the reset gate "
                        "after the recurrent matrix.*GRU\\(\\.\\.\\., reset_after=False\\)"),
    "return-state": ("LSTM", {"return_state": True}, "option 'return_state': the final states are not mapped"),
    "go-backwards-sequences": ("GRU", {"go_backwards": True, "return_sequences": True},
                               "option 'go_backwards': Core ML does not document the order"),
    "hard-sigmoid": ("LSTM", {"recurrent_activation": "hard_sigmoid"},
                     "option 'recurrent_activation': 'hard_sigmoid' has no Core ML recurrent equivalent"),
    "softsign": ("GRU", {"activation": "softsign"}, "option 'activation': 'softsign' has no Core ML recurrent"),
    "simple-rnn-sequences-backwards": ("SimpleRNN", {"go_backwards": True, "return_sequences": True},
                                       "option 'go_backwards': Core ML does not document the order"),
    "bidirectional-sum": ("Bidirectional", {"merge_mode": "sum"},
                          "option 'merge_mode': merge_mode 'sum': Core ML's biDirectionalLSTM concatenates"),
    "bidirectional-gru": ("Bidirectional", {"inner": "GRU"},
                          "option 'layer': Bidirectional\(GRU\) is not mapped: Core ML's only bidirectional"),
    "bidirectional-other-backward": ("Bidirectional", {"backward": {"activation": "relu"}},
                                     "option 'backward_layer': the backward layer differs from the forward LSTM"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_layer_option_and_fix(keras_mod, case):
    from converter.convert import to_inference_spec

    kind, options, message = REFUSALS[case]
    options = dict(options)
    layers = keras_mod.layers
    x = keras_mod.Input((T, F), name="x")
    if kind == "Bidirectional":
        inner = getattr(layers, options.pop("inner", "LSTM"))
        wrap = {k: options.pop(k) for k in ("merge_mode",) if k in options}
        if "backward" in options:
            wrap["backward_layer"] = layers.LSTM(UNITS, go_backwards=True, **options.pop("backward"))
        layer = layers.Bidirectional(inner(UNITS, **options), name="rnn", **wrap)
    else:
        if kind == "GRU":
            options.setdefault("reset_after", False)
        layer = getattr(layers, kind)(UNITS, name="rnn", **options)
    y = layer(x)
    model = keras_mod.Model(x, y[0] if isinstance(y, list) else y)
    with pytest.raises(UnsupportedConfigError, match=message) as info:
        to_inference_spec(model)
    assert f"keras layer 'rnn' ({kind})" in str(info.value)


def test_stateful_is_refused(keras_mod):
    from converter.convert import to_inference_spec

    x = keras_mod.Input((T, F), batch_size=2, name="x")
    model = keras_mod.Model(x, keras_mod.layers.LSTM(UNITS, stateful=True, name="rnn")(x))
    with pytest.raises(UnsupportedConfigError, match="option 'stateful': Core ML keeps no state between predictions"):
        to_inference_spec(model)


def test_a_cell_beyond_50_matches_keras(keras_mod):
    """Core ML's default cell clip (50) would cut this cell at step 50; the converter sets it out of reach."""
    x = keras_mod.Input((80, 2), name="x")
    lstm = keras_mod.layers.LSTM(3, activation="linear", name="rnn")
    model = keras_mod.Model(x, lstm(x))
    kernel, recurrent, bias = (np.zeros(w.shape, np.float32) for w in lstm.get_weights())
    lstm.set_weights([kernel, recurrent, bias + 10.0])           # i, f, o ~ 1 and z = 10: the cell grows by 10
    inputs = np.zeros((2, 80, 2), np.float32)
    assert np.asarray(model(inputs)).max() > 700                  # Keras lets the cell reach 800
    spec, _ = parity(model, inputs, atol=1e-5 * 800)


def test_linear_and_relu_recurrent_activations_are_reported(keras_mod):
    from converter.convert import convert
    from transforms.options import UpdateOptions

    x = keras_mod.Input((T, F), name="x")
    model = keras_mod.Model(x, keras_mod.layers.Dense(2, activation="softmax", name="head")(
        keras_mod.layers.GRU(UNITS, activation="relu", reset_after=False, name="rnn")(x)))
    report = convert(model, options=UpdateOptions(updatable="head")).report
    notes = [e.reason for e in report.entries if e.subject == "rnn" and "clips" in e.reason]
    assert notes == ["activation 'relu': Core ML clips each gate's pre-activation to [-50, 50] (Keras does not), so "
                     "outputs differ from Keras' where one leaves that range"]
