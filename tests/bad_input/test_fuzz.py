"""Fuzz: truncated and mutated .mlmodel, .keras, .onnx and .npz bytes through the commands that read them;
no command may end in a traceback (or an exit status other than 0, 1, 2).

Bounded in time for CI (a fixed, derandomized sequence of 810 inputs, about 30 s on a quiet machine). For a longer random hunt:
``FUZZ_SCALE=20 FUZZ_RANDOM=1 python -m pytest tests/bad_input/test_fuzz.py -s``.
"""
from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import run_cli, tiny_data, tiny_spec

ROOT = Path(__file__).resolve().parents[2]
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
TRIED: dict[str, int] = {}


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **tiny_data(8))
    return buffer.getvalue()


def _keras_config() -> bytes:
    with zipfile.ZipFile(ROOT / "fixtures" / "branches.keras") as zf:
        return zf.read("config.json")


def _rezip_config(config: bytes, path: Path) -> None:
    """branches.keras with its config.json replaced (so mutations reach Keras, not only the zip's CRCs)."""
    with zipfile.ZipFile(ROOT / "fixtures" / "branches.keras") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, config if info.filename == "config.json" else src.read(info))


SEEDS = {
    "mlmodel": lambda: tiny_spec().SerializeToString(),
    "npz": _npz_bytes,
    "onnx": lambda: (ROOT / "fixtures" / "onnx" / "torch_mlp.onnx").read_bytes(),
    "keras": lambda: (ROOT / "fixtures" / "branches.keras").read_bytes(),
    "keras-config": _keras_config,
}
EXAMPLES = {"mlmodel": 200, "npz": 200, "onnx": 150, "keras": 100, "keras-config": 40}


def mutations(size: int):
    """A truncation, a few overwritten bytes, a few inserted or deleted runs, or a repeated chunk."""
    pos = st.integers(0, max(size - 1, 0))
    return st.one_of(
        st.tuples(st.just("truncate"), st.integers(0, size)),
        st.tuples(st.just("overwrite"), st.lists(st.tuples(pos, st.integers(0, 255)), min_size=1, max_size=6)),
        st.tuples(st.just("insert"), st.lists(st.tuples(pos, st.binary(min_size=1, max_size=8)), min_size=1,
                                              max_size=3)),
        st.tuples(st.just("delete"), st.lists(st.tuples(pos, st.integers(1, 16)), min_size=1, max_size=3)),
        st.tuples(st.just("repeat"), st.tuples(pos, st.integers(1, 64), st.integers(2, 50))),
    )


def mutate(data: bytes, mutation) -> bytes:
    kind, arg = mutation
    out = bytearray(data)
    if kind == "truncate":
        return bytes(out[:arg])
    if kind == "overwrite":
        for at, value in arg:
            out[at] = value
    elif kind == "insert":
        for at, chunk in sorted(arg, reverse=True):
            out[at:at] = chunk
    elif kind == "delete":
        for at, n in sorted(arg, reverse=True):
            del out[at:at + n]
    elif kind == "repeat":
        at, n, times = arg
        out[at:at] = bytes(out[at:at + n]) * times
    return bytes(out)


def _commands(kind: str, path: Path, folder: Path) -> list[list]:
    model = folder / "model.mlmodel"
    if kind == "mlmodel":
        return [["inspect", path], ["validate", path],
                ["predict", path, "--input", folder / "x.npy", "-o", folder / "y.npy", "--force"]]
    if kind == "npz":
        return [["evaluate", model, "--data", path]]
    return [["convert", path, "-o", folder / "out.mlmodel", "--force"]]


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        base = Path(name)
        (base / "model.mlmodel").write_bytes(tiny_spec().SerializeToString())
        np.save(base / "x.npy", np.random.default_rng(2).random((3, 1, 4, 4), dtype=np.float32))
        yield base
    if TRIED:
        print("\nfuzz inputs tried:", TRIED)


@pytest.mark.parametrize("kind", list(SEEDS))
def test_no_command_ends_in_a_traceback(kind, folder, capsys):
    seed = SEEDS[kind]()
    suffix = {"mlmodel": ".mlmodel", "npz": ".npz", "onnx": ".onnx", "keras": ".keras", "keras-config": ".keras"}[kind]
    start = time.perf_counter()

    @settings(max_examples=max(1, int(EXAMPLES[kind] * SCALE)), deadline=None, database=None,
              derandomize=not os.environ.get("FUZZ_RANDOM"),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutations(len(seed)))
    def check(mutation):
        path = folder / f"fuzzed{suffix}"
        if kind == "keras-config":
            _rezip_config(mutate(seed, mutation), path)
        else:
            path.write_bytes(mutate(seed, mutation))
        TRIED[kind] = TRIED.get(kind, 0) + 1
        for args in _commands(kind, path, folder):
            result = run_cli(capsys, *args)
            assert result.rc in (0, 1, 2), f"{args[0]} exited {result.rc} on {mutation}:\n{result.text}"
            if result.rc == 2:
                assert "error: " in result.err, result.text
    check()
    with capsys.disabled():
        print(f"\nfuzz {kind}: {TRIED.get(kind, 0)} inputs in {time.perf_counter() - start:.1f} s")


