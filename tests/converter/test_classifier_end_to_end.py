"""A classifier made with class labels trains on label values, as Core ML takes them."""
from __future__ import annotations

import numpy as np
import pytest

import emulator
from converter.convert import convert
from ground.errors import BadInputError
from transforms.options import UpdateOptions

LABELS = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def classifier():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    return emulator.load(convert(model, options=UpdateOptions(class_labels=LABELS, batch_size=4)).spec)


def test_string_labels_are_the_training_target(classifier):
    spec = classifier.spec
    assert spec.WhichOneof("Type") == "neuralNetworkClassifier"
    target = spec.description.trainingInput[-1]
    assert (target.name, target.type.WhichOneof("Type")) == ("classLabel", "stringType")
    x = np.random.default_rng(1).normal(size=(24, 6)).astype(np.float32)
    labels = np.array(LABELS * 8)
    result = classifier.update({classifier.inputs[0].name: x, "classLabel": labels}, epochs=20)
    assert result.epoch_mean_losses[-1] < result.epoch_mean_losses[0]
    predicted = result.model.predict(x)["classLabel"]
    assert set(predicted) <= set(LABELS)


def test_a_label_outside_the_class_labels_is_refused(classifier):
    x = np.zeros((4, 6), np.float32)
    with pytest.raises(BadInputError, match=r"target labels \['horse'\] are not among the model's class labels"):
        classifier.update({classifier.inputs[0].name: x, "classLabel": np.array(["cat", "dog", "horse", "cat"])})
