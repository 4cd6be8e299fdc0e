"""The order in which Core ML's update engine visits training examples.

Best evidence (coreml-update-rules.md): an index list shuffled with libc++'s ``std::shuffle`` driven by
``std::minstd_rand``, seeded from the model's seed through ``std::seed_seq`` (unseeded: the engine's
default state 1); shuffled once at the start and again after every epoch, each time continuing from
the previous order. This module reproduces that in pure Python, following the C++ standard's
definitions of ``seed_seq::generate`` and ``minstd_rand`` and libc++'s ``uniform_int_distribution``
(rejection sampling over ``__independent_bits_engine``) and ``std::shuffle`` (forward Fisher-Yates).
"""
from __future__ import annotations

import numpy as np

_MASK32 = 0xFFFFFFFF
_MINSTD_A = 48271
_MINSTD_M = 2147483647          # 2^31 - 1
_ENGINE_MIN, _ENGINE_MAX = 1, _MINSTD_M - 1
_ENGINE_RANGE = _ENGINE_MAX - _ENGINE_MIN + 1   # 2^31 - 2
_ENGINE_BITS = _ENGINE_RANGE.bit_length() - 1   # floor(log2(range)) = 30


def seed_seq_generate(seeds: list[int], n: int) -> list[int]:
    """``std::seed_seq(seeds).generate`` of ``n`` 32-bit words ([rand.util.seedseq])."""
    v = [s & _MASK32 for s in seeds]
    s = len(v)
    out = [0x8B8B8B8B] * n
    if n == 0:
        return out
    t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
    p = (n - t) // 2
    q = p + t
    m = max(s + 1, n)

    def mix(x: int) -> int:
        return x ^ (x >> 27)

    for k in range(m):
        r1 = (1664525 * mix(out[k % n] ^ out[(k + p) % n] ^ out[(k - 1) % n])) & _MASK32
        extra = s if k == 0 else (k % n + v[k - 1] if k <= s else k % n)
        r2 = (r1 + extra) & _MASK32
        out[(k + p) % n] = (out[(k + p) % n] + r1) & _MASK32
        out[(k + q) % n] = (out[(k + q) % n] + r2) & _MASK32
        out[k % n] = r2
    for k in range(m, m + n):
        r3 = (1566083941 * mix((out[k % n] + out[(k + p) % n] + out[(k - 1) % n]) & _MASK32)) & _MASK32
        r4 = (r3 - k % n) & _MASK32
        out[(k + p) % n] ^= r3
        out[(k + q) % n] ^= r4
        out[k % n] = r4
    return out


class MinstdRand:
    """``std::minstd_rand``: x <- 48271 x mod (2^31 - 1)."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            self.state = 1  # default_seed
        else:
            # linear_congruential_engine::seed(seed_seq&): k = 1 word, generate k + 3, use the last
            word = seed_seq_generate([seed], 4)[3]
            self.state = word % _MINSTD_M or 1

    def __call__(self) -> int:
        self.state = (_MINSTD_A * self.state) % _MINSTD_M
        return self.state


def uniform_int(rng: MinstdRand, upper: int) -> int:
    """libc++ ``uniform_int_distribution<ptrdiff_t>(0, upper)(rng)`` for 1 <= upper < 2^30."""
    span = upper + 1
    bits = span.bit_length() - 1
    if span & ((1 << bits) - 1):
        bits += 1                               # ceil(log2(span)) unless span is a power of two
    if bits > _ENGINE_BITS:
        raise ValueError("data sets of 2^30 examples or more are not supported")
    limit = (_ENGINE_RANGE >> bits) << bits     # __y0_: reject engine outputs at or above this
    mask = (1 << bits) - 1
    while True:
        u = rng() - _ENGINE_MIN
        while u >= limit:
            u = rng() - _ENGINE_MIN
        value = u & mask
        if value < span:
            return value


def shuffle_in_place(order: list[int], rng: MinstdRand) -> None:
    """libc++ ``std::shuffle(order.begin(), order.end(), rng)``."""
    n = len(order)
    for i in range(n - 1):
        j = uniform_int(rng, n - 1 - i)
        if j:
            order[i], order[i + j] = order[i + j], order[i]


def epoch_orders(n: int, epochs: int, *, shuffle: bool, seed: int | None,
                 reshuffle_every_epoch: bool = True) -> list[np.ndarray]:
    """The example order of each epoch: shuffled at the start and (optionally) after each epoch."""
    order = list(range(n))
    if not shuffle:
        return [np.arange(n) for _ in range(epochs)]
    rng = MinstdRand(seed)
    orders = []
    for epoch in range(epochs):
        if epoch == 0 or reshuffle_every_epoch:
            shuffle_in_place(order, rng)
        orders.append(np.asarray(order, dtype=np.int64))
    return orders
