"""Issue 3's bar on the bundled LeNet: valid, Keras-exact before training, > 0.95 after one epoch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import emulator
from converter.convert import convert
import data_loading as data
from transforms.options import UpdateOptions
from ground.rules import violations
from tests.shared_data import MNIST, needs_mnist

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def converted():
    import keras

    keras_model = keras.saving.load_model(ROOT / "fixtures" / "lenet.keras")
    result = convert(ROOT / "fixtures" / "lenet.keras", options=UpdateOptions(batch_size=128))
    return keras_model, result


def test_converted_lenet_is_valid_and_fully_updatable(converted):
    _, result = converted
    assert violations(result.spec) == []
    updatable = [l.name for l in result.spec.neuralNetwork.layers if l.isUpdatable]
    assert len(updatable) == 4
    params = sum(len(getattr(l, l.WhichOneof("layer")).weights.floatValue)
                 + len(getattr(l, l.WhichOneof("layer")).bias.floatValue)
                 for l in result.spec.neuralNetwork.layers if l.WhichOneof("layer") in ("convolution", "innerProduct"))
    assert params == 585_958


@needs_mnist
def test_predictions_match_keras_on_the_whole_test_set_then_one_epoch_beats_095(converted):
    keras_model, result = converted
    ds = data.load(MNIST)
    keras_probs = keras_model.predict(data.for_keras(ds.x_test), batch_size=1000, verbose=0)
    model = emulator.load(result.spec)
    x_test = data.for_coreml(ds.x_test, (1, 28, 28))
    coreml_probs = model.predict(x_test)["probs"]
    assert np.abs(coreml_probs - keras_probs).max() <= 1e-5
    run = model.update({"image": data.for_coreml(ds.x_train, (1, 28, 28)), "probs_true": ds.y_train})
    accuracy = (run.model.predict(x_test)["probs"].argmax(1) == ds.y_test).mean()
    assert run.settings.batch_size == 128 and run.settings.epochs == 1
    assert accuracy > 0.95
