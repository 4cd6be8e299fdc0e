"""The registry of rewrites: one small pure function per pattern Core ML cannot train through.

A rewrite takes a spec (never changed) and the blob shapes of the *original* rank-N network (a rewrite
that changes what a blob holds, such as a model input's layout, updates its entry), and returns
``(new_spec, records)``; ``records`` say which layers became what, and why. A rewrite never marks layers
updatable (that is the ``mark_updatable`` pass). Rewrites produce layers meant for the rank-5
(``[C, H, W]``) interpretation that the final ``lower`` step switches the network to; those marked
``rank_n_safe`` also mean the same in a network that has to stay N-dimensional.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Rewritten:
    """One applied rewrite: the layers it replaced, what they became, and why."""

    rewrite: str
    layers: tuple[str, ...]
    into: str
    why: str

    def __str__(self) -> str:
        return f"{', '.join(self.layers)} -> {self.into}: {self.why}"


RewriteFn = Callable[[Any, Shapes], tuple[Any, list[Rewritten]]]


@dataclass(frozen=True)
class Rewrite:
    name: str
    fn: RewriteFn
    pattern: str      # what it matches (for the README's table)
    result: str       # what it writes
    rank_n_safe: bool = False   # its result also means the same under the N-dimensional interpretation


REWRITES: list[Rewrite] = []
"""In the order they run."""


def rewrite(name: str, *, pattern: str, result: str, rank_n_safe: bool = False) -> Callable[[RewriteFn], RewriteFn]:
    def register(fn: RewriteFn) -> RewriteFn:
        if any(r.name == name for r in REWRITES):
            raise RuntimeError(f"rewrite '{name}' registered twice")
        REWRITES.append(Rewrite(name, fn, pattern, result, rank_n_safe))
        return fn
    return register
