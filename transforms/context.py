"""What every pass reads and writes: :class:`PassContext`."""
from __future__ import annotations

from dataclasses import dataclass, field

from .options import SourceFacts, UpdateOptions
from .report import ConversionReport


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
