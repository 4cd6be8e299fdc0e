"""Every refusal of the operating system and every out-of-range value: one clear message, exit 2."""
from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

import pytest

from .conftest import refused, snapshot

ONNX = Path(__file__).resolve().parents[2] / "fixtures" / "onnx" / "torch_mlp.onnx"
KERAS = Path(__file__).resolve().parents[2] / "fixtures" / "branches.keras"


def _deny_reading(monkeypatch, target: Path, code: int = errno.EACCES) -> None:
    """open() of ``target`` fails as the OS would refuse it (the tests run as root, so chmod cannot)."""
    real_open, real_io_open = builtins.open, io.open

    def guard(opener):
        def fake(file, *a, **kw):
            if isinstance(file, (str, os.PathLike)) and Path(file).resolve() == target.resolve():
                raise OSError(code, os.strerror(code), str(file))
            return opener(file, *a, **kw)
        return fake
    monkeypatch.setattr(builtins, "open", guard(real_open))
    monkeypatch.setattr(io, "open", guard(real_io_open))


def _failing_writes(monkeypatch, code: int) -> None:
    def fake(fd, data):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(os, "write", fake)


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left on the device (disk full)"),
                                         (errno.EFBIG, "file too large"),
                                         (errno.EDQUOT, "disk quota exceeded")])
def test_writing_fails_cleanly_and_keeps_the_old_file(capsys, work, monkeypatch, code, words):
    (work / "y.npy").write_bytes(b"the previous result")
    _failing_writes(monkeypatch, code)
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "x.npy", "-o", work / "y.npy",
            "--force", match=["cannot write the file", words])


def test_read_only_file_system(capsys, work, monkeypatch):
    real = os.open

    def fake(path, flags, *a, **kw):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, flags, *a, **kw)
    monkeypatch.setattr(os, "open", fake)
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "t.mlmodel",
            "--no-progress", match="read-only file system")


def test_unreadable_mlmodel_is_called_unreadable_not_corrupt(capsys, work, monkeypatch):
    _deny_reading(monkeypatch, work / "model.mlmodel")
    result = refused(capsys, work, "inspect", work / "model.mlmodel", match=["cannot read the model file",
                                                                              "permission denied"])
    assert "corrupt" not in result.text and "truncated" not in result.text


@pytest.mark.parametrize("fixture", [KERAS, ONNX], ids=["keras", "onnx"])
def test_unreadable_source_model(capsys, work, monkeypatch, fixture):
    source = work / f"m{fixture.suffix}"
    source.write_bytes(fixture.read_bytes())
    _deny_reading(monkeypatch, source)
    result = refused(capsys, work, "convert", source, "-o", work / "out.mlmodel", match="permission denied")
    assert "corrupt" not in result.text


@pytest.mark.parametrize("name, code, command, words", [
    ("data.npz", errno.EACCES, ("evaluate", "model.mlmodel", "--data", "data.npz"), "permission denied"),
    ("x.npy", errno.EIO, ("predict", "model.mlmodel", "--input", "x.npy", "-o", "y.npy"), "input/output error")],
    ids=["evaluate_data", "predict_input"])
def test_unreadable_data_file(capsys, work, monkeypatch, name, code, command, words):
    _deny_reading(monkeypatch, work / name, code)
    verb, *rest = command
    refused(capsys, work, verb, *(a if a.startswith("-") else work / a for a in rest), match=words)


def test_out_of_memory(capsys, work, monkeypatch):
    import emulator.model

    def fake(self, *a, **kw):
        raise MemoryError()
    monkeypatch.setattr(emulator.model.Model, "predict", fake)
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "x.npy", "-o", work / "y.npy",
            match=["out of memory", "--batch-size"])


def test_an_os_error_anywhere_is_a_message(capsys, work, monkeypatch):
    import data_loading as data

    def fake(*a, **kw):
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
    monkeypatch.setattr(data, "load", fake)
    refused(capsys, work, "evaluate", work / "model.mlmodel", "--data", work / "data.npz", match="too many open files")


@pytest.mark.parametrize("option, value, words", [
    ("--seed", str(2**70), "out of range"), ("--seed", "-1", "out of range"),
    ("--batch-size", str(10**20), "out of range"), ("--batch-size", "0", "out of range"),
    ("--epochs", str(2**40), "out of range"), ("--limit", "0", "out of range"),
    ("--learning-rate", "nan", "not a finite number"), ("--learning-rate", "1e999", "not a finite number"),
    ("--epochs", "2.5", "not a whole number")])
def test_values_out_of_range_are_refused_by_the_parser(capsys, work, option, value, words):
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "t.mlmodel",
            option, value, match=[option, words])


def test_convert_seed_out_of_range(capsys, work):
    refused(capsys, work, "convert", ONNX, "-o", work / "out.mlmodel", "--seed", str(2**70), match="out of range")


def test_class_labels_from_a_binary_file(capsys, work):
    (work / "labels.bin").write_bytes(bytes(range(256)))
    refused(capsys, work, "convert", ONNX, "-o", work / "out.mlmodel", "--class-labels", work / "labels.bin",
            match="not UTF-8 text")


def test_no_temporary_is_left_by_a_failed_write(capsys, work, monkeypatch):
    _failing_writes(monkeypatch, errno.ENOSPC)
    before = snapshot(work)
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "t.mlmodel",
            "--no-progress", match="disk full")
    assert snapshot(work) == before and not list(work.glob("*.tmp"))
