"""The committed ONNX fixtures (Keras export, tf2onnx, PyTorch): conversion, forward parity against
onnxruntime, updatable layers, and training parity of the Keras-exported LeNet against its original."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ground.errors import CoreMLUpdatableError
from tests.shared_data import MNIST, needs_mnist

REPO = Path(__file__).resolve().parents[3]
FIX = REPO / "fixtures" / "onnx"
LENET = FIX / "lenet_keras.onnx"


def _mnist_test() -> np.ndarray:
    with np.load(MNIST) as d:
        return (d["x_test"].astype(np.float32) / 255.0)[..., None]


@pytest.mark.parametrize("name,shape", [("small_tf2onnx", (12, 12, 1)), ("torch_resnet", (1, 16, 16)),
                                        ("torch_mlp", (1, 8, 8)), ("lenet_keras", (28, 28, 1))])
def test_fixture_forward_parity(name, shape):
    from converter.convert import to_inference_spec
    from parity.onnx_forward import forward_parity

    path = FIX / f"{name}.onnx"
    spec, _, graph = to_inference_spec(str(path))
    x = np.random.RandomState(0).uniform(0, 1, (16,) + shape).astype(np.float32)
    figures = forward_parity(path, spec, graph, x)
    assert figures.passed and figures.max_abs <= 1e-5, figures.as_dict()


@needs_mnist
def test_lenet_from_keras_export_is_updatable_and_valid(tmp_path, capsys):
    from converter.convert import convert
    from coreml_updatable.cli import main
    from parity.onnx_forward import forward_parity

    result = convert(str(LENET))
    layers = result.spec.neuralNetwork.layers
    updatable = [layer.WhichOneof("layer") for layer in layers if layer.isUpdatable]
    assert updatable == ["convolution"] * 2 + ["innerProduct"] * 2
    kinds = [layer.WhichOneof("layer") for layer in layers]
    assert "reshape" not in kinds and "permute" not in kinds and kinds.count("flatten") == 1
    assert result.spec.description.input[0].type.multiArrayType.shape == [1, 28, 28]
    out = result.save(tmp_path / "lenet.mlmodel")
    assert main(["validate", str(out)]) == 0
    figures = forward_parity(LENET, result.spec, result.graph, _mnist_test())
    assert figures.examples == 10000 and figures.max_abs <= 1e-5


def test_cli_convert_onnx(tmp_path, capsys):
    from coreml_updatable.cli import main

    out = tmp_path / "m.mlmodel"
    assert main(["convert", str(FIX / "small_tf2onnx.onnx"), "-o", str(out), "--updatable", "last:2"]) == 0
    text = capsys.readouterr().out
    assert out.exists() and "ONNX has no trainable flags" in text and "small_1/probs_1/MatMul" in text


def test_resnet_default_policy_trains_what_the_loss_reaches():
    from converter.convert import convert
    from transforms.options import UpdateOptions

    result = convert(str(FIX / "torch_resnet.onnx"))
    assert [layer.name for layer in result.spec.neuralNetwork.layers if layer.isUpdatable] == ["/8/Gemm"]
    with pytest.raises(CoreMLUpdatableError, match="does not support backpropagation"):
        convert(str(FIX / "torch_resnet.onnx"), options=UpdateOptions(updatable="all"))


def test_log_softmax_head_trains_as_softmax_with_cross_entropy():
    import emulator
    import onnxruntime as ort
    from converter.convert import convert
    from parity.onnx_forward import to_coreml_input

    result = convert(str(FIX / "torch_mlp.onnx"))
    nn = result.spec.neuralNetwork
    assert [layer.name for layer in nn.layers if layer.isUpdatable]
    assert not any(layer.WhichOneof("layer") == "unary" for layer in nn.layers)
    assert any("not log-probabilities" in line for line in result.report.lines())
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(str(FIX / "torch_mlp.onnx"))
    log_probs = session.run(None, {session.get_inputs()[0].name: x})[0]
    model = emulator.load(result.spec)
    probs = next(iter(model.predict(to_coreml_input(x, result.graph)).values()))
    np.testing.assert_allclose(probs.reshape(len(probs), -1), np.exp(log_probs), atol=1e-6)   # (N, 1, K, 1, 1) as declared


@needs_mnist
def test_verify_onnx_without_reference_is_forward_only():
    import data_loading as D
    from parity.onnx_verify import verify_onnx

    ds = D.load(MNIST).limit(100)
    figures = verify_onnx(LENET, ds)
    assert figures.passed and figures.max_abs <= 1e-5
    assert any("needs a reference" in n for n in figures.notes)


@needs_mnist
def test_verify_onnx_against_the_keras_original(tmp_path):
    import data_loading as D
    from parity.onnx_verify import verify_onnx

    ds = D.load(MNIST)
    report = verify_onnx(LENET, ds, reference=REPO / "fixtures" / "lenet.keras", epochs=1, batch_size=32,
                         limit=320, report_dir=tmp_path)
    assert report.passed, report.table()
    names = [c.name for c in report.checks]
    assert names[0] == "forward vs onnxruntime" and "lockstep losses" in names
    assert (tmp_path / "report.json").exists()


def test_torch_export_on_the_fly(tmp_path):
    torch = pytest.importorskip("torch")
    from converter.convert import to_inference_spec
    from parity.onnx_forward import forward_parity

    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ELU(),
                              torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3), torch.nn.Softmax(1))
    net.eval()
    path = tmp_path / "t.onnx"
    torch.onnx.export(net, (torch.zeros(1, 2, 8, 8),), str(path), input_names=["x"], output_names=["p"],
                      dynamic_axes={"x": {0: "N"}, "p": {0: "N"}}, opset_version=17, dynamo=False)
    spec, _, graph = to_inference_spec(str(path))
    x = np.random.RandomState(1).normal(size=(5, 2, 8, 8)).astype(np.float32)
    assert forward_parity(path, spec, graph, x).max_abs <= 1e-5


# The default policy ('trainable': ONNX has no trainable flags, so the convolution/innerProduct layers the
# loss reaches through layers Core ML back-propagates through), pinned per fixture.
DEFAULT_UPDATABLE = {
    "lenet_keras": ["lenet_1/conv1_1/convolution", "lenet_1/conv2_1/convolution", "lenet_1/dense1_1/MatMul",
                    "lenet_1/probs_1/MatMul"],
    "small_tf2onnx": ["small_1/conv1_1/BiasAdd", "small_1/conv2_1/BiasAdd", "small_1/dense1_1/MatMul",
                      "small_1/probs_1/MatMul"],
    "torch_mlp": ["/5/Gemm"],          # Clip and LeakyRelu do not back-propagate in Core ML
    "torch_resnet": ["/8/Gemm"],       # the residual Add does not back-propagate in Core ML
}


@pytest.mark.parametrize("name", sorted(DEFAULT_UPDATABLE))
def test_fixture_default_updatable_layers(name):
    from converter.convert import convert

    result = convert(str(FIX / f"{name}.onnx"))
    layers = result.spec.neuralNetwork.layers
    assert [layer.name for layer in layers if layer.isUpdatable] == DEFAULT_UPDATABLE[name]
    weighted = [layer.name for layer in layers if layer.WhichOneof("layer") in ("convolution", "innerProduct")]
    assert sorted(result.facts.trainable_layers) == sorted(weighted)      # ONNX: every weighted layer
    frozen = {e.subject for e in result.report.entries if e.stage == "mark_updatable" and "frozen by policy" in e.reason}
    assert frozen == set(weighted) - set(DEFAULT_UPDATABLE[name])
