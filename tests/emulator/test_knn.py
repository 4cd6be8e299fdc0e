"""The runtime's k-NN classifier against scikit-learn's KNeighborsClassifier (an independent reference).

Specs are built with coremltools' own KNearestNeighborsClassifierBuilder (not this project's converter).
Labels are compared where the vote has one winner; at a tie, the runtime's label must be the tied label
of the nearest neighbor (``emulator.conventions.KNN.vote_ties``) among scikit-learn's neighbors.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import emulator
from ground.errors import BadInputError
from emulator.knn import KNNModel

sklearn_neighbors = pytest.importorskip("sklearn.neighbors")

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT / ".." / "shared" / "data" / "mnist" / "mnist.npz"


def _builder(dims: int, k: int, weighting: str, index: str, default=-1):
    from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder

    return KNearestNeighborsClassifierBuilder("features", "label", dims, default, number_of_neighbors=k,
                                              weighting_scheme=weighting, index_type=index, leaf_size=8)


def _sklearn(k: int, weighting: str, index: str):
    # the runtime weighs a neighbor by 1 / squared Euclidean distance (emulator.conventions.KNN)
    weights = "uniform" if weighting == "uniform" else (lambda d: 1.0 / d ** 2)
    return sklearn_neighbors.KNeighborsClassifier(k, weights=weights,
                                                  algorithm="brute" if index == "linear" else "kd_tree")


@pytest.fixture(scope="module")
def random_data():
    rng = np.random.default_rng(7)
    return (rng.normal(size=(240, 12)).astype(np.float32), rng.integers(0, 5, 240),
            rng.normal(size=(200, 12)).astype(np.float32))


@pytest.fixture(scope="module")
def mnist_embeddings():
    """Embeddings of MNIST digits by the bundled LeNet's layers up to its 500-unit Dense layer."""
    if not MNIST.exists():
        pytest.skip("../shared/data/mnist/mnist.npz is not present")
    import keras

    with np.load(MNIST) as f:
        x_train, y_train, x_test = f["x_train"][:400], f["y_train"][:400], f["x_test"][:300]
    lenet = keras.saving.load_model(ROOT / "fixtures" / "lenet.keras", compile=False)
    extractor = keras.Model(lenet.inputs, lenet.get_layer("dense1").output)
    embed = (lambda x: extractor.predict(x[..., None].astype(np.float32) / 255.0, verbose=0, batch_size=256))
    return embed(x_train), y_train.astype(np.int64), embed(x_test)


def _check_against_sklearn(model: KNNModel, sk, queries: np.ndarray) -> None:
    out = model.predict({"features": queries})
    probs, labels = out["labelProbs"], out["label"]
    columns = [model.class_labels.index(c) for c in sk.classes_]
    np.testing.assert_allclose(probs[:, columns], sk.predict_proba(queries), rtol=1e-6, atol=1e-6)
    expected = sk.predict(queries)
    top = sk.predict_proba(queries)
    tied = (np.isclose(top, top.max(1, keepdims=True), rtol=1e-9, atol=0).sum(1) > 1)
    assert np.array_equal(labels[~tied], expected[~tied])
    _, neighbors = sk.kneighbors(queries)
    for row in np.flatnonzero(tied):
        best = set(sk.classes_[np.isclose(top[row], top[row].max(), rtol=1e-9, atol=0)])
        nearest_tied = next(sk._y[j] for j in neighbors[row] if sk.classes_[sk._y[j]] in best)
        assert labels[row] == sk.classes_[nearest_tied]


@pytest.mark.parametrize("index", ["linear", "kd_tree"])
@pytest.mark.parametrize("weighting", ["uniform", "inverse_distance"])
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("data", ["random_data", "mnist_embeddings"])
def test_matches_sklearn(request, data, index, weighting, k):
    x, y, q = request.getfixturevalue(data)
    b = _builder(x.shape[1], k, weighting, index)
    b.add_samples(x, y.tolist())
    _check_against_sklearn(emulator.load(b.spec), _sklearn(k, weighting, index).fit(x, y), q)


