"""Shared ground of the bad-input suite: a tiny updatable image classifier, a tiny data set, the CLI run
in-process, and a snapshot of the working folder to prove that nothing was written or changed."""
from __future__ import annotations

import contextlib
import functools
import io
import traceback
from pathlib import Path

import numpy as np
import pytest

from coreml_updatable.cli import main


def tiny_builder(*, updatable: bool = True, classes: int = 3, shape=(1, 4, 4)):
    """image (1, 4, 4) -> flatten -> dense 3 -> softmax; the dense layer updatable (CCE, SGD)."""
    from ground.protos import coremltools  # noqa: F401  (quiet import first)
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder, SgdParams

    rng = np.random.default_rng(0)
    n = int(np.prod(shape))
    b = NeuralNetworkBuilder([("image", datatypes.Array(*shape))], [("probs", datatypes.Array(classes))])
    b.add_flatten("flat", 0, "image", "f")
    b.add_inner_product("dense", rng.normal(0, 0.1, (classes, n)).astype(np.float32), np.zeros(classes, np.float32),
                        n, classes, True, "f", "logits")
    b.add_softmax("sm", "logits", "probs")
    if updatable:
        b.make_updatable(["dense"])
        b.set_categorical_cross_entropy_loss(name="loss", input="probs")
        b.set_sgd_optimizer(SgdParams(lr=0.01, batch=4))
        b.set_epochs(1)
    return b


def tiny_spec(**kw):
    """The tiny model's spec (a fresh copy; coremltools' builder chatter kept off stdout)."""
    from ground.protos import Model_pb2

    spec = Model_pb2.Model()
    spec.ParseFromString(_tiny_bytes(tuple(sorted(kw.items()))))
    return spec


@functools.lru_cache(maxsize=8)
def _tiny_bytes(kw: tuple) -> bytes:
    with contextlib.redirect_stdout(io.StringIO()):
        return tiny_builder(**dict(kw)).spec.SerializeToString()


def tiny_data(n: int = 12, *, classes: int = 3, dtype=np.uint8, **override) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.integers(0, 256, (n, 4, 4)).astype(dtype), "y_train": rng.integers(0, classes, n),
              "x_test": rng.integers(0, 256, (n, 4, 4)).astype(dtype), "y_test": rng.integers(0, classes, n)}
    arrays.update(override)
    return arrays


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder with model.mlmodel (tiny updatable classifier), data.npz and x.npy (a 0-1 float batch)."""
    (tmp_path / "model.mlmodel").write_bytes(tiny_spec().SerializeToString())
    np.savez(tmp_path / "data.npz", **tiny_data())
    np.save(tmp_path / "x.npy", np.random.default_rng(2).random((5, 1, 4, 4), dtype=np.float32))
    return tmp_path


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``folder`` (relative path -> size, mtime, inode): what a command wrote or changed
    (an atomic replacement changes the inode). Files are not opened, so unreadable ones count too."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


class Result:
    def __init__(self, rc: int, out: str, err: str) -> None:
        self.rc, self.out, self.err = rc, out, err

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(capsys, *args) -> Result:
    """``coreml-updatable ARGS`` in-process: exit status, stdout, stderr; an escaping exception fails."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:          # argparse's refusals
        rc = exc.code if isinstance(exc.code, int) else 2
    except BaseException:              # a traceback is what this suite exists to rule out
        pytest.fail("the command ended in a traceback:\n" + traceback.format_exc())
    captured = capsys.readouterr()
    result = Result(rc, captured.out, captured.err)
    assert "Traceback" not in result.text
    return result


def refused(capsys, folder: Path, *args, rc: int = 2, match: str | list[str]) -> Result:
    """Run a command that must be refused: exit ``rc``, each ``match`` in its message, nothing in
    ``folder`` written or changed."""
    before = snapshot(folder)
    result = run_cli(capsys, *args)
    assert result.rc == rc, f"exit {result.rc}, expected {rc}:\n{result.text}"
    for text in [match] if isinstance(match, str) else match:
        assert text in result.text, f"{text!r} not in:\n{result.text}"
    assert snapshot(folder) == before, "the command wrote or changed files"
    return result


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
