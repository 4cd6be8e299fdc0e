"""Data sources: Keras .npz, IDX folders (gzipped or not), keras:NAME, and their error messages."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import data_loading as data
from ground.errors import BadInputError
from tests.shared_data import MNIST, needs_mnist

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_folder(folder: Path, gz: bool, n_train: int = 12, n_test: int = 5) -> dict:
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 4, 3)), "y_train": rng.integers(0, 10, n_train),
              "x_test": rng.integers(0, 256, (n_test, 4, 3)), "y_test": rng.integers(0, 10, n_test)}
    folder.mkdir(exist_ok=True)
    for key, stem in data.IDX_FILES.items():
        raw = _idx_bytes(arrays[key])
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path: Path, gz: bool) -> None:
    arrays = _write_idx_folder(tmp_path / "set", gz)
    ds = data.load(tmp_path / "set")
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.limit(3).x_train.shape == (3, 4, 3)


def test_idx_missing_file_names_it(tmp_path: Path) -> None:
    _write_idx_folder(tmp_path / "set", gz=False)
    (tmp_path / "set" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(BadInputError, match=r"lacks IDX files \['t10k-labels-idx1-ubyte\[.gz\]'\].*Fix: .*pass --data"):
        data.load(tmp_path / "set")


def test_idx_truncated_and_bad_magic(tmp_path: Path) -> None:
    _write_idx_folder(tmp_path / "set", gz=False)
    path = tmp_path / "set" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(BadInputError, match="truncated or corrupt"):
        data.load(tmp_path / "set")
    path.write_bytes(b"\x12\x34\x56\x78" + b"\0" * 20)
    with pytest.raises(BadInputError, match="bad magic number"):
        data.load(tmp_path / "set")


def test_idx_corrupt_gzip(tmp_path: Path) -> None:
    _write_idx_folder(tmp_path / "set", gz=True)
    (tmp_path / "set" / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(BadInputError, match="cannot read the IDX file"):
        data.load(tmp_path / "set")


def test_missing_and_malformed_npz(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such data file or folder.*mnist.npz"):
        data.load(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(BadInputError, match="not a readable .npz file"):
        data.load(bad)
    part = tmp_path / "part.npz"
    np.savez(part, x_train=np.zeros((2, 3, 3), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(BadInputError, match=r"lacks arrays \['x_test', 'y_test'\]"):
        data.load(part)
    onehot = tmp_path / "onehot.npz"
    np.savez(onehot, x_train=np.zeros((2, 3, 3), np.uint8), y_train=np.eye(2, dtype=np.float32),
             x_test=np.zeros((2, 3, 3), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(BadInputError, match="class indices"):
        data.load(onehot)


@needs_mnist
def test_shared_mnist_npz() -> None:
    ds = data.load(MNIST)
    assert ds.x_train.shape == (22699, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.num_classes == 10
    x = data.for_coreml(ds.x_test[:4], (1, 28, 28))
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(data.for_keras(ds.x_test[:4])[..., 0], x[:, 0])


def test_keras_loader_without_network_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    def offline():
        raise Exception("URL fetch failure: no network")  # what Keras' downloader raises
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(BadInputError, match=r"keras:mnist: Keras could not load 'mnist'.*Fix: .*pass --data"):
        data.load("keras:mnist")
    with pytest.raises(BadInputError, match="unknown Keras data set 'cifar'"):
        data.load("keras:cifar")


def test_layout_errors() -> None:
    images = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(BadInputError, match=r"do not fit the model input \(3, 28, 28\)"):
        data.for_coreml(images, (3, 28, 28))
    with pytest.raises(BadInputError, match="do not fit the Keras input"):
        data.for_keras(images, (10, 10, 1))
    assert data.for_coreml(images, (784,)).shape == (2, 784)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_idx() -> None:
    ds = data.load(FASHION)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.num_classes == 10 and np.bincount(ds.y_test).tolist() == [1000] * 10


def _npz(path: Path, **arrays) -> Path:
    base = {"x_train": np.zeros((2, 3, 3), np.uint8), "y_train": np.zeros(2, np.uint8),
            "x_test": np.zeros((2, 3, 3), np.uint8), "y_test": np.zeros(2, np.uint8)}
    base.update(arrays)
    np.savez(path, **base)
    return path


def test_inconsistent_arrays(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="x_train has 2 images but y_train has 3 labels"):
        data.load(_npz(tmp_path / "a.npz", y_train=np.zeros(3, np.uint8)))
    with pytest.raises(BadInputError, match=r"x_test has shape \(2, 9\); expected \(N, H, W\)"):
        data.load(_npz(tmp_path / "b.npz", x_test=np.zeros((2, 9), np.uint8)))
    with pytest.raises(BadInputError, match="x_test is empty"):
        data.load(_npz(tmp_path / "c.npz", x_test=np.zeros((0, 3, 3), np.uint8), y_test=np.zeros(0, np.uint8)))
    with pytest.raises(BadInputError, match=r"train images \(3, 3\) and test images \(4, 4\) differ in size"):
        data.load(_npz(tmp_path / "d.npz", x_test=np.zeros((2, 4, 4), np.uint8)))
    with pytest.raises(BadInputError, match="--limit must be positive"):
        data.load(_npz(tmp_path / "e.npz")).limit(0)


def test_idx_labels_must_be_vectors_and_header_complete(tmp_path: Path) -> None:
    _write_idx_folder(tmp_path / "set", gz=False)
    labels = tmp_path / "set" / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.zeros((12, 2), np.uint8)))
    with pytest.raises(BadInputError, match=r"holds an array of shape \(12, 2\), not labels"):
        data.load(tmp_path / "set")
    labels.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(BadInputError, match="truncated IDX header"):
        data.load(tmp_path / "set")
