"""The pass manager: an explicit, ordered list of named passes that make an inference spec updatable.

Each pass gets a fresh copy of the spec (the caller's spec is never changed; a failing pass leaves no
half-changed spec behind), changes it in place, and the result is checked structurally (blobs defined
before use, distinct layer names, model outputs produced) before the next pass runs. The last pass runs
all of Core ML's rules for updatable models. Errors propagate; nothing is caught and continued.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from ground.protos import Model_pb2
from ground.errors import ValidationError

from .options import SourceFacts, UpdateOptions
from .report import ConversionReport

log = logging.getLogger(__name__)


@dataclass
class PassContext:
    """What every pass may read (options, facts) and write (report, blob shapes as blobs are renamed)."""

    options: UpdateOptions
    facts: SourceFacts
    report: ConversionReport
    blob_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def rename_blob(self, old: str, new: str) -> None:
        """Keep ``blob_shapes`` in step when a pass renames a blob."""
        if old in self.blob_shapes:
            self.blob_shapes[new] = self.blob_shapes.pop(old)


@dataclass(frozen=True)
class Pass:
    """One named pass: ``fn(spec, ctx)`` changes ``spec`` (a copy) in place."""

    name: str
    fn: Callable[[Any, PassContext], None]
    doc: str


def _passes() -> list[Pass]:
    from . import attach_loss, attach_optimizer, drop_identities, flatten_for_dense, mark_updatable, validate
    mods = [drop_identities, flatten_for_dense, mark_updatable, attach_loss, attach_optimizer, validate]
    return [Pass(m.NAME, m.run, (m.run.__doc__ or "").strip()) for m in mods]


PASSES: list[Pass] = _passes()
"""The passes, in the order :func:`make_updatable` runs them."""


def run_passes(spec: Any, ctx: PassContext, passes: list[Pass] | None = None) -> Any:
    """Run ``passes`` (default: all) on copies of ``spec``; return the last copy."""
    from ground.rules import pass_structure
    broken = pass_structure(spec)
    if broken:
        raise ValidationError(broken, context="the inference spec given to the passes")
    current = spec
    for p in PASSES if passes is None else passes:
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
