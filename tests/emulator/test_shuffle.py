"""The example order matches libc++'s std::shuffle / std::minstd_rand / std::seed_seq exactly."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emulator.shuffle import MT19937, RESHUFFLES, MinstdRand, epoch_orders, seed_seq_generate

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "libcxx_shuffle.json").read_text())


@pytest.mark.parametrize("case", GOLDEN, ids=lambda c: f"n{c['n']}-e{c['epochs']}-seed{c['seed']}")
def test_orders_match_libcxx_golden_output(case):
    orders = epoch_orders(case["n"], case["epochs"], shuffle=True, seed=case["seed"])
    assert [o.tolist() for o in orders] == case["orders"]


def test_minstd_rand_matches_the_standard_10000th_value():
    rng = MinstdRand()                      # default seed 1
    for _ in range(9999):
        rng()
    assert rng() == 399268537               # [rand.predef]: the 10000th output of minstd_rand


def test_mt19937_matches_the_standard_10000th_value():
    rng = MT19937()                         # default seed 5489
    for _ in range(9999):
        rng()
    assert rng() == 4123659995              # [rand.predef]: the 10000th output of mt19937


def test_reshuffle_variants_differ_as_documented():
    orders = {r: epoch_orders(50, 3, shuffle=True, seed=None, reshuffle=r) for r in RESHUFFLES}
    every = orders["every_epoch"]
    assert all(sorted(o.tolist()) == list(range(50)) for os_ in orders.values() for o in os_)
    assert orders["after_each_epoch"][0].tolist() == list(range(50))
    assert np.array_equal(orders["after_each_epoch"][1], every[0])
    assert np.array_equal(orders["every_epoch_fresh_engine"][0], every[0])
    assert np.array_equal(orders["every_epoch_fresh_engine"][1], every[0][every[0]])   # the same permutation again
    assert np.array_equal(orders["every_epoch_from_identity"][0], every[0])
    assert not np.array_equal(orders["every_epoch_from_identity"][1], every[1])
    with pytest.raises(ValueError, match="unknown reshuffle convention 'sometimes'"):
        epoch_orders(5, 1, shuffle=True, seed=None, reshuffle="sometimes")


def test_an_empty_seed_seq_and_seed_zero_are_distinct_starts():
    starts = {MinstdRand(None).state, MinstdRand(0).state, MinstdRand(()).state}
    assert len(starts) == 3 and 1 in starts


def test_seed_seq_is_deterministic_32_bit_words():
    words = seed_seq_generate([42], 4)
    assert len(words) == 4 and all(0 <= w < 2 ** 32 for w in words)
    assert words == seed_seq_generate([42], 4) and words != seed_seq_generate([43], 4)


def test_without_shuffle_every_epoch_keeps_the_given_order():
    for order in epoch_orders(7, 3, shuffle=False, seed=5):
        assert order.tolist() == list(range(7))


def test_every_epoch_is_a_permutation_and_reshuffles():
    orders = epoch_orders(500, 3, shuffle=True, seed=9)
    assert all(sorted(o.tolist()) == list(range(500)) for o in orders)
    assert not np.array_equal(orders[0], orders[1])
    once = epoch_orders(500, 3, shuffle=True, seed=9, reshuffle="once")
    assert np.array_equal(once[0], once[2]) and np.array_equal(once[0], orders[0])


@pytest.mark.skipif(shutil.which("clang++") is None, reason="clang++ with libc++ not installed")
def test_live_libcxx_agrees(tmp_path):
    binary = tmp_path / "shuffle"
    built = subprocess.run(["clang++", "-std=c++17", "-stdlib=libc++", str(DATA / "libcxx_shuffle.cpp"),
                            "-o", str(binary)], capture_output=True)
    if built.returncode:
        pytest.skip("libc++ headers not installed")
    out = subprocess.run([str(binary), "777", "2", "31337", "seeded"], capture_output=True, text=True, check=True)
    expected = [[int(v) for v in line.split()] for line in out.stdout.splitlines()]
    assert [o.tolist() for o in epoch_orders(777, 2, shuffle=True, seed=31337)] == expected
