"""Pass attach_optimizer: values and their origins, ranges, refusals of what Core ML cannot express."""
from __future__ import annotations

import pytest
from tests.transforms.specs import mlp_builder, run_pass

from ground.errors import BadInputError, UnsupportedConfigError
from transforms import attach_optimizer
from transforms.options import SourceFacts, UpdateOptions
from transforms.summary import update_settings


def attach(facts=None, **options):
    spec, report, _ = run_pass(attach_optimizer, mlp_builder().spec, UpdateOptions(**options), facts)
    return spec.neuralNetwork.updateParams, report


def origin(report, subject):
    return next(e.reason for e in report.entries if e.subject == subject)


def test_defaults():
    up, report = attach()
    adam = up.optimizer.adamOptimizer
    assert (adam.learningRate.defaultValue, adam.miniBatchSize.defaultValue, adam.beta1.defaultValue,
            adam.beta2.defaultValue, adam.eps.defaultValue) == (0.001, 32, 0.9, 0.999, 1e-7)
    assert (adam.learningRate.range.minValue, adam.learningRate.range.maxValue) == (0.0, 1.0)
    assert 32 in adam.miniBatchSize.set.values and 1 in adam.miniBatchSize.set.values
    assert up.epochs.defaultValue == 1 and (up.epochs.range.minValue, up.epochs.range.maxValue) == (1, 1000)
    assert up.shuffle.defaultValue is True and not up.HasField("seed")
    assert origin(report, "optimizer") == "adam (project default)"
    assert origin(report, "eps") == "1e-07 (project default)"


def test_options_then_compile_config():
    facts = SourceFacts(optimizer="SGD", optimizer_config={"learning_rate": 0.05, "momentum": 0.5, "nesterov": False})
    up, report = attach(facts, batch_size=16, epochs=3, seed=42, shuffle=False)
    sgd = up.optimizer.sgdOptimizer
    assert (sgd.learningRate.defaultValue, sgd.momentum.defaultValue, sgd.miniBatchSize.defaultValue) == (0.05, 0.5, 16)
    assert (up.epochs.defaultValue, up.seed.defaultValue, up.shuffle.defaultValue) == (3, 42, False)
    assert origin(report, "optimizer") == "sgd (compile config)"
    assert origin(report, "learningRate") == "0.05 (compile config)"
    assert origin(report, "miniBatchSize") == "16 (option)"


def test_sgd_default_learning_rate_is_keras_sgd_default():
    up, _ = attach(optimizer="sgd")
    assert up.optimizer.sgdOptimizer.learningRate.defaultValue == 0.01


def test_allowed_ranges_and_sets():
    up, _ = attach(learning_rate=0.01, allowed_ranges={"learning_rate": (0.001, 0.1), "epochs": (1, 5)},
                   allowed_sets={"miniBatchSize": (8, 32, 64)})
    adam = up.optimizer.adamOptimizer
    assert (adam.learningRate.range.minValue, adam.learningRate.range.maxValue) == (0.001, 0.1)
    assert list(adam.miniBatchSize.set.values) == [8, 32, 64]
    assert (up.epochs.range.minValue, up.epochs.range.maxValue) == (1, 5)


def test_allowed_values_refusals():
    with pytest.raises(BadInputError, match=r"learningRate = 0.5 lies outside its allowed range \[0.001, 0.1\]"):
        attach(learning_rate=0.5, allowed_ranges={"learningRate": (0.001, 0.1)})
    with pytest.raises(BadInputError, match=r"the allowed set \[8, 64\] for miniBatchSize.*including 32"):
        attach(allowed_sets={"batch_size": (8, 64)})
    with pytest.raises(BadInputError, match=r"allowed values given for momentum, which the adam optimizer does not have"):
        attach(allowed_ranges={"momentum": (0, 1)})
    with pytest.raises(BadInputError, match=r"learningRate takes an allowed range, not a set"):
        attach(allowed_sets={"learningRate": (1,)})


@pytest.mark.parametrize("option, value, message", [
    ("learning_rate", 0.0, r"option 'learning_rate': learningRate must be > 0, got 0"),
    ("batch_size", 0, r"option 'batch_size': miniBatchSize must be a whole number >= 1"),
    ("epochs", 1.5, r"option 'epochs': epochs must be a whole number >= 1"),
    ("beta1", 1.0, r"option 'beta1': beta1 must be in \[0, 1\), got 1"),
    ("eps", -1.0, r"option 'eps': eps must be > 0"),
])
def test_value_checks(option, value, message):
    with pytest.raises(BadInputError, match=message):
        attach(**{option: value})


def test_momentum_check_and_unknown_optimizer_option():
    with pytest.raises(BadInputError, match=r"momentum must be in \[0, 1\), got 1.5"):
        attach(optimizer="sgd", momentum=1.5)
    with pytest.raises(BadInputError, match=r"unknown optimizer 'rmsprop'.*Fix: use adam or sgd"):
        attach(optimizer="rmsprop")
    with pytest.raises(BadInputError, match=r"seed must be a whole number"):
        attach(seed=1.5)


def test_compile_config_values_are_checked():
    with pytest.raises(UnsupportedConfigError, match=r"beta1 from the compile config: beta1 must be in \[0, 1\)"):
        attach(SourceFacts(optimizer="adam", optimizer_config={"beta_1": 1.2}))


def test_unknown_source_optimizer():
    with pytest.raises(UnsupportedConfigError, match=r"the source's optimizer 'RMSprop' has no Core ML equivalent.*"
                                                     r"--optimizer adam \(nearest supported\)"):
        attach(SourceFacts(optimizer="RMSprop"))
    up, report = attach(SourceFacts(optimizer="ftrl"), override_unsupported=True)
    assert up.optimizer.WhichOneof("OptimizerType") == "sgdOptimizer"
    assert any(e.action == "note" and "replaced by sgd" in e.reason for e in report.entries)


@pytest.mark.parametrize("key, value", [
    ("learning_rate", {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1}}),
    ("weight_decay", 0.004), ("nesterov", True), ("amsgrad", True), ("clipnorm", 1.0), ("clipvalue", 0.5),
    ("global_clipnorm", 1.0), ("use_ema", True), ("gradient_accumulation_steps", 4), ("loss_scale_factor", 128.0),
    ("decay", 0.01),
])
def test_keras_options_core_ml_cannot_express(key, value):
    facts = SourceFacts(optimizer="adam", optimizer_config={key: value})
    with pytest.raises(UnsupportedConfigError, match=rf"compile config's optimizer option '{key}'.*"
                                                     r"--override-unsupported"):
        attach(facts)
    up, report = attach(facts, override_unsupported=True)
    assert any(e.subject == key and e.reason.startswith("ignored") for e in report.entries)
    if key == "learning_rate":
        assert up.optimizer.adamOptimizer.learningRate.defaultValue == 0.1


def test_harmless_keras_defaults_are_accepted():
    config = {"learning_rate": 0.002, "weight_decay": None, "clipnorm": None, "use_ema": False, "nesterov": False,
              "gradient_accumulation_steps": None, "loss_scale_factor": None, "name": "adam"}
    up, _ = attach(SourceFacts(optimizer="adam", optimizer_config=config))
    assert up.optimizer.adamOptimizer.learningRate.defaultValue == 0.002


def test_summary_reads_the_settings():
    from tests.transforms.specs import updatable_mlp
    s = update_settings(updatable_mlp())
    assert s["optimizer"]["type"] == "adam"
    assert s["optimizer"]["parameters"]["learningRate"] == {"default": 0.01, "range": [0.0, 1.0]}
    assert s["epochs"] == {"default": 2, "set": [2]}
