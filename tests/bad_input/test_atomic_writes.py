"""The atomic writer leaves nothing behind: an error, Ctrl-C or SIGTERM at any moment leaves the old file
(or none) and no temporary; a temporary left by SIGKILL is removed by the next write to the same output."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ground import spec_io
from ground.spec_io import remove_stale_temporaries, write_atomic

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or p.name.endswith(".tmp"))


@pytest.mark.parametrize("step", ["open", "write", "close", "replace"])
def test_an_interrupt_at_each_step_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, step):
    out = tmp_path / "out.mlmodel"
    out.write_bytes(b"old")
    real = getattr(os, step)

    def interrupted(*a, **kw):
        if step in ("open", "close"):
            real(*a, **kw)       # the file exists (or is closed) when the interrupt arrives
        raise KeyboardInterrupt
    monkeypatch.setattr(os, step, interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(out, b"new" * 1000)
    monkeypatch.undo()
    assert out.read_bytes() == b"old" and _leftovers(tmp_path) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    out = tmp_path / "out.mlmodel"
    stale = tmp_path / spec_io.TEMPORARY.format(name=out.name, pid=_dead_pid(), token="0badf00d")
    stale.write_bytes(b"x" * 2_000_000)
    alive = tmp_path / spec_io.TEMPORARY.format(name=out.name, pid=os.getppid(), token="12345678")
    alive.write_bytes(b"another writer at work")
    other = tmp_path / spec_io.TEMPORARY.format(name="other.mlmodel", pid=_dead_pid(), token="0badf00d")
    other.write_bytes(b"someone else's output")
    write_atomic(out, b"model")
    assert out.read_bytes() == b"model"
    assert not stale.exists() and alive.exists() and other.exists()
    assert remove_stale_temporaries(out) == []


def test_the_temporary_name_says_what_it_is(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(Path(a).name), real(a, b)))
    write_atomic(tmp_path / "out.mlmodel", b"x")
    assert seen[0].startswith("out.mlmodel.partial-") and seen[0].endswith(".tmp")


def test_interrupted_is_printed_on_its_own_line_after_a_progress_bar(capsys, monkeypatch, work):
    from coreml_updatable.commands import inspect

    def run(args):
        sys.stderr.write("\rtraining  40%|####      | 4/10")
        raise KeyboardInterrupt
    monkeypatch.setattr(inspect, "run", run)
    result = run_cli(capsys, "inspect", work / "model.mlmodel")
    assert result.rc == 130 and result.err.endswith("4/10\ninterrupted\n")


CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from coreml_updatable.cli import _catch_sigterm
    from ground.spec_io import write_atomic     # light: coremltools' protos only load to read a spec
    _catch_sigterm()
    out, seconds = sys.argv[1], float(sys.argv[2])
    data = os.urandom(4 << 20)
    writes = interrupts = 0
    held = {signal.SIGINT, signal.SIGTERM}
    # The signals are held outside write_atomic, so that one landing in this loop's own lines (between the
    # except clause and the next try) cannot escape it; one sent meanwhile arrives as the next write starts.
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    print("ready", flush=True)
    end = time.time() + seconds
    while time.time() < end:
        try:
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
                write_atomic(out, data)
                writes += 1
            finally:
                signal.pthread_sigmask(signal.SIG_BLOCK, held)
        except KeyboardInterrupt:
            interrupts += 1
    print(writes, interrupts, flush=True)
""")


def _writer(tmp_path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "out.bin"), str(seconds)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def test_sigint_and_sigterm_at_random_moments_leave_no_temporary(tmp_path):
    proc = _writer(tmp_path, seconds=4)
    rng = random.Random(15)
    sent = 0
    start = time.time()
    while time.time() - start < 3 and proc.poll() is None:
        time.sleep(rng.uniform(0.002, 0.03))
        proc.send_signal(signal.SIGINT if sent % 2 else signal.SIGTERM)
        sent += 1
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    writes, interrupts = map(int, out.split())
    assert interrupts >= sent // 2 and sent >= 30
    assert _leftovers(tmp_path) == []
    assert writes > 0 and (tmp_path / "out.bin").stat().st_size == 4 << 20


def test_after_sigkill_the_next_write_cleans_up(tmp_path):
    proc = _writer(tmp_path, seconds=30)
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    write_atomic(tmp_path / "out.bin", b"fresh")
    assert _leftovers(tmp_path) == [] and (tmp_path / "out.bin").read_bytes() == b"fresh"
