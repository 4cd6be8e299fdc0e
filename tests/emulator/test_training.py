"""The runtime's training against updates computed by hand, finite differences, and frozen bits."""
from __future__ import annotations

import numpy as np
import pytest

import emulator
from ground.errors import BadInputError, TrainingDivergedError
from emulator.conventions import Conventions
from emulator.events import TrainingEvent
from emulator.shuffle import epoch_orders

from .nets import dense_mse, dense_softmax, small_cnn, weights_of

RNG = np.random.default_rng(42)
D, K = 5, 3
W0 = RNG.normal(0, 0.5, (K, D)).astype(np.float32)
B0 = RNG.normal(0, 0.1, K).astype(np.float32)
X = RNG.normal(0, 1, (6, D)).astype(np.float32)
Y = np.array([0, 2, 1, 1, 0, 2])


def _ce_grads(w, b, x, y):
    """Gradient of mean cross-entropy(softmax(x w^T + b), y), by hand (float64)."""
    logits = x @ w.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - np.eye(w.shape[0])[y]) / len(x)
    return d.T @ x, d.sum(0)


def test_sgd_with_momentum_and_partial_last_batch_matches_hand_computation():
    lr, mu = 0.1, 0.5
    model = emulator.load(dense_softmax(W0, B0, optimizer="sgd", lr=lr, batch=4, momentum=mu))
    result = model.update({"x": X, "label": Y}, conventions=Conventions(partial_last_batch="keep"))
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for batch in (slice(0, 4), slice(4, 6)):        # 6 examples, batch 4: the last batch has 2
        gw, gb = _ce_grads(w, b, X[batch], Y[batch])
        vw, vb = mu * vw + lr * gw, mu * vb + lr * gb
        w, b = w - vw, b - vb
    got_w, got_b = weights_of(result.spec, "fc")
    np.testing.assert_allclose(got_w.reshape(K, D), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b, rtol=1e-5, atol=1e-6)
    assert len(result.batch_losses[0]) == 2


def test_the_default_drops_the_partial_last_batch():
    lr = 0.1
    model = emulator.load(dense_softmax(W0, B0, optimizer="sgd", lr=lr, batch=4))
    result = model.update({"x": X, "label": Y})       # 6 examples, batch 4: one batch, 2 left over
    gw, gb = _ce_grads(W0.astype(np.float64), B0.astype(np.float64), X[:4], Y[:4])
    got_w, got_b = weights_of(result.spec, "fc")
    np.testing.assert_allclose(got_w.reshape(K, D), W0 - lr * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, B0 - lr * gb, rtol=1e-5, atol=1e-6)
    assert len(result.batch_losses[0]) == 1
    assert result.conventions["partial_last_batch"].startswith("drop (")


def test_mse_half_convention_halves_the_loss_and_its_gradient():
    model = emulator.load(dense_mse(W0, B0, optimizer="sgd", lr=0.05, batch=6))
    target = RNG.normal(0, 1, (6, K)).astype(np.float32)
    full = model.update({"x": X, "y_true": target})
    half = model.update({"x": X, "y_true": target}, conventions=Conventions(mse="mean_half"))
    assert half.batch_losses[0][0] == pytest.approx(full.batch_losses[0][0] / 2, rel=1e-6)
    moved = [W0 - weights_of(r.spec, "fc")[0].reshape(K, D) for r in (full, half)]
    np.testing.assert_allclose(moved[1], moved[0] / 2, rtol=1e-4, atol=1e-7)


