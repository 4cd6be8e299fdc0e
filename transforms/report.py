"""The conversion report: what was dropped, split, added, marked, and why.

It travels with the result, so the CLI, the parity report and the model's metadata tell one story.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    stage: str        # 'map' | a pass name
    action: str       # 'dropped' | 'split' | 'added' | 'marked' | 'reordered' | 'set' | 'note'
    subject: str      # layer or setting name
    reason: str = ""

    def __str__(self) -> str:
        return f"[{self.stage}] {self.action} {self.subject}" + (f": {self.reason}" if self.reason else "")


@dataclass
class ConversionReport:
    entries: list[Entry] = field(default_factory=list)

    def add(self, stage: str, action: str, subject: str, reason: str = "") -> None:
        self.entries.append(Entry(stage, action, subject, reason))

    def lines(self) -> list[str]:
        return [str(e) for e in self.entries]

    def to_dict(self) -> list[dict]:
        return [e.__dict__.copy() for e in self.entries]
