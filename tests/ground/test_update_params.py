"""The one name map and the one reader of updateParams."""
from __future__ import annotations

from ground.update_params import COREML_OF, KERAS_OF, BY_OPTION, canonical, kind_of, read
from tests.transforms.specs import lenet_facts, lenet_spec, make


def test_every_spelling_maps_to_one_option():
    assert canonical("learningRate") == canonical("learning_rate") == "learning_rate"
    assert canonical("miniBatchSize") == canonical("batch_size") == "batch_size"
    assert canonical("bogus") is None and canonical("learning-rate") is None
    assert COREML_OF["eps"] == "eps" and KERAS_OF["eps"] == "epsilon" and KERAS_OF["beta1"] == "beta_1"
    assert kind_of("miniBatchSize") is int and kind_of("epochs") is int and kind_of("beta2") is float
    assert BY_OPTION["learning_rate"].cli == "--learning-rate"


def test_read_gives_defaults_and_allowed_values_by_option_name():
    spec, _ = make(lenet_spec(), facts=lenet_facts(), updatable="last:2", epochs=3, seed=5, batch_size=64)
    params = read(spec.neuralNetwork)
    assert params.optimizer == "adam" and params.optimizer_message == "adamOptimizer" and params.loss == "cce"
    assert params.default("batch_size") == 64 and params.params["batch_size"].allowed[0] == "set"
    assert params.default("epochs") == 3 and params.default("seed") == 5 and params.default("shuffle") is True
    assert params.params["learning_rate"].allowed == ("range", (0.0, 1.0))
    assert params.updatable_layers == ("dense1", "dense2")
