"""Reading a device's compiled model: the espresso files, their checks, and import into an .mlmodel."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from ground.errors import BadInputError, UnsupportedLayerError
from emulator.mlmodelc import import_weights, read_blobs, read_trained_weights

from .nets import dense_mse, weights_of

RNG = np.random.default_rng(7)


def write_compiled(folder: Path, layers: list[dict], blobs: dict[int, np.ndarray]) -> Path:
    """An .mlmodelc folder with the two espresso files, laid out as a device writes them."""
    folder.mkdir()
    (folder / "model.espresso.net").write_text(json.dumps({"storage": "model.espresso.weights",
                                                           "format_version": 200, "layers": layers}))
    table = sorted((i, np.asarray(a, "<f4")) for i, a in blobs.items())
    data = struct.pack("<Q", len(table)) + b"".join(struct.pack("<QQ", i, a.nbytes) for i, a in table)
    data += b"".join(a.tobytes() for _, a in table)
    (folder / "model.espresso.weights").write_bytes(data)
    return folder


def dense_layer(name: str, n_in: int, n_out: int, w_blob: int, b_blob: int) -> dict:
    return {"type": "inner_product", "name": name, "nB": n_in, "nC": n_out, "has_biases": 1,
            "blob_weights": w_blob, "blob_biases": b_blob, "has_relu": 0, "bottom": "x", "top": "y"}


def test_inner_product_weights_are_read_in_core_ml_layout(tmp_path):
    w, b = RNG.normal(size=(3, 5)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
    folder = write_compiled(tmp_path / "m.mlmodelc", [dense_layer("fc", 5, 3, 3, 1)],
                            {0: np.zeros(14), 1: b, 2: np.zeros(0), 3: w})
    trained = read_trained_weights(folder)
    assert list(trained) == ["fc"]
    np.testing.assert_array_equal(trained["fc"].weights, w)
    np.testing.assert_array_equal(trained["fc"].bias, b)


def test_a_blob_table_that_does_not_add_up_is_refused(tmp_path):
    folder = write_compiled(tmp_path / "m.mlmodelc", [], {1: np.ones(4)})
    path = folder / "model.espresso.weights"
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(BadInputError, match="blob table sums to 40 bytes but the file has 36"):
        read_blobs(path)


def test_a_blob_of_the_wrong_size_is_refused_by_name(tmp_path):
    folder = write_compiled(tmp_path / "m.mlmodelc", [dense_layer("fc", 5, 3, 3, 1)],
                            {1: np.ones(3), 3: np.ones(14)})
    with pytest.raises(BadInputError, match="layer 'fc': its weights blob 3 holds 14 floats, expected 15"):
        read_trained_weights(folder)


def test_convolution_is_refused_with_the_reason(tmp_path):
    conv = {"type": "convolution", "name": "conv1", "blob_weights": 1}
    folder = write_compiled(tmp_path / "m.mlmodelc", [conv, dense_layer("fc", 5, 3, 3, 2)],
                            {1: np.ones(9), 2: np.ones(3), 3: np.ones(15)})
    with pytest.raises(UnsupportedLayerError, match=r"'conv1' \(convolution\): the layout of convolution kernels"):
        read_trained_weights(folder)


def test_a_folder_without_espresso_files_is_refused(tmp_path):
    with pytest.raises(BadInputError, match="has no model.espresso.net and model.espresso.weights"):
        read_trained_weights(tmp_path)


def test_a_compressed_net_is_refused(tmp_path):
    folder = write_compiled(tmp_path / "m.mlmodelc", [], {})
    (folder / "model.espresso.net").write_bytes(b"bvx2\x00\xff")
    with pytest.raises(BadInputError, match="is not JSON"):
        read_trained_weights(folder)


def test_import_copies_weights_and_keeps_everything_else(tmp_path):
    w0, b0 = RNG.normal(size=(3, 5)).astype(np.float32), np.zeros(3, np.float32)
    spec = dense_mse(w0, b0, optimizer="sgd", lr=0.05, batch=2)
    w, b = RNG.normal(size=(3, 5)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
    folder = write_compiled(tmp_path / "m.mlmodelc", [dense_layer("fc", 5, 3, 3, 1)], {1: b, 3: w})
    new, copied = import_weights(spec, read_trained_weights(folder))
    assert copied == ["fc"]
    got_w, got_b = weights_of(new, "fc")
    np.testing.assert_array_equal(got_w.reshape(3, 5), w)
    np.testing.assert_array_equal(got_b, b)
    assert new.neuralNetwork.updateParams == spec.neuralNetwork.updateParams and new.isUpdatable
    np.testing.assert_array_equal(weights_of(spec, "fc")[0].reshape(3, 5), w0)     # the input is untouched


def test_import_lists_every_mismatch(tmp_path):
    spec = dense_mse(np.zeros((3, 5), np.float32), np.zeros(3, np.float32), optimizer="sgd", lr=0.05, batch=2)
    layers = [dense_layer("fc", 4, 3, 3, 1), dense_layer("other", 5, 3, 5, 4)]
    folder = write_compiled(tmp_path / "m.mlmodelc", layers, {1: np.ones(3), 3: np.ones(12), 4: np.ones(3),
                                                              5: np.ones(15)})
    with pytest.raises(BadInputError) as err:
        import_weights(spec, read_trained_weights(folder))
    message = str(err.value)
    assert "'fc': the compiled model holds 3x4 weights and a bias, the .mlmodel 3x5 and a bias" in message
    assert "'other': the compiled model's innerProduct layer is not in the .mlmodel" in message
    assert "'fc': updatable in the .mlmodel but absent" not in message
