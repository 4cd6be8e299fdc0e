"""The project's error hierarchy.

Every error a user can cause derives from :class:`CoreMLUpdatableError`. The CLI prints such an
error as one message (no traceback) and exits with ``exit_code``. A message names *where* the problem
is, *which rule* it breaks, and *the fix*; :func:`compose` builds messages in that shape.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Iterable, Sequence

from .safe_text import escape_controls


def compose(where: str | None, problem: str, fix: str | None = None) -> str:
    """Build a message 'WHERE: PROBLEM. Fix: FIX.' (parts that are None are left out)."""
    text = problem.rstrip(".") + "."
    if where:
        text = f"{where}: {text}"
    if fix:
        text += f" Fix: {fix.rstrip('.')}."
    return text


class CoreMLUpdatableError(Exception):
    """Base class: a problem the user can act on. Printed without a traceback."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None) -> None:
        # names from files reach messages: their control characters are escaped (lines are kept)
        super().__init__(escape_controls(compose(where, message, fix) if (where or fix) else message))
        self.where = where
        self.fix = fix


class BadInputError(CoreMLUpdatableError):
    """A file, array, name, shape or setting given by the user is wrong."""


class UnsupportedModelError(CoreMLUpdatableError):
    """The model as a whole is of a kind this project does not handle (e.g. an ML Program)."""


class UnsupportedConfigError(CoreMLUpdatableError):
    """A supported layer or option is used with a setting Core ML (or this project) cannot express."""


@dataclass(frozen=True)
class UnsupportedItem:
    """One unsupported layer or op: its name in the source model and its type."""

    name: str
    kind: str
    reason: str = ""


class UnsupportedLayerError(CoreMLUpdatableError):
    """One or more layers (or ops) have no mapping or implementation; all are listed together."""

    def __init__(self, items: Sequence[UnsupportedItem], *, context: str, supported: Iterable[str] = (),
                 fix: str | None = None) -> None:
        self.items = list(items)
        lines = [f"{context}: {len(self.items)} unsupported layer(s):"]
        for it in self.items:
            lines.append(f"  - '{it.name}' ({it.kind})" + (f": {it.reason}" if it.reason else ""))
        supported = sorted(set(supported))
        if supported:
            lines.append("Supported: " + ", ".join(supported) + ".")
        if fix:
            lines.append(f"Fix: {fix.rstrip('.')}.")
        CoreMLUpdatableError.__init__(self, "\n".join(lines))


@dataclass(frozen=True)
class RuleViolation:
    """One broken Core ML rule: the rule's number (as in ground/rules), Apple's message, where, fix."""

    rule: str
    message: str
    where: str = ""
    fix: str = ""
    origin: str = "apple"
    """'apple': Core ML's own validator refuses the model on device; 'coremltools' / 'project': a
    stricter check of coremltools' builder or of this project (the device may accept the model)."""

    def __str__(self) -> str:
        head = f"[rule {self.rule}]" + (f" {self.where}:" if self.where else "")
        return f"{head} {self.message}" + (f" Fix: {self.fix}" if self.fix else "")


class ValidationError(CoreMLUpdatableError):
    """The spec breaks one or more rules Core ML enforces on device; every violation is listed."""

    exit_code = 1

    def __init__(self, violations: Sequence[RuleViolation], *, context: str = "model") -> None:
        self.violations = list(violations)
        lines = [f"{context} breaks {len(self.violations)} Core ML rule(s):"]
        lines += [f"  - {v}" for v in self.violations]
        CoreMLUpdatableError.__init__(self, "\n".join(lines))


class BackpropRuleError(ValidationError):
    """A layer between an updatable layer and the loss does not support back-propagation."""


class TrainingDivergedError(CoreMLUpdatableError):
    """The loss became NaN or infinite during training."""

    def __init__(self, *, epoch: int, batch: int, loss: float) -> None:
        super().__init__(
            f"the training loss became {loss} at epoch {epoch}, mini-batch {batch}; training stopped and "
            "no model was written",
            fix="lower the learning rate (--learning-rate), check the data for NaN/inf values and that inputs "
                "are scaled as the model expects")
        self.epoch, self.batch, self.loss = epoch, batch, loss


class SystemProblemError(CoreMLUpdatableError):
    """The operating system refused: permission, disk full, file too large, read-only, out of memory."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None,
                 errno_: int | None = None) -> None:
        super().__init__(message, where=where, fix=fix)
        self.errno = errno_


_OS_MESSAGES = {
    errno.EACCES: ("permission denied", "check the file's and its folder's permissions"),
    errno.EPERM: ("operation not permitted", "check the file's and its folder's permissions"),
    errno.ENOSPC: ("no space left on the device (disk full)", "free some space or write somewhere else"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write somewhere else"),
    errno.EFBIG: ("file too large for this file system or for the process's file size limit",
                  "write to another file system or raise the limit (ulimit -f)"),
    errno.EROFS: ("read-only file system", "write somewhere else"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.EISDIR: ("is a folder, not a file", "give a file path"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path"),
    errno.ENAMETOOLONG: ("the file name is too long", "use a shorter path"),
    errno.EIO: ("input/output error from the device", "check the disk or the network share"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or close other programs"),
}


def from_os_error(exc: OSError, *, where: str | None = None, doing: str | None = None) -> SystemProblemError:
    """A clear error for an ``OSError`` (its errno named in words), e.g. to raise ``from None``."""
    problem, fix = _OS_MESSAGES.get(exc.errno, (exc.strerror or type(exc).__name__, None))
    where = where or (str(exc.filename) if exc.filename else None)
    return SystemProblemError(f"{doing}: {problem}" if doing else problem, where=where, fix=fix, errno_=exc.errno)


def out_of_memory(doing: str | None = None) -> SystemProblemError:
    """The error for a ``MemoryError``."""
    return SystemProblemError(
        (f"{doing}: " if doing else "") + "out of memory",
        fix="use less data (--limit), a smaller --batch-size, or a machine with more memory")