def test_update_appends_in_order_and_keeps_the_rest(random_data):
    x, y, _ = random_data
    b = _builder(x.shape[1], 3, "uniform", "linear")
    b.add_samples(x[:10], y[:10].tolist())
    model = emulator.load(b.spec)
    result = model.update({"features": x[10:25], "label": y[10:25]}, epochs=5)   # epochs play no part
    new = result.model
    assert len(new.samples) == 25 and result.added == 15
    np.testing.assert_array_equal(new.samples, x[:25])
    assert new.sample_labels == y[:25].tolist()
    assert len(model.samples) == 10                                              # the input model is unchanged
    before, after = type(b.spec)(), type(b.spec)()
    before.CopyFrom(b.spec)
    after.CopyFrom(result.spec)
    for s in (before, after):
        s.kNearestNeighborsClassifier.nearestNeighborsIndex.ClearField("floatSamples")
        s.kNearestNeighborsClassifier.int64ClassLabels.ClearField("vector")
    assert before.SerializeToString(deterministic=True) == after.SerializeToString(deterministic=True)


def test_update_string_labels_and_new_labels_join_the_end():
    b = _builder(2, 1, "uniform", "linear", default="none")
    model = emulator.load(b.spec)
    assert list(model.predict({"features": np.zeros((2, 2))})["label"]) == ["none", "none"]  # empty: default
    new = model.update({"features": np.array([[0, 0], [5, 5], [0, 1]]), "label": ["cat", "dog", "cat"]}).model
    assert new.class_labels == ["cat", "dog"]
    assert list(new.predict({"features": np.array([[4.0, 4.0], [0.1, 0.2]])})["label"]) == ["dog", "cat"]
    with pytest.raises(BadInputError, match="class labels are strings"):
        new.update({"features": np.zeros((1, 2)), "label": [3]})


@pytest.mark.parametrize("index", ["linear", "kd_tree"])
def test_neighbors_at_equal_distance_first_stored_wins(index):
    b = _builder(1, 1, "uniform", index)
    b.add_samples(np.array([[1.0], [-1.0], [3.0], [4.0], [5.0], [6.0], [7.0], [8.0], [9.0], [10.0]]),
                  [7, 8, 1, 1, 1, 1, 1, 1, 1, 1])
    assert emulator.load(b.spec).predict({"features": np.array([[0.0]])})["label"][0] == 7


def test_number_of_neighbors_override_is_range_checked(random_data):
    x, y, q = random_data
    b = _builder(x.shape[1], 3, "uniform", "linear")
    b.set_number_of_neighbors_with_bounds(3, allowed_range=(1, 5))
    b.add_samples(x, y.tolist())
    model = emulator.load(b.spec)
    sk = _sklearn(5, "uniform", "linear").fit(x, y)
    np.testing.assert_allclose(model.predict({"features": q}, number_of_neighbors=5)["labelProbs"]
                               [:, [model.class_labels.index(c) for c in sk.classes_]], sk.predict_proba(q))
    with pytest.raises(BadInputError, match=r"number_of_neighbors=6 is outside the model's allowed range \[1, 5\]"):
        model.predict({"features": q}, number_of_neighbors=6)
    with pytest.raises(BadInputError, match=r"number_of_neighbors=0 is outside"):
        model.update({"features": x[:2], "label": y[:2]}, number_of_neighbors=0)
    b.set_number_of_neighbors_with_bounds(3, allowed_set={1, 3})
    with pytest.raises(BadInputError, match=r"number_of_neighbors=2 is not in the model's allowed set"):
        emulator.load(b.spec).predict({"features": q}, number_of_neighbors=2)


def test_bad_inputs_are_refused(random_data):
    x, y, _ = random_data
    b = _builder(x.shape[1], 3, "uniform", "linear")
    model = emulator.load(b.spec)
    with pytest.raises(BadInputError, match=r"expected \(N, 12\)"):
        model.predict({"features": np.zeros((2, 3))})
    with pytest.raises(BadInputError, match=r"missing \['label'\]"):
        model.update({"features": x[:2]})
    with pytest.raises(BadInputError, match="one label per example"):
        model.update({"features": x[:2], "label": y[:3]})
