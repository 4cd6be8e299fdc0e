"""The order in which Core ML's update engine visits training examples.

Best evidence (coreml-update-rules.md): an index list shuffled with libc++'s ``std::shuffle`` driven by
``std::minstd_rand``, seeded from the model's seed through ``std::seed_seq`` (unseeded: a
default-constructed engine, state 1); shuffled once at the start and again after every epoch, each
time continuing from the previous order. This module reproduces that in pure Python, following the C++
standard's definitions of ``seed_seq::generate``, ``minstd_rand`` and ``mt19937`` and libc++'s
``uniform_int_distribution`` (rejection sampling over ``__independent_bits_engine``) and
``std::shuffle`` (forward Fisher-Yates). The alternatives (another engine, another unseeded start)
exist so that the device-anchor benchmark can measure them.
"""
from __future__ import annotations

import numpy as np

_MASK32 = 0xFFFFFFFF
_MINSTD_A = 48271
_MINSTD_M = 2147483647          # 2^31 - 1

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
    """``std::minstd_rand``: x <- 48271 x mod (2^31 - 1).

    ``seed``: None for a default-constructed engine (state 1); an int for ``seed(std::seed_seq{seed})``;
    a tuple of ints for ``seed(std::seed_seq{...})`` (``()``: an empty seed_seq).
    """

    min, max = 1, _MINSTD_M - 1

    def __init__(self, seed: int | tuple[int, ...] | None = None) -> None:
        if seed is None:
            self.state = 1  # default_seed
        else:
            # linear_congruential_engine::seed(seed_seq&): k = 1 word, generate k + 3, use the last
            word = seed_seq_generate(_words(seed), 4)[3]
            self.state = word % _MINSTD_M or 1

    def __call__(self) -> int:
        self.state = (_MINSTD_A * self.state) % _MINSTD_M
        return self.state


class MT19937:
    """``std::mt19937``: default seed 5489, or seeded through ``std::seed_seq`` as :class:`MinstdRand`."""

    min, max = 0, _MASK32

    def __init__(self, seed: int | tuple[int, ...] | None = None) -> None:
        if seed is None:
            mt = [5489]
            for i in range(1, 624):
                mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & _MASK32)
        else:
            mt = seed_seq_generate(_words(seed), 624)
            if mt[0] & 0x80000000 == 0 and not any(mt[1:]):
                mt[0] = 0x80000000
        self.mt, self.index = mt, 624

    def _twist(self) -> None:
        mt = self.mt
        for i in range(624):
            y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7FFFFFFF)
            mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        self.index = 0

    def __call__(self) -> int:
        if self.index >= 624:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        return y ^ (y >> 18)


ENGINES = {"libcxx_minstd": MinstdRand, "libcxx_mt19937": MT19937}
"""Shuffle convention -> the engine driving libc++'s std::shuffle."""


def _words(seed: int | tuple[int, ...]) -> list[int]:
    return [seed] if isinstance(seed, int) else list(seed)


def uniform_int(rng, upper: int) -> int:
    """libc++ ``uniform_int_distribution<ptrdiff_t>(0, upper)(rng)`` for 1 <= upper < 2^30.

    ``__independent_bits_engine`` takes ceil(log2(upper + 1)) bits from one engine output: an engine
    whose range is not a power of two (minstd_rand: 2^31 - 2) first rejects outputs at or above the
    largest multiple of 2^bits in its range; a full 32-bit engine (mt19937) is only masked. Values above
    ``upper`` are rejected and drawn again.
    """
    span = upper + 1
    bits = span.bit_length() - 1
    if span & ((1 << bits) - 1):
        bits += 1                               # ceil(log2(span)) unless span is a power of two
    engine_range = rng.max - rng.min + 1
    if bits > min(30, engine_range.bit_length() - 1):
        raise ValueError("data sets of 2^30 examples or more are not supported")
    limit = engine_range if engine_range == 1 << 32 else (engine_range >> bits) << bits   # __y0_
    mask, low = (1 << bits) - 1, rng.min
    while True:
        u = rng() - low
        while u >= limit:
            u = rng() - low
        value = u & mask
        if value < span:
            return value


def shuffle_in_place(order: list[int], rng) -> None:
    """libc++ ``std::shuffle(order.begin(), order.end(), rng)``."""
    n = len(order)
    for i in range(n - 1):
        j = uniform_int(rng, n - 1 - i)
        if j:
            order[i], order[i + j] = order[i + j], order[i]


RESHUFFLES = ("every_epoch", "once", "every_epoch_fresh_engine", "every_epoch_from_identity",
              "after_each_epoch")
"""'every_epoch': shuffled at the start and after each epoch, one engine, each shuffle permuting the
previous order; 'once': at the start only; 'every_epoch_fresh_engine': each epoch's shuffle by a newly
started engine; 'every_epoch_from_identity': each epoch shuffles the original order; 'after_each_epoch':
the first epoch in the given order, shuffled after each."""


def epoch_orders(n: int, epochs: int, *, shuffle: bool, seed: int | tuple[int, ...] | None,
                 reshuffle: str = "every_epoch", engine: str = "libcxx_minstd") -> list[np.ndarray]:
    """The example order of each epoch (see :data:`RESHUFFLES`)."""
    if reshuffle not in RESHUFFLES:
        raise ValueError(f"unknown reshuffle convention {reshuffle!r}")
    order = list(range(n))
    if not shuffle:
        return [np.arange(n) for _ in range(epochs)]
    rng = ENGINES[engine](seed)
    orders = []
    for epoch in range(epochs):
        if reshuffle == "every_epoch_from_identity":
            order = list(range(n))
        if reshuffle == "every_epoch_fresh_engine":
            rng = ENGINES[engine](seed)
        if (epoch == 0 and reshuffle != "after_each_epoch") or (epoch > 0 and reshuffle != "once"):
            shuffle_in_place(order, rng)
        orders.append(np.asarray(order, dtype=np.int64))
    return orders
