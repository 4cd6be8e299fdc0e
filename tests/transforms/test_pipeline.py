"""make_updatable end to end, the pass list, and the structural check after each pass."""
from __future__ import annotations

import pytest
from tests.transforms.specs import lenet_builder, lenet_facts, lenet_spec, make

from ground.errors import ValidationError
from transforms import pipeline
from transforms.options import SourceFacts, UpdateOptions
from transforms.pipeline import PASSES, Pass, PassContext, PassOrderError, check_order, run_passes
from transforms.report import ConversionReport
from transforms.summary import summarize
from ground.rules import violations


def test_pass_order_and_docs():
    assert [p.name for p in PASSES] == ["drop_identities", "flatten_for_dense", "restore_biases", "mark_updatable",
                                        "attach_loss", "attach_optimizer", "validate"]
    for p in PASSES:
        assert "before" in p.doc.lower() and "after" in p.doc.lower(), p.name
    assert dict((p.name, p.requires) for p in PASSES)["validate"] == ("mark_updatable", "attach_loss",
                                                                      "attach_optimizer")


def test_a_pass_listed_before_what_it_requires_is_refused():
    by_name = {p.name: p for p in PASSES}
    swapped = [by_name["attach_loss"], by_name["mark_updatable"]]
    ctx = PassContext(UpdateOptions(), lenet_facts(), ConversionReport())
    with pytest.raises(PassOrderError, match="pass 'attach_loss' must run after 'mark_updatable', which the "
                                             "pipeline lists later"):
        run_passes(lenet_spec(), ctx, swapped)
    with pytest.raises(PassOrderError, match="pass 'validate' is listed twice"):
        check_order([by_name["validate"], by_name["validate"]])
    check_order([by_name["attach_loss"]])      # a requirement that is not in the list is the caller's to vouch for


def test_restore_biases_adds_the_zero_biases_the_front_end_names():
    from tests.transforms.specs import run_pass
    from transforms import restore_biases

    spec = lenet_spec()
    dense = next(x for x in spec.neuralNetwork.layers if x.name == "dense2")
    dense.innerProduct.hasBias = False
    dense.innerProduct.ClearField("bias")
    out, report, _ = run_pass(restore_biases, spec, facts=SourceFacts(dropped_zero_biases={"dense2"}))
    fixed = next(x for x in out.neuralNetwork.layers if x.name == "dense2").innerProduct
    assert fixed.hasBias and list(fixed.bias.floatValue) == [0.0] * fixed.outputChannels
    assert [str(e) for e in report.entries] == ["[restore_biases] added dense2: zero bias: the training reference's "
                                                "layer has a bias the exporter dropped (all zeros)"]
    same, report, _ = run_pass(restore_biases, lenet_spec(), facts=SourceFacts())
    assert same == lenet_spec() and not report.entries


def test_lenet_end_to_end_leaves_the_input_unchanged():
    source = lenet_spec()
    before = source.SerializeToString()
    spec, report = make(source, facts=lenet_facts(), updatable="last:2", epochs=2, seed=3)
    assert source.SerializeToString() == before
    assert violations(spec) == []
    summary = summarize(spec)
    assert summary["totals"] == {"layers": 11, "parameters": 585_958, "updatable_parameters": 581_510}
    assert [r["name"] for r in summary["layers"] if r["backprop_path"]] == ["dense1", "relu3", "dense2", "sm"]
    stages = {e.stage for e in report.entries}
    assert stages == {"mark_updatable", "attach_loss", "attach_optimizer", "validate"}


def test_keras_style_lenet_with_dropout_and_channels_last_flatten():
    b = lenet_builder(softmax=False)
    nn = b.spec.neuralNetwork
    flat = next(x for x in nn.layers if x.name == "flat")
    flat.flatten.mode = 1                                   # Keras' Flatten order
    b.add_activation("dropout", "LINEAR", "logits", "probs_drop", params=[1.0, 0.0])
    b.spec.description.output[0].name = "probs_drop"
    facts = lenet_facts(loss="cce", loss_from_logits=True)
    spec, report = make(b.spec, facts=facts)
    kinds = [(x.name, x.WhichOneof("layer")) for x in spec.neuralNetwork.layers]
    assert ("dropout", "activation") not in kinds
    assert kinds[-1] == ("probs_drop_softmax", "softmax")
    assert spec.neuralNetwork.layers[6].flatten.mode == 0
    assert {(e.stage, e.action) for e in report.entries} >= {("drop_identities", "dropped"),
                                                              ("flatten_for_dense", "reordered"),
                                                              ("attach_loss", "added")}
    assert violations(spec) == []


def test_a_broken_pass_is_caught_after_it_runs():
    def breaks(spec, ctx):
        spec.neuralNetwork.layers[1].input[0] = "missing"

    ctx = PassContext(UpdateOptions(), SourceFacts(), ConversionReport())
    with pytest.raises(ValidationError, match=r"(?s)after pass 'breaks' \(a bug in the pass\).*Layer 'relu1' consumes "
                                              r"an input named 'missing'"):
        run_passes(lenet_spec(), ctx, [Pass("breaks", breaks, "")])


def test_a_broken_input_spec_is_refused_before_any_pass():
    spec = lenet_spec()
    spec.neuralNetwork.layers[1].name = "conv1"
    with pytest.raises(ValidationError, match=r"(?s)the inference spec given to the passes.*two layers are named "
                                              r"'conv1'"):
        make(spec, facts=lenet_facts())


def test_final_validation_raises_listing_rules():
    # a leaky ReLU between the updatable layers and the loss blocks back-propagation (rule 10)
    b = lenet_builder()
    relu3 = next(x for x in b.spec.neuralNetwork.layers if x.name == "relu3")
    relu3.activation.leakyReLU.alpha = 0.1
    with pytest.raises(ValidationError, match=r"There is a layer \(relu3\), which does not support backpropagation"):
        make(b.spec, facts=lenet_facts(), updatable="all")
    spec, _ = make(b.spec, facts=lenet_facts(), updatable="last:1")
    assert violations(spec) == []


def test_package_exposes_the_entry_point_lazily():
    import transforms

    assert transforms.make_updatable is pipeline.make_updatable
    assert transforms.PASSES is PASSES
