"""Limits before allocation: sizes declared by headers are checked before anything is read or allocated."""
from __future__ import annotations

import gzip
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from .conftest import npy_bytes, refused, run_cli, tiny_data, tiny_spec

LIMIT_FIX = "--max-bytes"


def _npz_with_lying_header(path: Path, key: str, shape: tuple[int, ...]) -> None:
    """An .npz whose ``key`` header claims ``shape`` (uint8) but holds 10 bytes of data."""
    arrays = tiny_data()
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in arrays.items():
            data = npy_bytes(v)
            if k == key:
                header = npy_bytes(np.zeros((0,) + shape[1:], np.uint8)).replace(
                    repr((0,) + shape[1:]).encode(), repr(shape).encode(), 1)
                data = header + bytes(10)
            zf.writestr(k + ".npy", data)


def test_npz_header_claiming_100m_images_is_refused_before_allocation(capsys, work):
    _npz_with_lying_header(work / "bomb.npz", "x_train", (100_000_000, 28, 28))
    refused(capsys, work, "train", work / "model.mlmodel", "--data", work / "bomb.npz", "-o", work / "out.mlmodel",
            match=["x_train", "(100000000, 28, 28)", "truncated or corrupt"])


def test_npz_array_above_the_limit_is_refused_and_the_flag_raises_it(capsys, work):
    refused(capsys, work, "evaluate", work / "model.mlmodel", "--data", work / "data.npz", "--max-bytes", "100",
            match=["above the limit of 100 bytes", LIMIT_FIX])
    assert run_cli(capsys, "evaluate", work / "model.mlmodel", "--data", work / "data.npz").rc == 0


def test_bad_max_bytes_value(capsys, work):
    refused(capsys, work, "inspect", work / "model.mlmodel", "--max-bytes", "lots", match="is not a size")


def _declaring(work: Path, shape) -> Path:
    spec = tiny_spec()
    del spec.description.input[0].type.multiArrayType.shape[:]
    spec.description.input[0].type.multiArrayType.shape.extend(shape)
    path = work / "huge.mlmodel"
    path.write_bytes(spec.SerializeToString())
    return path


@pytest.mark.parametrize("command", ["inspect", "validate", "predict", "train", "evaluate"])
def test_declared_1x60000x60000_input_is_refused_in_every_command(capsys, work, command):
    model = _declaring(work, (1, 60000, 60000))
    extra = {"predict": ["--input", work / "x.npy", "-o", work / "y.npy"],
             "train": ["--data", work / "data.npz", "-o", work / "out.mlmodel"],
             "evaluate": ["--data", work / "data.npz"]}.get(command, [])
    refused(capsys, work, command, model, *extra,
            match=["input 'image'", "(1, 60000, 60000)", "13.4 GiB", "above the limit of 4.0 GiB", LIMIT_FIX])


def test_mlmodel_file_above_the_limit_is_not_read(capsys, work):
    refused(capsys, work, "inspect", work / "model.mlmodel", "--max-bytes", "64",
            match=["the model file needs", "above the limit of 64 bytes"])


def test_npy_header_claiming_more_than_the_file_holds(capsys, work):
    header = npy_bytes(np.zeros((0, 1, 4, 4), np.float32)).replace(b"(0, 1, 4, 4)", b"(90000000, 1, 4, 4)", 1)
    (work / "lying.npy").write_bytes(header + bytes(64))
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "lying.npy", "-o", work / "y.npy",
            match=["(90000000, 1, 4, 4)", "truncated or corrupt"])


def test_npy_above_the_limit(capsys, work):
    np.save(work / "big.npy", np.zeros((64, 1, 4, 4), np.float32))
    refused(capsys, work, "predict", work / "model.mlmodel", "--input", work / "big.npy", "-o", work / "y.npy",
            "--max-bytes", "1K", match=["the input batch of shape (64, 1, 4, 4) needs 4.0 KiB", LIMIT_FIX])


def test_gzipped_idx_header_claiming_a_huge_array(capsys, work):
    folder = work / "idx"
    folder.mkdir()
    for stem, dims in (("train-images-idx3-ubyte", (2**31, 28, 28)), ("train-labels-idx1-ubyte", (2,)),
                       ("t10k-images-idx3-ubyte", (2, 28, 28)), ("t10k-labels-idx1-ubyte", (2,))):
        header = bytes([0, 0, 8, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
        (folder / (stem + ".gz")).write_bytes(gzip.compress(header + bytes(16)))
    refused(capsys, work, "evaluate", work / "model.mlmodel", "--data", folder,
            match=["the IDX array of shape (2147483648, 28, 28)", "above the limit"])


def _keras_archive(path: Path, config: bytes, *, declare: int | None = None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        zf.writestr("config.json", config)
    if declare is not None:   # a lying central directory: the inflated size of config.json
        raw = bytearray(path.read_bytes())
        at = raw.rfind(b"PK\x01\x02")
        while raw[at + 46:at + 46 + 11] != b"config.json":
            at = raw.rfind(b"PK\x01\x02", 0, at)
        raw[at + 24:at + 28] = struct.pack("<I", declare)
        path.write_bytes(bytes(raw))


def test_keras_config_bomb_is_refused_from_the_zip_header(capsys, work):
    _keras_archive(work / "bomb.keras", b'{"class_name": "Sequential"}', declare=0xFFFFFFF0)
    refused(capsys, work, "convert", work / "bomb.keras", "-o", work / "out.mlmodel",
            match=["config.json needs 4.0 GiB", "above the limit of 64.0 MiB", LIMIT_FIX])


def test_keras_config_that_really_inflates_past_the_limit(capsys, work):
    config = b'{"class_name": "Sequential", "pad": "' + b" " * (3 << 20) + b'"}'
    _keras_archive(work / "big.keras", config)
    assert (work / "big.keras").stat().st_size < 100_000
    refused(capsys, work, "convert", work / "big.keras", "-o", work / "out.mlmodel", "--max-bytes", "64M",
            match=["config.json needs 3.0 MiB", "above the limit of 1.0 MiB"])


def test_keras_config_nested_100000_deep(capsys, work):
    _keras_archive(work / "deep.keras", b"[" * 100_000 + b"]" * 100_000)
    refused(capsys, work, "convert", work / "deep.keras", "-o", work / "out.mlmodel", match="nested too deeply")


def test_keras_config_nested_past_the_walk_limit(capsys, work):
    _keras_archive(work / "deep.keras", b'{"a": ' * 500 + b"1" + b"}" * 500)
    refused(capsys, work, "convert", work / "deep.keras", "-o", work / "out.mlmodel",
            match="nested more than 200 levels deep")


def test_onnx_file_above_the_limit(capsys, work):
    from fixtures import onnx as onnx_fixtures

    source = Path(onnx_fixtures.__file__).parent / "torch_mlp.onnx"
    refused(capsys, work, "convert", source, "-o", work / "out.mlmodel", "--max-bytes", "1K",
            match=["the ONNX file needs", "above the limit of 1.0 KiB"])
