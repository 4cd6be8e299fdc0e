"""Pass attach_loss: loss choice, softmax after logits, targets, training inputs, refusals."""
from __future__ import annotations

import numpy as np
import pytest
from tests.transforms.specs import make, mlp_builder, run_pass
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from ground.errors import BadInputError, UnsupportedConfigError
from transforms import attach_loss
from transforms.options import SourceFacts, UpdateOptions
from transforms.summary import feature_type
from ground.rules import violations


def loss_of(spec):
    loss = getattr(spec, spec.WhichOneof("Type")).updateParams.lossLayers[0]
    which = loss.WhichOneof("LossLayerType")
    return which, getattr(loss, which).input, getattr(loss, which).target


def inputs_of(spec):
    return [(f.name, feature_type(f)) for f in spec.description.trainingInput]


def test_auto_cce_on_softmax_output():
    spec, report, _ = run_pass(attach_loss, mlp_builder().spec)
    assert loss_of(spec) == ("categoricalCrossEntropyLossLayer", "probs", "probs_true")
    assert inputs_of(spec) == [("x", "MultiArray<Double>[4]"), ("probs_true", "MultiArray<Int32>[1]")]
    assert [e.action for e in report.entries] == ["added", "set"]


def test_auto_mse_without_softmax_and_target_name():
    spec, _, _ = run_pass(attach_loss, mlp_builder(softmax=False).spec, UpdateOptions(target_name="y_target"))
    assert loss_of(spec) == ("meanSquaredErrorLossLayer", "y", "y_target")
    assert inputs_of(spec) == [("x", "MultiArray<Double>[4]"), ("y_target", "MultiArray<Double>[3]")]


def test_facts_loss_wins_over_the_guess():
    spec, _, _ = run_pass(attach_loss, mlp_builder().spec, facts=SourceFacts(loss="mse"))
    assert loss_of(spec)[0] == "meanSquaredErrorLossLayer"


def test_from_logits_adds_a_softmax():
    spec, report = make(mlp_builder(softmax=False).spec, facts=SourceFacts(loss="cce", loss_from_logits=True),
                        updatable="all")
    layers = spec.neuralNetwork.layers
    assert [(x.name, list(x.input), list(x.output)) for x in layers[-2:]] == [
        ("out", ["a_out"], ["y_logits"]), ("y_softmax", ["y_logits"], ["y"])]
    assert loss_of(spec) == ("categoricalCrossEntropyLossLayer", "y", "y_true")
    assert any(e.action == "added" and e.subject == "y_softmax" and "from_logits=True" in e.reason
               for e in report.entries)
    assert violations(spec) == []


def test_cce_asked_on_logits_adds_a_softmax():
    spec, _, _ = run_pass(attach_loss, mlp_builder(softmax=False).spec, UpdateOptions(loss="cce"))
    assert spec.neuralNetwork.layers[-1].WhichOneof("layer") == "softmax"


def test_cce_on_a_non_softmax_non_logit_output_is_refused():
    b = mlp_builder(softmax=False)
    b.add_activation("sig", "SIGMOID", "y", "s")
    b.spec.description.output[0].name = "s"
    with pytest.raises(UnsupportedConfigError, match=r"output 's': Core ML's cross-entropy needs a softmax output, "
                                                     r"but 's' is produced by a activation layer"):
        run_pass(attach_loss, b.spec, UpdateOptions(loss="cce"))


def test_cce_on_a_rank3_output_is_refused():
    b = NeuralNetworkBuilder([("x", datatypes.Array(2, 3, 3))], [("p", datatypes.Array(2, 3, 3))])
    b.add_softmax("sm", "x", "p")
    with pytest.raises(UnsupportedConfigError, match=r"cross-entropy needs a vector of class probabilities, but 'p' "
                                                     r"has shape \(2, 3, 3\)"):
        run_pass(attach_loss, b.spec)


def test_label_smoothing():
    facts = SourceFacts(loss="cce", label_smoothing=0.1)
    with pytest.raises(UnsupportedConfigError, match=r"label_smoothing=0.1 cannot be expressed.*--override-unsupported"):
        run_pass(attach_loss, mlp_builder().spec, facts=facts)
    _, report, _ = run_pass(attach_loss, mlp_builder().spec, UpdateOptions(override_unsupported=True), facts)
    assert any(e.subject == "label_smoothing" and "ignored" in e.reason for e in report.entries)


