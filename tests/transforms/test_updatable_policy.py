"""The one --updatable policy, as mark_updatable and parity both use it."""
from __future__ import annotations

import pytest

from ground.errors import BadInputError, UnsupportedConfigError
from transforms.updatable_policy import Candidate, parse, select

LAYERS = [Candidate("conv1", ("conv1", "k_conv1"), True), Candidate("dense1", ("dense1", "k_dense1"), False),
          Candidate("probs", ("probs", "k_probs"), True)]


@pytest.mark.parametrize("policy, chosen", [
    ("trainable", ["conv1", "probs"]), ("all", ["conv1", "dense1", "probs"]), ("last:2", ["dense1", "probs"]),
    ("k_dense1,conv1", ["conv1", "dense1"]), ("re:^k_(conv|probs)", ["conv1", "probs"]), ("re:dense", ["dense1"]),
])
def test_policies_choose_by_either_name(policy, chosen):
    assert select(policy, LAYERS) == chosen


@pytest.mark.parametrize("policy, error, message", [
    ("last:0", BadInputError, r"'last:0' needs a positive whole number after 'last:'"),
    ("last:x", BadInputError, r"'last:x' needs a positive whole number"),
    ("last:4", BadInputError, r"asks for 4 layers but the model has only 3"),
    ("re:(", BadInputError, r"is not a valid regular expression"),
    ("re:^pool", BadInputError, r"the pattern '\^pool' matches no convolution/innerProduct layer"),
    ("nope", BadInputError, r"no layer named 'nope'"),
    ("pool1", UnsupportedConfigError, r"layer 'pool1' is a pooling layer; only convolution and innerProduct"),
    (" ", BadInputError, r"no updatable policy given"),
])
def test_bad_policies_are_refused_with_the_fix(policy, error, message):
    with pytest.raises(error, match=message):
        select(policy, LAYERS, others={"pool1": "pooling"})


def test_parse_once_select_many():
    policy = parse("last:1")
    assert select(policy, LAYERS) == ["probs"] and select(policy, LAYERS[:1]) == ["conv1"]


def test_parity_expects_what_mark_updatable_marks():
    from types import SimpleNamespace

    from parity.harness import expected_trainable

    class Dense:
        def __init__(self, name, trainable):
            self.name, self.trainable = name, trainable

    Dense.__name__ = "Dense"
    model = SimpleNamespace(layers=[Dense("d1", True), Dense("d2", False)])
    names = {"d1": "d1", "d2": "out"}
    assert expected_trainable(model, SimpleNamespace(updatable="re:^out$"), names) == {"d2"}   # Core ML name
    assert expected_trainable(model, None, names) == {"d1"}
    with pytest.raises(BadInputError, match="'last:0' needs a positive whole number"):
        expected_trainable(model, SimpleNamespace(updatable="last:0"), names)
