"""ground.kernels: oneDNN's kernels asked for on Linux x86-64 only, before TensorFlow's import, never over
the user's own setting."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ground import kernels

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("system, machine, wanted", [
    ("Linux", "x86_64", True), ("Linux", "AMD64", True), ("Linux", "aarch64", False),
    ("Darwin", "x86_64", False), ("Darwin", "arm64", False), ("Windows", "AMD64", False),
])
def test_onednn_is_asked_for_on_linux_x86_64_only(system, machine, wanted):
    assert kernels.wants_onednn(system, machine) is wanted


def _fresh(monkeypatch, value: str | None) -> None:
    """As before TensorFlow's import, with the user's setting ``value`` (None: unset)."""
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    if value is None:
        monkeypatch.delenv(kernels.ONEDNN, raising=False)
    else:
        monkeypatch.setenv(kernels.ONEDNN, value)


def test_choose_sets_onednn_where_wanted(monkeypatch):
    _fresh(monkeypatch, None)
    monkeypatch.setattr(kernels, "wants_onednn", lambda: True)
    assert kernels.choose() == "1"


def test_choose_leaves_other_systems_alone(monkeypatch):
    _fresh(monkeypatch, None)
    monkeypatch.setattr(kernels, "wants_onednn", lambda: False)
    assert kernels.choose() is None


@pytest.mark.parametrize("users", ["0", "1"])
def test_choose_keeps_the_users_setting(monkeypatch, users):
    _fresh(monkeypatch, users)
    monkeypatch.setattr(kernels, "wants_onednn", lambda: True)
    assert kernels.choose() == users


def test_choose_after_tensorflow_changes_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    monkeypatch.delenv(kernels.ONEDNN, raising=False)
    monkeypatch.setattr(kernels, "wants_onednn", lambda: True)
    assert kernels.choose() is None


@pytest.mark.skipif(not kernels.wants_onednn(), reason="oneDNN is asked for on Linux x86-64 only")
@pytest.mark.parametrize("env, expected", [({}, True), ({kernels.ONEDNN: "0"}, False)])
def test_the_runtime_runs_the_kernels_chosen(env, expected):
    """A fresh process: importing the runtime turns oneDNN on unless the user said 0."""
    import os

    code = "import emulator; from ground import kernels; print(kernels.onednn_in_use())"
    child = {k: v for k, v in os.environ.items() if k != kernels.ONEDNN} | env
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == str(expected)


def test_onednn_in_use_is_none_before_tensorflow(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert kernels.onednn_in_use() is None
