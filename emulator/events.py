"""Progress events of a training run (MLUpdateTask's trainingBegin / miniBatchEnd / epochEnd)."""
from __future__ import annotations

import math
import sys
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
    """A tqdm progress bar over all mini-batches, with per-epoch loss lines (to stderr)."""

    def __init__(self, stream=None, describe: str = "training") -> None:
        self.stream = stream or sys.stderr
        self.describe = describe
        self.bar = None

    def __call__(self, event: TrainingEvent) -> None:
        from tqdm import tqdm

        if event.kind == "training_begin":
            self.bar = tqdm(total=event.epochs * event.batches_per_epoch, file=self.stream, unit="batch",
                            desc=self.describe, dynamic_ncols=True, mininterval=0.5)
        elif event.kind == "mini_batch_end" and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(epoch=event.epoch + 1, loss=f"{event.loss:.4f}", refresh=False)
        elif event.kind == "epoch_end" and self.bar is not None:
            self.bar.write(f"epoch {event.epoch + 1}/{event.epochs}: loss {event.loss:.4f} (last batch), "
                           f"mean {event.epoch_mean_loss:.4f}", file=self.stream)
        elif event.kind == "training_end" and self.bar is not None:
            self.bar.close()
