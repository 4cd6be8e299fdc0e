"""No output may be an input (also through links), and output folders are checked before any work."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import refused

IS_INPUT = "the output path is an input of this command"


def _link_to_the_data(work: Path) -> None:
    os.symlink(work / "data.npz", work / "link.npz")


def _a_sub_folder(work: Path) -> None:
    (work / "sub").mkdir()


def _an_idx_folder(work: Path) -> None:
    folder = work / "idx"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(b"\0\0\x08\x01\0\0\0\0")


def _a_link_to_the_onnx_source(work: Path) -> None:
    from fixtures import onnx as onnx_fixtures

    (work / "m.onnx").write_bytes((Path(onnx_fixtures.__file__).parent / "torch_mlp.onnx").read_bytes())
    os.symlink(work / "m.onnx", work / "out.mlmodel")


TRAIN = ("train", "model.mlmodel", "--data", "data.npz")
PREDICT = ("predict", "model.mlmodel", "--input", "x.npy")
# case: (set-up of the work folder, the command line; paths relative to the work folder, -o and --force added)
OUTPUT_IS_INPUT = {
    "train_overwriting_its_training_data": (None, TRAIN, "data.npz"),
    "train_overwriting_its_model": (None, TRAIN, "model.mlmodel"),
    "train_writing_a_link_to_its_data": (_link_to_the_data, TRAIN, "link.npz"),
    "train_writing_a_path_that_resolves_to_its_model": (_a_sub_folder, TRAIN, "sub/../model.mlmodel"),
    "train_overwriting_an_idx_file_of_its_data_folder": (_an_idx_folder, ("train", "model.mlmodel", "--data", "idx"),
                                                         "idx/t10k-labels-idx1-ubyte"),
    "predict_overwriting_its_input": (None, PREDICT, "x.npy"),
    "predict_overwriting_its_model": (None, PREDICT, "model.mlmodel"),
    "convert_writing_a_link_to_its_source": (_a_link_to_the_onnx_source, ("convert", "m.onnx"), "out.mlmodel"),
}


@pytest.mark.parametrize("case", list(OUTPUT_IS_INPUT))
def test_an_output_that_is_an_input_is_refused(capsys, work, case):
    setup, command, output = OUTPUT_IS_INPUT[case]
    if setup is not None:
        setup(work)
    name, *rest = command
    refused(capsys, work, name, *(a if a.startswith("-") else work / a for a in rest), "-o", work / output, "--force",
            match=IS_INPUT)


def test_an_existing_output_needs_force(capsys, work):
    (work / "y.npy").write_bytes(b"keep me")
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "x.npy", "-o", work / "y.npy",
            match=["the output file exists", "--force"])


def test_output_in_a_missing_folder(capsys, work):
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz",
            "-o", work / "nowhere" / "t.mlmodel", match="the output folder does not exist")


def test_output_is_a_folder(capsys, work):
    (work / "folder.mlmodel").mkdir()
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "folder.mlmodel",
            "--force", match="the output path is a folder")


def test_output_folder_not_writable(capsys, work, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == work else real(p, mode, **kw))
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "t.mlmodel",
            match="the output folder is not writable")


def test_verify_report_that_is_a_file_is_refused_before_training(capsys, work):
    (work / "report.txt").write_text("an existing file")
    start = time.perf_counter()
    refused(capsys, work, "verify", "fixtures/lenet.keras", "--data", work / "data.npz", "--report",
            work / "report.txt", match="the output folder is an existing file, not a folder")
    assert time.perf_counter() - start < 5          # refused before any conversion or training


def test_verify_report_below_a_file(capsys, work):
    refused(capsys, work, "verify", "fixtures/lenet.keras", "--data", work / "data.npz", "--report",
            work / "data.npz" / "b", match="a part of the output folder's path is an existing file")


def test_verify_report_json_that_is_the_data(capsys, work):
    (work / "rep").mkdir()
    np.savez(work / "rep" / "report.json", x=np.zeros(1))
    os.replace(work / "rep" / "report.json.npz", work / "rep" / "report.json")
    refused(capsys, work, "verify", "fixtures/lenet.keras", "--data", work / "rep" / "report.json", "--report",
            work / "rep", match=IS_INPUT)
