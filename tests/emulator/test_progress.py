"""Progress output: a bar on a terminal (also one that does not say how wide it is), plain per-epoch
lines without carriage returns anywhere else, nothing when off; the callback the runtime uses."""
from __future__ import annotations

import fcntl
import io
import os
import struct
import sys
import termios

import pytest

from emulator.events import ProgressBar, TrainingEvent
from emulator.progress import Progress, epoch_line


class FakeTerminal(io.StringIO):
    """A terminal that does not say its width (no fileno), as a pty of size 0 x 0."""

    def isatty(self) -> bool:
        return True


def _run(progress: Progress, epochs: int = 2, batches: int = 3) -> None:
    with progress:
        for e in range(1, epochs + 1):
            for b in range(batches):
                progress.batch(e, 1.0 / (e + b))
            progress.epoch(e, 0.5 / e, 0.75 / e)


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    _run(Progress("training", 2, 3, stream=out))
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 2 and all(line.endswith(" s") for line in lines)
    assert lines[1].startswith(epoch_line("training", 2, 2, 0.25, 0.375, 3, 0.0).rsplit(",", 1)[0])
    assert text.splitlines()[0].startswith("training: epoch 1/2: loss 0.5000 (last mini-batch), mean 0.7500 over 3")


def test_bar_on_a_terminal_of_unknown_width_uses_80_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = FakeTerminal()
    _run(Progress("training", 2, 3, stream=out))
    text = out.getvalue()
    assert "\r" in text and "|" in text                             # a drawn bar, not an empty one
    assert "training: epoch 1/2: loss 0.5000" in text and "training: epoch 2/2" in text
    bars = [chunk for chunk in text.split("\r") if "%|" in chunk]
    assert bars and all(len(b.rstrip("\n")) <= 80 for b in bars)
    assert max(len(b) for b in bars) > 40                             # it uses the width it has


def test_columns_variable_sets_the_fallback_width(monkeypatch):
    """(tqdm does not query a stream that is not sys.stderr / sys.stdout: the fallback is ours.)"""
    monkeypatch.setenv("COLUMNS", "50")
    out = FakeTerminal()
    _run(Progress("t", 1, 2, stream=out))
    assert all(len(b) <= 50 for b in out.getvalue().split("\r") if "%|" in b)


def test_off_prints_nothing():
    out = FakeTerminal()
    _run(Progress("training", 2, 3, stream=out, mode="off"))
    assert out.getvalue() == ""
    with pytest.raises(ValueError, match="progress mode 'loud'"):
        Progress("t", 1, 1, mode="loud")


@pytest.mark.parametrize("columns, lines", [(0, 0), (100, 0), (100, 30)])
def test_a_real_pty_gets_a_bar_of_its_width(columns, lines, monkeypatch):
    """On stderr, as the CLI prints it (tqdm asks the terminal about sys.stderr itself)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        stream = os.fdopen(os.dup(slave), "w", encoding="utf-8")
        monkeypatch.setattr(sys, "stderr", stream)
        _run(Progress("training", 2, 3))
        stream.close()
        os.set_blocking(master, False)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        text = b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(master)
        os.close(slave)
    bars = [chunk for chunk in text.replace("\n", "\r").split("\r") if "%|" in chunk]
    assert bars, text
    assert max(len(b) for b in bars) <= (columns or 80) and max(len(b) for b in bars) > 40
    assert "training: epoch 2/2: loss 0.2500" in text


def test_runtime_callback_prints_one_line_per_epoch():
    out = io.StringIO()
    cb = ProgressBar(stream=out, describe="Core ML")
    cb(TrainingEvent("training_begin", epochs=2, batches_per_epoch=2))
    for e in range(2):
        for b in range(2):
            cb(TrainingEvent("mini_batch_end", e, b, 0.5, epochs=2, batches_per_epoch=2))
        cb(TrainingEvent("epoch_end", e, 1, 0.5, 0.6, 2, 2))
    cb(TrainingEvent("training_end", 1, 1, 0.5, 0.6, 2, 2))
    lines = out.getvalue().splitlines()
    assert [line.split(": loss")[0] for line in lines] == ["Core ML: epoch 1/2", "Core ML: epoch 2/2"]
    assert "\r" not in out.getvalue()
