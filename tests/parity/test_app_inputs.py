"""verify with inputs and labels as an app has them: an image-input LeNet trained from a folder of MNIST
PNGs (written here from the shared MNIST, never committed), and the converted LeNet trained through its
declared class-label input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coreml_updatable.cli import main

from .nets import MNIST

LENET = Path(__file__).resolve().parents[2] / "fixtures" / "lenet.keras"


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory, mnist) -> Path:
    """DIR/train/<digit>/*.png (640 images) and DIR/test/<digit>/*.png (200), as Create ML takes them."""
    from PIL import Image

    root = tmp_path_factory.mktemp("mnist_png")
    for split, x, y, n in (("train", mnist.x_train, mnist.y_train, 640), ("test", mnist.x_test, mnist.y_test, 200)):
        for i in range(n):
            folder = root / split / str(int(y[i]))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).save(folder / f"{i:05d}.png")
    return root


def _verify(tmp_path: Path, capsys, *args: str) -> dict:
    code = main(["verify", str(LENET), "--epochs", "1", "--batch-size", "32", "--no-progress",
                 "--report", str(tmp_path / "rep"), *args])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED" in out
    return json.loads((tmp_path / "rep" / "report.json").read_text())


def test_image_input_lenet_trained_from_png_folder(tmp_path, capsys, png_folder):
    report = _verify(tmp_path, capsys, "--data", str(png_folder), "--image-input", "image:gray",
                     "--image-scale", "0.00392156862745098")
    assert (report["n_train"], report["n_test"]) == (640, 200)
    assert report["forward_max_abs"] <= 1e-5
    assert any("0-255 pixels" in note for note in report["notes"])


def test_lenet_trained_through_its_class_label_input(tmp_path, capsys):
    report = _verify(tmp_path, capsys, "--data", str(MNIST), "--limit", "640",
                     "--class-labels", ",".join(map(str, range(10))))
    assert any("class-label input 'classLabel' (int64)" in note for note in report["notes"])
    assert abs(report["keras"]["test_accuracy"] - report["coreml"]["test_accuracy"]) <= 0.01


def test_image_folder_train_evaluate_predict(tmp_path, capsys, png_folder):
    model = tmp_path / "lenet.mlmodel"
    assert main(["convert", str(LENET), "-o", str(model), "--image-input", "image:gray",
                 "--image-scale", "0.00392156862745098", "--class-labels", ",".join(map(str, range(10)))]) == 0
    capsys.readouterr()
    trained = tmp_path / "trained.mlmodel"
    assert main(["train", str(model), "--data", str(png_folder / "train"), "-o", str(trained), "--epochs", "1",
                 "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["train_examples"] == 640
    assert main(["evaluate", str(trained), "--data", str(png_folder), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == 200 and result["accuracy"] > 0.3
    assert main(["predict", str(trained), "--input", str(png_folder / "test" / "7"), "-o",
                 str(tmp_path / "p.npy")]) == 0
    out = capsys.readouterr().out
    files = sorted(p.name for p in (png_folder / "test" / "7").iterdir())
    assert out.splitlines()[0].startswith(files[0] + ": ")
    probs = np.load(tmp_path / "p.npy")
    assert probs.shape == (len(files), 10)
