"""The README stays true: its support table is the registries', and every command and snippet in it runs.

Every ```bash block runs, top to bottom, with ``bash -euo pipefail`` in a temporary folder holding a copy of
the repository's tracked files (``git ls-files``), with ``shared/`` beside it (a link to the real one) so
``../shared/data/mnist/mnist.npz`` resolves as in CI; ``coreml-updatable`` and ``python`` there run this
checkout's code with this interpreter. Every ```python block runs the same way, in document order with the
shell blocks (a snippet may use what an earlier command wrote). A block preceded by
``<!-- readme-test: skip: <reason> -->`` is skipped and counted. ```text blocks are not run: they hold
placeholders (``<like-this>``) and example outputs.

The install step ``pip install -e ...`` is not run: installing would point this environment's editable
install at the temporary copy (CI's ``.ci/run`` installs from ``pyproject.toml`` itself); of a
``pip install ... && rest`` line only ``rest`` runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from converter.support_table import readme_with_tables
from tests.shared_data import MNIST, REASON

README = Path(__file__).resolve().parents[1] / "README.md"
REPO = README.parent
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>.*?)\s*-->")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9_.-]*>|\[--?[a-z][\w-]*[^\]]*\]")
RUN = ("bash", "python")
BLOCK_TIMEOUT_S = 600


@dataclass
class Block:
    lang: str
    code: str
    line: int                 # 1-based line of the opening fence
    skip: str | None = None   # the reason, when marked to be skipped


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the skip reason written on the line before it."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m["lang"]:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        marker = SKIP.search(lines[start - 1]) if start else None
        found.append(Block(m["lang"], "\n".join(body) + "\n", start + 1, marker["reason"] if marker else None))
        i += 1
    return found


def without_install(code: str) -> str:
    """The shell code with ``pip install ...`` left out (of ``pip install ... && rest``, ``rest`` stays)."""
    out = []
    for line in code.splitlines():
        stripped = line.strip()
        if stripped.startswith("pip install") or stripped.startswith("python -m pip install"):
            line = line.split("&&", 1)[1].strip() if "&&" in line else ""
        out.append(line)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the README as text

def test_support_table_is_generated_from_the_registry():
    text = README.read_text()
    assert readme_with_tables(text) == text, "run: python -m converter.support_table --write-readme README.md"


def test_the_two_commands_use_files_that_exist():
    text = README.read_text()
    assert 'pip install -e ".[test]" && coreml-updatable convert fixtures/lenet.keras -o lenet.mlmodel' in text
    assert "python -m pytest" in text
    assert (README.parent / "fixtures" / "lenet.keras").exists()


def test_commands_hold_no_placeholders_and_skips_give_reasons():
    for b in blocks(README.read_text()):
        if b.lang in RUN:
            hits = PLACEHOLDER.findall(b.code)
            assert not hits, (f"README line {b.line}: {hits} in a ```{b.lang} block; placeholders go in ```text "
                              "blocks (or give a real value)")
        if b.skip is not None:
            assert b.skip.strip(), f"README line {b.line}: a skip marker needs a reason"


def test_the_parser_reads_fences_and_skip_markers():
    text = ("intro\n```bash\necho one\n```\n<!-- readme-test: skip: runs forever -->\n```bash\nserve\n```\n"
            "```text\n<model.mlmodel>\n```\n```python\nprint(2)\n```\n")
    found = blocks(text)
    assert [(b.lang, b.code, b.skip) for b in found] == [
        ("bash", "echo one\n", None), ("bash", "serve\n", "runs forever"), ("text", "<model.mlmodel>\n", None),
        ("python", "print(2)\n", None)]
    assert without_install('pip install -e ".[test]" && tool run x\npip install y\nls\n') == "tool run x\n\nls\n"
    assert PLACEHOLDER.search("coreml-updatable inspect lenet.mlmodel [--json]")
    assert not PLACEHOLDER.search("python -c \"x = a[:8]; y = b[0]\" > out.txt")


# ---------------------------------------------------------------- the README, run

def _tracked_files() -> list[str]:
    try:
        proc = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the README test copies the tracked files (git ls-files)")
    return [name for name in proc.stdout.decode().split("\0") if name]


def _sandbox(tmp: Path) -> tuple[Path, dict[str, str]]:
    """tmp/repo (the tracked files), tmp/shared (-> the real one), tmp/bin (coreml-updatable, python)."""
    repo, shared, bin_dir = tmp / "repo", tmp / "shared", tmp / "bin"
    for name in _tracked_files():
        src = REPO / name
        if src.is_file():
            dst = repo / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    real_shared = REPO.parent / "shared"
    if (real_shared / "data" / "mnist" / "mnist.npz").exists():
        shared.symlink_to(real_shared.resolve(), target_is_directory=True)
    else:                                   # $COREML_UPDATABLE_DATA names the file: lay it out as CI has it
        (shared / "data" / "mnist").mkdir(parents=True)
        (shared / "data" / "mnist" / "mnist.npz").symlink_to(MNIST.resolve())
    bin_dir.mkdir()
    for name, body in (("coreml-updatable", f'exec "{sys.executable}" -m coreml_updatable.cli "$@"'),
                       ("python", f'exec "{sys.executable}" "$@"'), ("python3", f'exec "{sys.executable}" "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("COREML_UPDATABLE_DATA", "PYTHONSTARTUP")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(repo), PYTHONDONTWRITEBYTECODE="1")
    return repo, env


def test_every_readme_command_and_snippet_runs(tmp_path):
    if not MNIST.exists():
        pytest.skip(REASON)
    repo, env = _sandbox(tmp_path)
    ran, skipped, timings = 0, [], []
    for b in blocks((repo / "README.md").read_text()):
        if b.lang not in RUN:
            continue
        if b.skip is not None:
            skipped.append(f"line {b.line}: {b.skip}")
            continue
        if b.lang == "bash":
            argv = ["bash", "-euo", "pipefail", "-c", without_install(b.code)]
        else:
            script = tmp_path / f"readme_line_{b.line}.py"
            script.write_text(b.code)
            argv = [sys.executable, str(script)]
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
        timings.append(f"line {b.line} ({b.lang}): {time.perf_counter() - started:.1f} s")
        assert proc.returncode == 0, (f"README block at line {b.line} (```{b.lang}) failed with exit status "
                                      f"{proc.returncode}:\n{b.code}\n--- stdout (end):\n{proc.stdout[-3000:]}\n"
                                      f"--- stderr (end):\n{proc.stderr[-3000:]}")
        assert "Traceback" not in proc.stderr, f"README block at line {b.line} printed a traceback:\n{proc.stderr}"
        ran += 1
    print(f"README: {ran} blocks ran, {len(skipped)} skipped ({'; '.join(skipped)}); " + ", ".join(timings))
    assert ran >= 4, f"only {ran} README blocks ran: is the parser still reading the fences?"
