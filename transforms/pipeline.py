"""The pass manager: an explicit, ordered list of named passes that make an inference spec updatable.

Each pass gets a fresh copy of the spec (the caller's spec is never changed; a failing pass leaves no
half-changed spec behind), changes it in place, and the result is checked structurally (blobs defined
before use, distinct layer names, model outputs produced) before the next pass runs. The last pass runs
all of Core ML's rules for updatable models. Errors propagate; nothing is caught and continued.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ground.errors import ValidationError
from ground.protos import Model_pb2
from ground.rules import pass_structure

from . import (attach_loss, attach_optimizer, drop_identities, flatten_for_dense, mark_updatable, restore_biases,
               validate)
from .context import PassContext
from .options import SourceFacts, UpdateOptions
from .report import ConversionReport

__all__ = ["PASSES", "Pass", "PassContext", "PassOrderError", "check_order", "make_updatable", "run_passes"]

log = logging.getLogger(__name__)


PassFn = Callable[[Model_pb2.Model, PassContext], None]


@dataclass(frozen=True)
class Pass:
    """One named pass: ``fn(spec, ctx)`` changes ``spec`` (a copy) in place; ``requires``: the passes that
    must have run before it when they run at all (as torch.fx's pass-manager constraints)."""

    name: str
    fn: PassFn
    doc: str
    requires: tuple[str, ...] = ()


class PassOrderError(ValueError):
    """A pipeline lists a pass before one it requires (a bug in the pipeline, not in the user's model)."""


def check_order(passes: Sequence[Pass]) -> None:
    """Raise :class:`PassOrderError` unless every pass comes after the passes it requires, and names are unique."""
    position = {}
    for i, p in enumerate(passes):
        if p.name in position:
            raise PassOrderError(f"pass '{p.name}' is listed twice")
        position[p.name] = i
    for i, p in enumerate(passes):
        late = [r for r in p.requires if position.get(r, -1) > i]
        if late:
            raise PassOrderError(f"pass '{p.name}' must run after {', '.join(repr(r) for r in late)}, "
                                 "which the pipeline lists later")


MODULES = [drop_identities, flatten_for_dense, restore_biases, mark_updatable, attach_loss, attach_optimizer,
           validate]
PASSES: list[Pass] = [Pass(m.NAME, m.run, (m.run.__doc__ or "").strip(), tuple(m.REQUIRES)) for m in MODULES]
"""The passes, in the order :func:`make_updatable` runs them."""
check_order(PASSES)


def run_passes(spec: Model_pb2.Model, ctx: PassContext, passes: Sequence[Pass] | None = None) -> Model_pb2.Model:
    """Run ``passes`` (default: all) on copies of ``spec``, after checking their order; return the last copy."""
    passes = PASSES if passes is None else list(passes)
    check_order(passes)
    broken = pass_structure(spec)
    if broken:
        raise ValidationError(broken, context="the inference spec given to the passes")
    current = spec
    for p in passes:
        work = Model_pb2.Model()
        work.CopyFrom(current)
        log.debug("running pass %s", p.name)
        p.fn(work, ctx)
        broken = pass_structure(work)
        if broken:
            raise ValidationError(broken, context=f"the spec after pass '{p.name}' (a bug in the pass)")
        current = work
    return current


def make_updatable(spec: Model_pb2.Model, facts: SourceFacts, options: UpdateOptions,
                   report: ConversionReport) -> Model_pb2.Model:
    """Return a new, updatable copy of the inference NeuralNetwork ``spec``; raise the project's errors.

    Runs :data:`PASSES` in order; ``report`` receives one entry per change and per setting chosen.
    """
    ctx = PassContext(options, facts, report, dict(facts.blob_shapes))
    return run_passes(spec, ctx)
