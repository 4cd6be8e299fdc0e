"""Progress of a training run, as a person reading it wants it.

- On a terminal: one bar over every mini-batch of the run (tqdm), with the epoch and the last loss,
  and a line per epoch printed above it. When the terminal does not say how wide it is (a pty of
  width 0, as under ``script``), the bar is drawn for ``$COLUMNS`` or 80 columns.
- Anywhere else (stderr redirected to a file or a pipe, CI logs): no bar and no carriage return, only
  the per-epoch lines, so a log holds one line per epoch.
- ``mode="off"``: nothing.

The Core ML side (the runtime's ``update``) and the Keras side of a parity run both print through
:class:`Progress`, so their per-epoch lines read alike.
"""
from __future__ import annotations

import os
import sys
import time
from typing import IO, Any

FALLBACK_COLUMNS = 80
MODES = ("auto", "bar", "lines", "off")


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):   # closed, or not a file at all
        return False


def terminal_columns(stream: Any) -> int | None:
    """The terminal's width in columns, or None when it does not say (width 0, or no terminal)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None
    return columns or None


def fallback_columns() -> int:
    try:
        return max(int(os.environ.get("COLUMNS", "")), 20)
    except ValueError:
        return FALLBACK_COLUMNS


def epoch_line(describe: str, epoch: int, epochs: int, last_loss: float, mean_loss: float, batches: int,
               seconds: float) -> str:
    """The one line printed per epoch, the same for every side of every command."""
    return (f"{describe}: epoch {epoch}/{epochs}: loss {last_loss:.4f} (last mini-batch), mean {mean_loss:.4f} "
            f"over {batches} mini-batches, {seconds:.1f} s")


class Progress:
    """Progress of one run: ``batch(epoch, loss)`` after each mini-batch, ``epoch(...)`` after each
    epoch, ``close()`` at the end (also usable as a context manager)."""

    def __init__(self, describe: str, epochs: int, batches_per_epoch: int, *, stream: IO[str] | None = None,
                 mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"progress mode {mode!r}: expected one of {', '.join(MODES)}")
        self.stream = stream if stream is not None else sys.stderr
        self.describe = describe
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.mode = ("bar" if is_terminal(self.stream) else "lines") if mode == "auto" else mode
        self.started = self.epoch_started = time.perf_counter()
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            columns = terminal_columns(self.stream)
            self.bar = tqdm(total=epochs * batches_per_epoch, file=self.stream, unit="batch", desc=describe,
                            dynamic_ncols=columns is not None, ncols=None if columns else fallback_columns(),
                            mininterval=0.5, leave=False)

    def batch(self, epoch: int, loss: float) -> None:
        """One mini-batch done (``epoch`` counts from 1)."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(epoch=epoch, loss=f"{loss:.4f}", refresh=False)

    def epoch(self, epoch: int, last_loss: float, mean_loss: float, batches: int | None = None) -> None:
        """One epoch done (``epoch`` counts from 1): its line, above the bar or on its own."""
        now = time.perf_counter()
        if self.mode != "off":
            line = epoch_line(self.describe, epoch, self.epochs, last_loss, mean_loss,
                              self.batches_per_epoch if batches is None else batches, now - self.epoch_started)
            if self.bar is not None:
                self.bar.write(line, file=self.stream)
            else:
                self.stream.write(line + "\n")
                self.stream.flush()
        self.epoch_started = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
