"""Progress of a training run, as a person reading it wants it.

- On a terminal: one bar over every mini-batch of the run (tqdm), with the epoch and the last loss,
  and a line per epoch printed above it. When the terminal does not say its size (a pty of 0 x 0, as
  under ``script``), the bar is drawn for ``$COLUMNS`` (or 80) columns and ``$LINES`` (or 24) lines.
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

MODES = ("auto", "bar", "lines", "off")


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):   # closed, or not a file at all
        return False


def terminal_size(stream: Any) -> tuple[int, int]:
    """The terminal's (columns, lines); 0 for what it does not say (a pty of size 0 x 0, or no terminal)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return 0, 0
    return size.columns, size.lines


def _from_env(name: str, default: int) -> int:
    try:
        return max(int(os.environ.get(name, "")), 2)
    except ValueError:
        return default


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

            columns, lines = terminal_size(self.stream)
            # tqdm asks the terminal itself when it is sized; else it would draw a bar 0 columns wide, or
            # none at all for a terminal that reports 0 lines, so it gets $COLUMNS / $LINES or 80 x 24
            sized = columns > 0 and lines > 0
            self.bar = tqdm(total=epochs * batches_per_epoch, file=self.stream, unit="batch", desc=describe,
                            dynamic_ncols=sized, ncols=None if sized else columns or _from_env("COLUMNS", 80),
                            nrows=None if sized else _from_env("LINES", 24), mininterval=0.5, leave=False)

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