def test_from_logits_on_softmax_output_is_refused():
    with pytest.raises(UnsupportedConfigError, match=r"from_logits=True\) but the model already ends in a softmax"):
        run_pass(attach_loss, mlp_builder().spec, facts=SourceFacts(loss="cce", loss_from_logits=True))


def test_classifier_target_is_the_label():
    b = mlp_builder(mode="classifier")
    b.set_class_labels([0, 1, 2], predicted_feature_name="label")
    spec, _, _ = run_pass(attach_loss, b.spec)
    assert loss_of(spec) == ("categoricalCrossEntropyLossLayer", "probs", "label")
    assert inputs_of(spec) == [("x", "MultiArray<Double>[4]"), ("label", "Int64")]
    with pytest.raises(BadInputError, match=r"a classifier's training target is its predicted-feature name 'label'"):
        run_pass(attach_loss, b.spec, UpdateOptions(target_name="t"))
    with pytest.raises(UnsupportedConfigError, match=r"a classifier is trained with the cross-entropy loss, not MSE"):
        run_pass(attach_loss, b.spec, UpdateOptions(loss="mse"))


def test_name_collisions_and_bad_options():
    with pytest.raises(BadInputError, match=r"the training target name 'h_out' is already used"):
        run_pass(attach_loss, mlp_builder().spec, UpdateOptions(target_name="h_out"))
    with pytest.raises(BadInputError, match=r"unknown loss 'hinge'.*Fix: use auto, cce or mse"):
        run_pass(attach_loss, mlp_builder().spec, UpdateOptions(loss="hinge"))
    with pytest.raises(UnsupportedConfigError, match=r"the source's loss 'binary_crossentropy' has no Core ML"):
        run_pass(attach_loss, mlp_builder().spec, facts=SourceFacts(loss="binary_crossentropy"))


def test_several_outputs_need_loss_output():
    b = mlp_builder()
    b.spec.description.output.add().CopyFrom(b.spec.description.output[0])
    b.spec.description.output[1].name = "y"
    with pytest.raises(BadInputError, match=r"the model has 2 outputs \(probs, y\).*--loss-output NAME"):
        run_pass(attach_loss, b.spec)
    with pytest.raises(BadInputError, match=r"'z' is not a model output"):
        run_pass(attach_loss, b.spec, UpdateOptions(loss_output="z"))
    spec, _, _ = run_pass(attach_loss, b.spec, UpdateOptions(loss_output="y"))
    assert loss_of(spec) == ("meanSquaredErrorLossLayer", "y", "y_true")


def test_only_inputs_the_loss_needs_are_training_inputs():
    b = NeuralNetworkBuilder([("x", datatypes.Array(4)), ("unused", datatypes.Array(2))],
                             [("y", datatypes.Array(4)), ("u", datatypes.Array(2))])
    b.add_activation("r", "RELU", "x", "y")
    b.add_activation("r2", "RELU", "unused", "u")
    spec, _, _ = run_pass(attach_loss, b.spec, UpdateOptions(loss_output="y"))
    assert [f.name for f in spec.description.trainingInput] == ["x", "y_true"]


def test_log_softmax_output_becomes_probabilities_under_cross_entropy():
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("logp", datatypes.Array(3))])
    b.add_inner_product("fc", np.ones((3, 4), np.float32), None, 4, 3, False, "x", "z")
    b.add_softmax("softmax", "z", "p")
    b.add_unary("log", "p", "logp", mode="log")
    spec, report, _ = run_pass(attach_loss, b.spec)
    assert loss_of(spec) == ("categoricalCrossEntropyLossLayer", "logp", "logp_true")
    layers = spec.neuralNetwork.layers
    assert [layer.name for layer in layers] == ["fc", "softmax"] and layers[1].output[0] == "logp"
    assert any(e.action == "dropped" and "not log-probabilities" in e.reason for e in report.entries)
    assert violations(make(b.spec, updatable="all")[0]) == []
