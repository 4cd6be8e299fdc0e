"""No output may be an input (also through links), and output folders are checked before any work."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .conftest import refused

IS_INPUT = "the output path is an input of this command"


def test_train_refuses_to_overwrite_its_training_data(capsys, work):
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "data.npz",
            "--force", match=IS_INPUT)


def test_train_refuses_to_overwrite_its_model(capsys, work):
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "model.mlmodel",
            "--force", match=IS_INPUT)


def test_train_refuses_a_link_to_its_data(capsys, work):
    os.symlink(work / "data.npz", work / "link.npz")
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz", "-o", work / "link.npz",
            "--force", match=IS_INPUT)


def test_train_refuses_a_path_that_resolves_to_its_model(capsys, work):
    (work / "sub").mkdir()
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "data.npz",
            "-o", work / "sub" / ".." / "model.mlmodel", "--force", match=IS_INPUT)


def test_train_refuses_an_idx_file_of_its_data_folder(capsys, work):
    folder = work / "idx"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(b"\0\0\x08\x01\0\0\0\0")
    refused(capsys, work, "train", work / "model.mlmodel", "--data", folder, "-o", folder / "t10k-labels-idx1-ubyte",
            "--force", match=IS_INPUT)


def test_predict_refuses_to_overwrite_its_input(capsys, work):
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "x.npy", "-o", work / "x.npy",
            "--force", match=IS_INPUT)


def test_predict_refuses_to_overwrite_its_model(capsys, work):
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "x.npy", "-o", work / "model.mlmodel",
            "--force", match=IS_INPUT)


def test_convert_refuses_a_link_to_its_source(capsys, work):
    from fixtures import onnx as onnx_fixtures

    source = work / "m.onnx"
    source.write_bytes((Path(onnx_fixtures.__file__).parent / "torch_mlp.onnx").read_bytes())
    os.symlink(source, work / "out.mlmodel")
    refused(capsys, work, "convert", source, "-o", work / "out.mlmodel", "--force", match=IS_INPUT)


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
