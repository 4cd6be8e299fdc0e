"""IID, the FedAvg paper's shards, Dirichlet label skew: sizes, label spread, determinism, errors."""
from __future__ import annotations

import numpy as np
import pytest

from ground.errors import BadInputError
from federated import partition as P

LABELS = np.repeat(np.arange(10), 60)          # 600 examples, 10 classes


def _check_cover(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and len(np.unique(joined)) == n        # every example once


def test_iid_gives_equal_sizes_and_all_labels():
    parts = P.split(LABELS, 10, "iid", seed=0)
    _check_cover(parts, 600)
    assert {len(p) for p in parts} == {60}
    hist = P.histograms(LABELS, parts, 10)
    assert (hist > 0).sum(1).min() >= 7             # a random tenth of a balanced set sees most labels


def test_shards_give_each_device_at_most_two_labels():
    parts = P.split(LABELS, 20, "shards:2", seed=0)  # 40 shards of 15 sorted examples
    _check_cover(parts, 600)
    hist = P.histograms(LABELS, parts, 10)
    assert (hist > 0).sum(1).max() <= 2
    assert {len(p) for p in parts} == {30}


def test_dirichlet_skew_grows_as_alpha_shrinks():
    def skew(alpha):
        hist = P.histograms(LABELS, P.split(LABELS, 10, f"dirichlet:{alpha}", seed=1), 10)
        shares = hist / hist.sum(1, keepdims=True)
        return shares.max(1).mean()
    parts = P.split(LABELS, 10, "dirichlet:0.1", seed=1)
    _check_cover(parts, 600)
    assert min(len(p) for p in parts) > 0
    assert skew(0.1) > skew(100.0) + 0.3


def test_splits_are_fixed_by_the_seed():
    a, b, c = (P.split(LABELS, 10, "dirichlet:0.5", seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("text", ["noniid", "shards:0", "shards:1.5", "dirichlet:-1", "dirichlet:x", "iid:2"])
def test_unknown_schemes_are_refused_with_the_choices(text):
    with pytest.raises(BadInputError, match=r"unknown partition .*iid \| shards:K \| dirichlet:ALPHA"):
        P.parse(text)


def test_more_devices_than_examples_is_refused():
    with pytest.raises(BadInputError, match="cannot be cut into 1200 shards"):
        P.split(LABELS, 600, "shards:2")
