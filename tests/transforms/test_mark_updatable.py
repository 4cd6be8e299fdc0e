"""Pass mark_updatable: every policy and every refusal."""
from __future__ import annotations

import numpy as np
import pytest
from tests.transforms.specs import lenet_facts, lenet_spec, mlp_builder, run_pass

from ground.errors import BadInputError, UnsupportedConfigError
from transforms import mark_updatable
from transforms.options import SourceFacts, UpdateOptions


def marked(spec) -> list[str]:
    return [x.name for x in spec.neuralNetwork.layers if x.isUpdatable]


def mark(policy: str, spec=None, facts=None):
    spec = spec if spec is not None else lenet_spec()
    return run_pass(mark_updatable, spec, UpdateOptions(updatable=policy), facts or lenet_facts())


@pytest.mark.parametrize("policy, expected", [
    ("trainable", ["conv1", "conv2", "dense1", "dense2"]),
    ("all", ["conv1", "conv2", "dense1", "dense2"]),
    ("last:1", ["dense2"]),
    ("last:3", ["conv2", "dense1", "dense2"]),
    ("dense2, conv1", ["conv1", "dense2"]),
    ("re:^dense", ["dense1", "dense2"]),
])
def test_policies(policy, expected):
    spec, report, _ = mark(policy)
    assert marked(spec) == expected
    assert [e.subject for e in report.entries if e.action == "marked"] == expected


def test_flags_and_version():
    spec, _, _ = mark("last:1")
    assert spec.isUpdatable and spec.specificationVersion >= 4
    d2 = spec.neuralNetwork.layers[9].innerProduct
    assert d2.weights.isUpdatable and d2.bias.isUpdatable
    assert not spec.neuralNetwork.layers[7].innerProduct.weights.isUpdatable


def test_trainable_uses_facts_and_notes_frozen_types():
    facts = lenet_facts(trainable_layers={"dense2", "relu3"})
    spec, report, _ = mark("trainable", facts=facts)
    assert marked(spec) == ["dense2"]
    assert any(e.action == "note" and e.subject == "relu3" for e in report.entries)



@pytest.mark.parametrize("flags, act, expected", [
    (True, "LEAKYRELU", ["h", "out"]),      # the source's own flags decide
    (False, "LEAKYRELU", ["out"]),          # no flags (ONNX): leaky ReLU does not back-propagate in Core ML
    (False, "RELU", ["h", "out"]),
])
def test_trainable_without_source_flags_follows_backprop(flags, act, expected):
    facts = SourceFacts(trainable_layers={"h", "out"}, trainable_flags=flags)
    spec, report, _ = mark("trainable", spec=mlp_builder(hidden_act=act).spec, facts=facts)
    assert marked(spec) == expected
    frozen = [e.subject for e in report.entries if "frozen by policy 'trainable'" in e.reason]
    assert frozen == (["h"] if expected == ["out"] else [])


def test_source_layer_names():
    facts = lenet_facts(source_layer_of={"dense2": "keras_dense_2", "sm": "keras_dense_2"})
    spec, _, _ = mark("keras_dense_2", facts=facts)
    assert marked(spec) == ["dense2"]
    spec, _, _ = mark("re:keras_dense", facts=facts)
    assert marked(spec) == ["dense2"]


def test_unknown_name():
    with pytest.raises(BadInputError, match=r"option 'updatable': no layer named 'nope'.*Fix: choose among: conv1, "
                                            r"conv2, dense1, dense2"):
        mark("nope")


def test_not_updatable_type():
    with pytest.raises(UnsupportedConfigError, match=r"layer 'relu1' is a activation layer; only convolution and "
                                                     r"innerProduct layers can be updatable.*Fix: leave it out"):
        mark("conv1,relu1")


def test_bad_last_and_regex():
    with pytest.raises(BadInputError, match=r"'last:0' needs a positive whole number"):
        mark("last:0")
    with pytest.raises(BadInputError, match=r"asks for 9 layers but the model has only 4.*Fix: use last:4 or all"):
        mark("last:9")
    with pytest.raises(BadInputError, match=r"'\(' is not a valid regular expression"):
        mark("re:(")
    with pytest.raises(BadInputError, match=r"the pattern 'zzz' matches no convolution/innerProduct layer"):
        mark("re:zzz")
    with pytest.raises(BadInputError, match=r"no updatable policy given"):
        mark(" , ")


def test_zero_layers_selected():
    with pytest.raises(UnsupportedConfigError, match=r"The model is marked as updatable, but none of the layers are "
                                                     r"updatable \(policy 'trainable' selected no layer\)"):
        mark("trainable", facts=SourceFacts())


def test_float16_anywhere_is_refused():
    spec = mlp_builder().spec
    ip = spec.neuralNetwork.layers[0].innerProduct
    ip.weights.float16Value = np.asarray(ip.weights.floatValue, np.float16).tobytes()
    ip.weights.ClearField("floatValue")
    with pytest.raises(UnsupportedConfigError, match=r"FP16 weights.*Layers with float16 weights: h.*Fix: convert "
                                                     r"with float32 weights"):
        mark("out", spec=spec)


def test_quantized_weights_are_refused():
    spec = mlp_builder().spec
    spec.neuralNetwork.layers[2].innerProduct.weights.quantization.numberOfBits = 8
    with pytest.raises(UnsupportedConfigError, match=r"layer 'out': has quantized weights"):
        mark("out", spec=spec)
