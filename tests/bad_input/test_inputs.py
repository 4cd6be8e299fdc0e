"""Inputs checked: numbers only, no NaN / inf (unless --allow-nonfinite), 0-255 for a 0-1 model warned,
empty sets refused, file kinds named, labels range-checked in evaluate as in train."""
from __future__ import annotations

import logging
import struct
import zlib

import numpy as np
import pytest

from .conftest import refused, run_cli, tiny_data

PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)


def _predict(capsys, work, array_or_bytes, *extra, rc=2, match):
    path = work / "in.npy"
    if isinstance(array_or_bytes, bytes):
        path.write_bytes(array_or_bytes)
    else:
        np.save(path, array_or_bytes, allow_pickle=True)
    return refused(capsys, work, "predict", work / "model.mlmodel", "--input", path, "-o", work / "y.npy", *extra,
                   rc=rc, match=match)


@pytest.mark.parametrize("array, words", [
    (np.full((2, 1, 4, 4), "0.5"), "<U3 values (text)"),
    (np.zeros((2, 1, 4, 4), np.complex64), "complex64 values (complex numbers)"),
    (np.array([{"a": 1}, None], dtype=object), "object values (Python objects)"),
    (np.zeros((2, 1, 4, 4), "datetime64[s]"), "dates"),
])
def test_predict_refuses_non_numeric_inputs(capsys, work, array, words):
    _predict(capsys, work, array, match=[words, "only real numbers"])


def test_predict_refuses_an_empty_file(capsys, work):
    _predict(capsys, work, b"", match="the file is empty")


def test_predict_refuses_zero_rows(capsys, work):
    _predict(capsys, work, np.zeros((0, 1, 4, 4), np.float32), match=["empty", "(0, 1, 4, 4)"])


def test_predict_refuses_a_truncated_npy(capsys, work):
    from .conftest import npy_bytes

    _predict(capsys, work, npy_bytes(np.zeros((4, 1, 4, 4), np.float32))[:-20], match="truncated or corrupt")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_predict_refuses_nonfinite_values(capsys, work, value):
    x = np.zeros((3, 1, 4, 4), np.float32)
    x[1, 0, 2, 3] = value
    _predict(capsys, work, x, match=["1 NaN or infinite value(s)", "(1, 0, 2, 3)", "--allow-nonfinite"])


def test_allow_nonfinite_runs_anyway(capsys, work):
    x = np.zeros((3, 1, 4, 4), np.float32)
    x[0, 0, 0, 0] = np.nan
    np.save(work / "nan.npy", x)
    result = run_cli(capsys, "predict", work / "model.mlmodel", "--input", work / "nan.npy", "-o", work / "y.npy",
                     "--allow-nonfinite")
    assert result.rc == 0 and (work / "y.npy").exists()


def test_pixels_0_255_given_to_a_0_1_model_are_warned(capsys, work, caplog):
    x = np.random.default_rng(0).integers(0, 256, (3, 1, 4, 4)).astype(np.uint8)
    np.save(work / "pixels.npy", x)
    with caplog.at_level(logging.WARNING):
        result = run_cli(capsys, "predict", work / "model.mlmodel", "--input", work / "pixels.npy",
                         "-o", work / "y.npy")
    assert result.rc == 0
    assert "0-255 pixels?" in caplog.text and "divide by 255" in caplog.text


def test_scaled_inputs_are_not_warned(capsys, work, caplog):
    with caplog.at_level(logging.WARNING):
        assert run_cli(capsys, "predict", work / "model.mlmodel", "--input", work / "x.npy", "-o", work / "y.npy").rc == 0
    assert "pixels" not in caplog.text


def test_predict_names_a_png_given_as_input(capsys, work):
    _predict(capsys, work, PNG + zlib.compress(bytes(20)), match="is a PNG image, not a .npy array")


def test_predict_names_an_npz_given_as_input(capsys, work):
    (work / "in.npy").write_bytes((work / "data.npz").read_bytes())
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "in.npy", "-o", work / "y.npy",
            match="is an .npz archive, not a .npy array")


def test_predict_wrong_shape(capsys, work):
    _predict(capsys, work, np.zeros((2, 3, 4, 4), np.float32), match=["(2, 3, 4, 4)", "expected (N, 1, 4, 4)"])


def test_train_names_a_png_given_as_data(capsys, work):
    (work / "img.png").write_bytes(PNG)
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "img.png", "-o", work / "t.mlmodel",
            match="it is a PNG image")


def _data(work, **override):
    np.savez(work / "bad.npz", **tiny_data(**override))
    return work / "bad.npz"


def test_train_refuses_string_images(capsys, work):
    path = _data(work, x_train=np.full((12, 4, 4), "1"))
    refused(capsys, work, "train", work / "model.mlmodel", "--data", path, "-o", work / "t.mlmodel",
            match=["array 'x_train'", "text"])


def test_train_refuses_complex_images(capsys, work):
    path = _data(work, x_train=np.zeros((12, 4, 4), np.complex128))
    refused(capsys, work, "train", work / "model.mlmodel", "--data", path, "-o", work / "t.mlmodel",
            match="complex numbers")


def test_train_refuses_nan_images(capsys, work):
    x = np.zeros((12, 4, 4), np.float32)
    x[3, 1, 1] = np.nan
    path = _data(work, x_train=x)
    refused(capsys, work, "train", work / "model.mlmodel", "--data", path, "-o", work / "t.mlmodel",
            "--no-progress", match=["x_train", "NaN or infinite", "--allow-nonfinite"])


def test_train_refuses_an_empty_training_set(capsys, work):
    path = _data(work, x_train=np.zeros((0, 4, 4), np.uint8), y_train=np.zeros(0, np.int64))
    refused(capsys, work, "train", work / "model.mlmodel", "--data", path, "-o", work / "t.mlmodel",
            match="x_train is empty")


def test_train_refuses_labels_out_of_range(capsys, work):
    path = _data(work, y_train=np.full(12, 7))
    refused(capsys, work, "train", work / "model.mlmodel", "--data", path, "-o", work / "t.mlmodel",
            "--no-progress", match=["[7, 7]", "3 classes"])


def test_evaluate_refuses_labels_out_of_range_as_train_does(capsys, work):
    path = _data(work, y_test=np.array([0, 1, 2, 3] * 3))
    refused(capsys, work, "evaluate", work / "model.mlmodel", "--data", path, match=["[0, 3]", "3 classes"])


def test_evaluate_refuses_negative_labels(capsys, work):
    path = _data(work, y_test=np.array([0, -1, 2] * 4))
    refused(capsys, work, "evaluate", work / "model.mlmodel", "--data", path, match="non-negative integers")


def test_evaluate_refuses_one_hot_labels(capsys, work):
    path = _data(work, y_test=np.eye(3)[np.arange(12) % 3])
    refused(capsys, work, "evaluate", work / "model.mlmodel", "--data", path, match="class indices")


def test_evaluate_refuses_images_of_another_size(capsys, work):
    path = _data(work, x_train=np.zeros((12, 5, 5), np.uint8), x_test=np.zeros((12, 5, 5), np.uint8))
    refused(capsys, work, "evaluate", work / "model.mlmodel", "--data", path, match="do not fit the model input")