def test_adam_two_steps_match_hand_computation():
    lr, b1, b2, eps = 0.01, 0.8, 0.9, 1e-3
    model = emulator.load(dense_softmax(W0, B0, optimizer="adam", lr=lr, batch=3, beta1=b1, beta2=b2, eps=eps))
    result = model.update({"x": X, "label": Y})
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, batch in enumerate((slice(0, 3), slice(3, 6)), start=1):
        grads = _ce_grads(params[0], params[1], X[batch], Y[batch])
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - lr_t * m[i] / (np.sqrt(v[i]) + eps)
    got_w, got_b = weights_of(result.spec, "fc")
    np.testing.assert_allclose(got_w.reshape(K, D), params[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, params[1], rtol=1e-5, atol=1e-6)


def test_mse_loss_is_mean_squared_error_without_half():
    model = emulator.load(dense_mse(W0, B0, optimizer="sgd", lr=0.05, batch=6))
    target = RNG.normal(0, 1, (6, K)).astype(np.float32)
    result = model.update({"x": X, "y_true": target})
    pred = X.astype(np.float64) @ W0.T + B0
    assert result.batch_losses[0][0] == pytest.approx(np.mean((pred - target) ** 2), rel=1e-5)
    gw = 2 * (pred - target).T @ X / pred.size
    np.testing.assert_allclose(weights_of(result.spec, "fc")[0].reshape(K, D), W0 - 0.05 * gw, rtol=1e-5, atol=1e-6)


def test_gradient_matches_finite_differences_through_conv_pool_flatten_dense():
    spec = small_cnn(seed=1, optimizer="sgd", lr=1.0, batch=8)
    x = np.random.default_rng(2).normal(0, 1, (8, 1, 6, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    result = emulator.load(spec).update({"x": x, "label": y})
    for name in ("conv", "fc"):
        w0, _ = weights_of(spec, name)
        grad = w0.astype(np.float64) - weights_of(result.spec, name)[0]   # SGD, lr 1, one step

        def loss_at(flat):
            s = type(spec)()
            s.CopyFrom(spec)
            layer = next(l for l in s.neuralNetwork.layers if l.name == name)
            p = getattr(layer, layer.WhichOneof("layer"))
            del p.weights.floatValue[:]
            p.weights.floatValue.extend(flat.astype(np.float32).tolist())
            probs = emulator.load(s).predict(x)["probs"].astype(np.float64)
            return -np.mean(np.log(probs[np.arange(len(y)), y]))

        h = 1e-2
        for i in np.random.default_rng(3).choice(w0.size, 6, replace=False):
            up, down = w0.astype(np.float64).copy(), w0.astype(np.float64).copy()
            up[i] += h
            down[i] -= h
            fd = (loss_at(up) - loss_at(down)) / (2 * h)
            assert fd == pytest.approx(grad[i], rel=0.05, abs=2e-4), (name, i)


def test_frozen_layers_are_bit_identical_and_only_trained_weights_change():
    spec = small_cnn(seed=4, updatable=("fc",), optimizer="adam", lr=0.01, batch=4)
    x = np.random.default_rng(5).normal(0, 1, (10, 1, 6, 5)).astype(np.float32)
    y = np.arange(10) % 3
    result = emulator.load(spec).update({"x": x, "label": y})
    before = {l.name: l.SerializeToString(deterministic=True) for l in spec.neuralNetwork.layers}
    after = {l.name: l.SerializeToString(deterministic=True) for l in result.spec.neuralNetwork.layers}
    assert before["conv"] == after["conv"]
    assert before["fc"] != after["fc"]
    # everything but the trained weights is identical
    a, b = type(spec)(), type(spec)()
    a.CopyFrom(spec)
    b.CopyFrom(result.spec)
    for s in (a, b):
        fc = next(l for l in s.neuralNetwork.layers if l.name == "fc").innerProduct
        del fc.weights.floatValue[:]
        del fc.bias.floatValue[:]
    assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


def test_events_and_shuffled_order_follow_core_ml():
    spec = dense_softmax(W0, B0, optimizer="sgd", lr=0.1, batch=4, shuffle=True, seed=11)
    events: list[TrainingEvent] = []
    x = np.tile(X, (2, 1))
    y = np.tile(Y, 2)
    result = emulator.load(spec).update({"x": x, "label": y}, epochs=2, callbacks=[events.append])
    kinds = [e.kind for e in events]
    assert kinds == ["training_begin"] + (["mini_batch_end"] * 3 + ["epoch_end"]) * 2 + ["training_end"]
    batch_events = [e for e in events if e.kind == "mini_batch_end"]
    assert [(e.epoch, e.batch) for e in batch_events] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    epoch_end = [e for e in events if e.kind == "epoch_end"]
    assert epoch_end[0].loss == batch_events[2].loss                     # last batch, as Core ML reports
    assert epoch_end[0].epoch_mean_loss == pytest.approx(np.mean([e.loss for e in batch_events[:3]]))
    expected = epoch_orders(12, 2, shuffle=True, seed=11)
    assert all((a == b).all() for a, b in zip(result.orders, expected))
    assert result.settings.seed == 11 and result.settings.shuffle
    # only the conventions of this run: an SGD, cross-entropy, shuffled, seeded run has no Adam, MSE or
    # unseeded line
    assert set(result.conventions) == {"batch_loss", "cross_entropy", "momentum", "partial_last_batch", "shuffle",
                                       "reshuffle", "reported_loss"}


@pytest.mark.parametrize("loss, optimizer, shuffle, absent", [
    ("cce", "adam", True, {"mse", "momentum"}),
    ("mse", "sgd", False, {"cross_entropy", "adam", "shuffle", "reshuffle"}),
])
def test_conventions_listed_are_those_of_the_run(loss, optimizer, shuffle, absent):
    from emulator.conventions import CORE_ML, applicable

    described = CORE_ML.describe(loss, optimizer, shuffle)
    assert set(described) == set(applicable(loss, optimizer, shuffle))
    assert not absent & set(described)
    assert {"batch_loss", "partial_last_batch", "reported_loss"} <= set(described)
    assert len(CORE_ML.describe()) == len(CORE_ML.as_dict())          # nothing given: every convention


@pytest.mark.parametrize("shuffle, seed, listed", [(True, None, True), (True, 0, False), (True, 7, False),
                                                    (False, None, False), (None, None, True), (True, ..., True)])
def test_unseeded_is_listed_only_for_a_shuffled_run_without_a_seed(shuffle, seed, listed):
    from emulator.conventions import ANY_SEED, CORE_ML, applicable

    seed = ANY_SEED if seed is ... else seed
    assert ("unseeded" in applicable("cce", "adam", shuffle, seed)) is listed
    assert ("unseeded" in CORE_ML.describe("cce", "adam", shuffle, seed)) is listed


@pytest.mark.parametrize("seed, listed", [(None, True), (3, False)])
def test_a_run_reports_unseeded_only_without_a_seed(seed, listed):
    spec = dense_softmax(W0, B0, optimizer="sgd", lr=0.1, batch=4, shuffle=True, seed=seed)
    result = emulator.load(spec).update({"x": X, "label": Y}, epochs=1)
    assert result.settings.seed == seed
    assert ("unseeded" in result.conventions) is listed


@pytest.mark.parametrize("overrides, message", [
    ({"learning_rate": 5.0}, r"learning_rate=5.0 is outside the model's allowed range \[0.0, 1.0\]"),
    ({"batch_size": 5}, r"batch_size=5 is not in the model's allowed set"),
    ({"epochs": 50}, r"epochs=50 is not in the model's allowed set"),
    ({"momentum": 0.9}, r"override momentum does not apply to the model's ADAM optimizer"),
    ({"learning_rate": 0.0}, r"learning rate 0.0 must be > 0"),
    ({"beta1": 1.0}, r"beta1 1.0 must be in \[0, 1\)"),
    ({"warmup": 3}, r"unknown override\(s\) \['warmup'\]"),
])
def test_overrides_outside_the_allowed_values_are_refused(overrides, message):
    model = emulator.load(dense_softmax(W0, B0, optimizer="adam", lr=0.01, batch=3))
    with pytest.raises(BadInputError, match=message):
        model.update({"x": X, "label": Y}, **overrides)


def test_overrides_inside_the_allowed_values_are_used():
    model = emulator.load(dense_softmax(W0, B0, optimizer="adam", lr=0.01, batch=3))
    result = model.update({"x": X, "label": Y}, learning_rate=0.5, batch_size=2, epochs=2, shuffle=True, seed=5)
    s = result.settings
    assert (s.learning_rate, s.batch_size, s.epochs, s.shuffle, s.seed) == (0.5, 2, 2, True, 5)
    assert [len(b) for b in result.batch_losses] == [3, 3]


@pytest.mark.parametrize("data, message", [
    ({"x": X, "label": Y[:5]}, r"the data set's sizes do not match"),
    ({"x": X}, r"missing \['label'\]"),
    ({"x": X[:, :4], "label": Y}, r"has shape \(6, 4\), expected \(N, 5\)"),
    ({"x": X, "label": Y + 3}, r"the model has 3 classes"),
    ({"x": X, "label": np.eye(3)[Y]}, r"not one-hot rows"),
    ({"x": np.full_like(X, np.nan), "label": Y}, r"contains NaN"),
])
def test_bad_training_data_gets_one_clear_message(data, message):
    model = emulator.load(dense_softmax(W0, B0))
    with pytest.raises(BadInputError, match=message):
        model.update(data)


def test_a_loss_that_turns_infinite_stops_and_names_epoch_and_batch():
    model = emulator.load(dense_mse(W0, B0, optimizer="sgd", lr=0.05, batch=2))
    target = np.zeros((6, K), np.float32)
    target[2:] = 1e30                                    # the second mini-batch overflows
    with pytest.raises(TrainingDivergedError, match=r"at epoch 1, mini-batch 2"):
        model.update({"x": X, "y_true": target})


def test_non_updatable_model_is_refused():
    spec = dense_softmax(W0, B0)
    spec.isUpdatable = False
    with pytest.raises(BadInputError, match=r"the model is not updatable"):
        emulator.load(spec).update({"x": X, "label": Y})


def test_updated_model_saves_and_reloads(tmp_path):
    result = emulator.load(dense_softmax(W0, B0)).update({"x": X, "label": Y})
    path = tmp_path / "updated.mlmodel"
    result.save(path)
    again = emulator.load(path)
    np.testing.assert_array_equal(again.predict(X)["probs"], result.model.predict(X)["probs"])
    assert not list(tmp_path.glob("*.tmp"))


def test_a_model_core_ml_would_refuse_is_not_trained():
    from ground.errors import ValidationError

    spec = small_cnn(seed=1, updatable=("conv",), optimizer="sgd", lr=0.1, batch=4)
    relu = next(l for l in spec.neuralNetwork.layers if l.name == "relu")
    relu.activation.ClearField("ReLU")
    relu.activation.leakyReLU.alpha = 0.1            # blocks back-propagation to the updatable conv
    x = np.zeros((4, 1, 6, 5), np.float32)
    with pytest.raises(ValidationError, match=r"(?s)Core ML would refuse.*There is a layer \(relu\), which does not "
                                              r"support backpropagation"):
        emulator.load(spec).update({"x": x, "label": np.zeros(4, int)})


def test_a_layer_of_a_type_core_ml_cannot_update_is_refused_with_apples_message():
    from ground.errors import ValidationError

    spec = small_cnn(seed=1, updatable=("conv",), optimizer="sgd", lr=0.1, batch=4)
    next(l for l in spec.neuralNetwork.layers if l.name == "pool").isUpdatable = True
    with pytest.raises(ValidationError, match=r"The layer named 'pool' is marked as updatable, however it is not "
                                              r"supported as the type of this layer is neither convolution nor "
                                              r"inner-product."):
        emulator.load(spec).update({"x": np.zeros((4, 1, 6, 5), np.float32), "label": np.zeros(4, int)})
