"""The ``--updatable`` policy: one parser and one selection, for the ``mark_updatable`` pass and for parity.

Policies: ``trainable`` (the layers the source marks trainable), ``all``, ``last:N`` (N >= 1, counted
from the output), ``NAME,NAME`` (any of a layer's names: Core ML or source) and ``re:PATTERN`` (searched
in every name of a layer). ``last:0`` is refused: a model with no updatable layer is not updatable
(Core ML's rule 5).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ground.errors import BadInputError, UnsupportedConfigError

POLICIES = "'trainable', 'all', 'last:N', 'NAME,NAME' or 're:PATTERN'"
WHERE = "option 'updatable'"


@dataclass(frozen=True)
class Policy:
    """A parsed ``--updatable`` value."""

    kind: str                       # 'trainable' | 'all' | 'last' | 'names' | 're'
    text: str
    count: int = 0                  # last:N
    names: tuple[str, ...] = ()     # NAME,NAME
    pattern: re.Pattern | None = None


@dataclass(frozen=True)
class Candidate:
    """A layer that can be updatable: its key (the name the caller wants back), all its names, trainable flag."""

    key: str
    names: tuple[str, ...]
    trainable: bool = False


def parse(text: str | None) -> Policy:
    """Parse a policy; BadInputError naming the fix for a malformed one (``last:0`` included)."""
    policy = (text or "").strip()
    if policy in ("trainable", "all"):
        return Policy(policy, policy)
    if policy.startswith("last:"):
        count = policy[5:]
        if not count.isdigit() or int(count) < 1:
            raise BadInputError(f"'{policy}' needs a positive whole number after 'last:' (a model with no "
                                "updatable layer cannot be updatable)", where=WHERE, fix="write e.g. last:2")
        return Policy("last", policy, count=int(count))
    if policy.startswith("re:"):
        try:
            return Policy("re", policy, pattern=re.compile(policy[3:]))
        except re.error as exc:
            raise BadInputError(f"'{policy[3:]}' is not a valid regular expression ({exc})", where=WHERE,
                                fix="fix the pattern (Python re syntax)") from None
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    if not names:
        raise BadInputError("no updatable policy given", where=WHERE, fix=f"use {POLICIES}")
    return Policy("names", policy, names=names)


def select(policy: Policy | str | None, candidates: Sequence[Candidate], *,
           others: Mapping[str, str] | None = None) -> list[str]:
    """The keys of the candidates (in their order, input to output) the policy chooses.

    ``others``: names of layers that cannot be updatable -> their type, so that naming one gives a clear
    error instead of 'no such layer'.
    """
    p = policy if isinstance(policy, Policy) else parse(policy)
    keys = [c.key for c in candidates]
    if p.kind == "trainable":
        return [c.key for c in candidates if c.trainable]
    if p.kind == "all":
        return keys
    if p.kind == "last":
        if p.count > len(candidates):
            raise BadInputError(f"'{p.text}' asks for {p.count} layers but the model has only {len(candidates)} "
                                f"convolution/innerProduct layers ({', '.join(keys)})", where=WHERE,
                                fix=f"use last:{len(candidates)} or all")
        return keys[-p.count:]
    if p.kind == "re":
        picked = [c.key for c in candidates if any(p.pattern.search(n) for n in c.names if n)]
        if not picked:
            raise BadInputError(f"the pattern '{p.text[3:]}' matches no convolution/innerProduct layer",
                                where=WHERE, fix=f"layers that can be updatable: {', '.join(keys)}")
        return picked
    chosen: set[str] = set()
    for name in p.names:
        matched = [c.key for c in candidates if name in c.names]
        if not matched:
            if others and name in others:
                lstm = (" (Core ML's validator lets a uniDirectionalLSTM through, but Apple documents no training "
                        "for it and coremltools' builder refuses it)" if others[name] == "uniDirectionalLSTM" else "")
                raise UnsupportedConfigError(
                    f"layer '{name}' is a {others[name]} layer; only convolution and innerProduct layers can be "
                    f"updatable{lstm}", where=WHERE,
                    fix="leave it out (it stays frozen) and choose convolution/innerProduct layers")
            raise BadInputError(f"no layer named '{name}' (neither a Core ML nor a source layer name)", where=WHERE,
                                fix=f"choose among: {', '.join(keys)}; or use {POLICIES}")
        chosen.update(matched)
    return [k for k in keys if k in chosen]