def _edits():
    """Field-level edits of the tiny model's spec: what byte flips rarely reach (shapes, sizes, names)."""
    small = st.integers(0, 70)
    return st.lists(st.one_of(
        st.tuples(st.just("input_shape"), st.lists(small, min_size=0, max_size=4)),
        st.tuples(st.just("weights"), st.integers(0, 60)),
        st.tuples(st.just("channels"), small, small),
        st.tuples(st.just("rewire"), st.integers(0, 2), st.sampled_from(["image", "f", "logits", "probs", "x"])),
        st.tuples(st.just("drop_layer"), st.integers(0, 2)),
        st.tuples(st.just("batch"), st.integers(0, 10**6)),
        st.tuples(st.just("epochs"), st.integers(0, 5)),
        st.tuples(st.just("target"), st.sampled_from(["probs_true", "image", "", "zz"])),
        st.tuples(st.just("updatable"), st.integers(0, 2), st.booleans()),
        st.tuples(st.just("output_shape"), st.lists(small, min_size=0, max_size=3)),
    ), min_size=1, max_size=3)


def _edit(spec, edit) -> None:
    nn = spec.neuralNetwork
    kind = edit[0]
    if kind == "input_shape":
        arr = spec.description.input[0].type.multiArrayType
        del arr.shape[:]
        arr.shape.extend(edit[1])
    elif kind == "weights":
        dense = next((l for l in nn.layers if l.WhichOneof("layer") == "innerProduct"), None)
        if dense is not None:
            del dense.innerProduct.weights.floatValue[edit[1]:]
    elif kind == "channels":
        dense = next((l for l in nn.layers if l.WhichOneof("layer") == "innerProduct"), None)
        if dense is not None:
            dense.innerProduct.inputChannels, dense.innerProduct.outputChannels = edit[1], edit[2]
    elif kind == "rewire" and edit[1] < len(nn.layers):
        nn.layers[edit[1]].input[0] = edit[2]
    elif kind == "drop_layer" and edit[1] < len(nn.layers):
        del nn.layers[edit[1]]
    elif kind == "batch":
        nn.updateParams.optimizer.sgdOptimizer.miniBatchSize.defaultValue = edit[1]
    elif kind == "epochs":
        nn.updateParams.epochs.defaultValue = edit[1]
    elif kind == "target" and nn.updateParams.lossLayers:
        nn.updateParams.lossLayers[0].categoricalCrossEntropyLossLayer.target = edit[1]
    elif kind == "updatable" and edit[1] < len(nn.layers):
        nn.layers[edit[1]].isUpdatable = edit[2]
    elif kind == "output_shape":
        arr = spec.description.output[0].type.multiArrayType
        del arr.shape[:]
        arr.shape.extend(edit[1])


def test_no_command_ends_in_a_traceback_on_edited_fields(folder, capsys):
    import numpy as np

    np.savez(folder / "data.npz", **tiny_data(8))
    start = time.perf_counter()

    @settings(max_examples=max(1, int(120 * SCALE)), deadline=None, database=None,
              derandomize=not os.environ.get("FUZZ_RANDOM"), suppress_health_check=[HealthCheck.too_slow])
    @given(_edits())
    def check(edits):
        spec = tiny_spec()
        for edit in edits:
            _edit(spec, edit)
        path = folder / "edited.mlmodel"
        path.write_bytes(spec.SerializeToString())
        TRIED["fields"] = TRIED.get("fields", 0) + 1
        for args in (["inspect", path], ["validate", path],
                     ["predict", path, "--input", folder / "x.npy", "-o", folder / "y.npy", "--force"],
                     ["train", path, "--data", folder / "data.npz", "-o", folder / "t.mlmodel", "--force",
                      "--no-progress"]):
            result = run_cli(capsys, *args)
            assert result.rc in (0, 1, 2), f"{args[0]} exited {result.rc} on {edits}:\n{result.text}"
    check()
    with capsys.disabled():
        print(f"\nfuzz fields: {TRIED.get('fields', 0)} inputs in {time.perf_counter() - start:.1f} s")
