"""Progress events of a training run (MLUpdateTask's trainingBegin / miniBatchEnd / epochEnd)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class TrainingEvent:
    """One event. ``epoch`` and ``batch`` count from 0, as Core ML's epochIndex / miniBatchIndex."""

    kind: str                 # 'training_begin' | 'mini_batch_end' | 'epoch_end' | 'training_end'
    epoch: int = 0
    batch: int = 0
    loss: float = math.nan    # lossValue: this mini-batch's loss; at epoch end the last batch's (as Core ML)
    epoch_mean_loss: float = math.nan
    epochs: int = 0
    batches_per_epoch: int = 0


Callback = Callable[[TrainingEvent], None]


class ProgressBar:
    """A training callback that shows the run's progress on stderr (see :mod:`emulator.progress`):
    a bar on a terminal, one plain line per epoch when stderr is a file or a pipe."""

    def __init__(self, stream=None, describe: str = "training", mode: str = "auto") -> None:
        self.stream = stream
        self.describe = describe
        self.mode = mode
        self.progress = None

    def __call__(self, event: TrainingEvent) -> None:
        from .progress import Progress

        if event.kind == "training_begin":
            self.progress = Progress(self.describe, event.epochs, event.batches_per_epoch, stream=self.stream,
                                     mode=self.mode)
        elif self.progress is None:
            return
        elif event.kind == "mini_batch_end":
            self.progress.batch(event.epoch + 1, event.loss)
        elif event.kind == "epoch_end":
            self.progress.epoch(event.epoch + 1, event.loss, event.epoch_mean_loss)
        elif event.kind == "training_end":
            self.progress.close()
