"""The ``validate`` pass: every Core ML rule for updatable models (from :mod:`ground.rules`), last in the pipeline."""
from __future__ import annotations


from ground.protos import Model_pb2
from ground.rules import check, pass_structure, violations  # noqa: F401  (the rules live on the ground floor)

from .context import PassContext

NAME = "validate"
REQUIRES: tuple[str, ...] = ("mark_updatable", "attach_loss", "attach_optimizer")


def run(spec: Model_pb2.Model, ctx: PassContext) -> None:
    """Check every Core ML rule for updatable models; raise listing all broken ones.

    Before: any spec.  After: the same spec, unchanged, known to pass Core ML's rules 1-19
    (:mod:`ground.rules`), or ValidationError / BackpropRuleError naming each broken rule, where, fix.
    """
    check(spec, context="the updatable model")
    ctx.report.add(stage=NAME, action="note", subject="model", reason="passes every Core ML rule for updatable models")
