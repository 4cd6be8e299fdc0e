"""Error paths of the parity harness, each with the message a user sees."""
from __future__ import annotations

import pytest

from ground.errors import BadInputError, UnsupportedModelError, ValidationError
from emulator.features import Feature
from parity import settings as S
from parity.coreml_side import target_feature
from parity.harness import _image_input

from .nets import lenet_pair


def test_unknown_optimizer_in_update_params() -> None:
    _, spec = lenet_pair()
    spec.neuralNetwork.updateParams.optimizer.Clear()
    with pytest.raises(ValidationError, match=r"updateParams breaks 1 Core ML rule.*\n.*\[rule 16\] Optimizer is not recognized"):
        S.coreml_settings(spec.neuralNetwork)


def test_model_without_a_training_target() -> None:
    import emulator

    _, spec = lenet_pair()
    del spec.description.trainingInput[1]
    with pytest.raises(BadInputError, match="declares 0 training targets .none.; verify needs exactly one"):
        target_feature(emulator.load(spec))


def test_more_than_one_image_input() -> None:
    class TwoInputs:
        inputs = [Feature("a", "multiArray", (1, 4, 4)), Feature("b", "multiArray", (1, 4, 4))]

    with pytest.raises(UnsupportedModelError, match="one image input; this one has 2"):
        _image_input(TwoInputs())


def test_subclassed_keras_model_is_refused() -> None:
    import keras

    from parity.keras_side import KerasSide

    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    model = Custom()
    model(keras.ops.zeros((1, 4)))
    with pytest.raises(UnsupportedModelError, match="cannot copy the Keras model for training"):
        KerasSide(model, trainable=set(), loss="cce", optimizer="adam", values={"learning_rate": 1e-3})


def test_expected_settings_origins() -> None:
    from transforms.options import UpdateOptions

    keras_model, spec = lenet_pair()
    exp = S.expected_settings(keras_model, spec.neuralNetwork, UpdateOptions(learning_rate=0.5))
    assert exp.values["learning_rate"] == 0.5 and exp.origin["learning_rate"] == "the conversion options"
    assert exp.values["eps"] == pytest.approx(1e-7) and exp.origin["eps"] == "the Keras compile config"
    mismatches = S.compare(exp, spec.neuralNetwork)
    assert [m.name for m in mismatches] == ["learning_rate"]
    assert "updateParams learning_rate = 0.001, but the conversion options says 0.5" in str(mismatches[0])
