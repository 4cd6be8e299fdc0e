"""Names from files (layers, inputs, outputs, nodes, labels, paths) shown safely: control characters
escaped in text, JSON still JSON (and the name intact in it)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ground.safe_text import SafeStream, escape_controls, shown

from .conftest import refused, run_cli, snapshot, tiny_spec

EVIL = "\x1b[2J\x1b[Hall checks passed\x07\u202e"
SHOWN = "\\x1b[2J\\x1b[Hall checks passed\\x07\\u202e"


def _evil_model(work: Path, *, break_it: bool = False) -> Path:
    spec = tiny_spec()
    nn = spec.neuralNetwork
    nn.layers[0].name = EVIL
    if break_it:                                  # the evil layer reads a blob nobody produces
        nn.layers[0].input[0] = EVIL + "-blob"
    path = work / "evil.mlmodel"
    path.write_bytes(spec.SerializeToString())
    return path


def _clean(result) -> None:
    assert "\x1b" not in result.text and "\x07" not in result.text and "\u202e" not in result.text


def test_shown_and_escape_controls():
    assert shown(EVIL) == SHOWN
    assert shown("a\nb\rc") == "a\\x0ab\\x0dc"
    assert escape_controls("line1\nline2\x1b[0m\t") == "line1\nline2\\x1b[0m\t"
    assert shown("Dense_1/ünïcode ok") == "Dense_1/ünïcode ok"


def test_safe_stream_keeps_a_progress_bars_carriage_return():
    class Sink:
        text = ""

        def write(self, t):
            self.text += t

    stream = SafeStream(Sink())
    stream.write("\rtraining 50%|#####")
    assert not stream.at_line_start
    stream.write(f"name {EVIL}\r\n")
    assert stream._stream.text == f"\rtraining 50%|#####name {SHOWN}\\x0d\n"
    assert stream.at_line_start


def test_inspect_text_escapes_layer_names(capsys, work):
    model = _evil_model(work)
    before = snapshot(work)
    result = run_cli(capsys, "inspect", model)
    assert result.rc == 0 and SHOWN.split("\\x07")[0] in result.out
    _clean(result)
    assert snapshot(work) == before


def test_inspect_json_stays_json_with_the_name_intact(capsys, work):
    result = run_cli(capsys, "inspect", _evil_model(work), "--json")
    assert result.rc == 0
    _clean(result)
    assert EVIL in [layer["name"] for layer in json.loads(result.out)["layers"]]


def test_validate_text_escapes_names_in_rule_messages(capsys, work):
    result = refused(capsys, work, "validate", _evil_model(work, break_it=True), rc=1,
                     match=["[rule 4]", "\\x1b[2J\\x1b[Hall checks passed"])
    _clean(result)


def test_validate_json_keeps_the_name(capsys, work):
    result = refused(capsys, work, "validate", _evil_model(work, break_it=True), "--json", rc=1, match='"valid": false')
    _clean(result)
    assert any(EVIL in v["message"] for v in json.loads(result.out)["violations"])


def test_errors_escape_input_names(capsys, work):
    spec = tiny_spec()
    spec.description.input[0].name = EVIL
    spec.neuralNetwork.layers[0].input[0] = EVIL
    (work / "evil_input.mlmodel").write_bytes(spec.SerializeToString())
    np.save(work / "wrong.npy", np.zeros((2, 3), np.float32))
    result = refused(capsys, work, "predict", work / "evil_input.mlmodel", "--input", work / "wrong.npy",
                     "-o", work / "y.npy", match=["has shape (2, 3)", "\\x1b[2J"])
    _clean(result)


def test_errors_escape_file_names(capsys, work):
    result = refused(capsys, work, "inspect", work / f"{EVIL}.mlmodel", match=["no such file", "\\x1b[2J"])
    _clean(result)


def test_train_report_escapes_the_data_path(capsys, work):
    evil_folder = work / "data\x1b[31m"
    evil_folder.mkdir()
    (evil_folder / "d.npz").write_bytes((work / "data.npz").read_bytes())
    result = run_cli(capsys, "train", work / "model.mlmodel", "--data", evil_folder / "d.npz", "-o", work / "t.mlmodel",
                     "--no-progress")
    assert result.rc == 0 and "data\\x1b[31m" in result.out
    _clean(result)


def test_unsupported_layer_message_escapes_its_name(capsys, work):
    spec = tiny_spec()
    layer = spec.neuralNetwork.layers[0]
    layer.name = EVIL
    layer.ClearField("flatten")
    layer.cumSum.SetInParent()                    # a layer type the runtime has no implementation for
    (work / "crop.mlmodel").write_bytes(spec.SerializeToString())
    result = refused(capsys, work, "predict", work / "crop.mlmodel", "--input", work / "x.npy", "-o", work / "y.npy",
                     match=["unsupported layer", "\\x1b[2J"])
    _clean(result)


def _evil_onnx(work: Path) -> Path:
    import onnx

    from fixtures import onnx as onnx_fixtures

    model = onnx.load(str(Path(onnx_fixtures.__file__).parent / "torch_mlp.onnx"))
    for node in model.graph.node:
        node.name = EVIL + node.name
    path = work / "evil.onnx"
    onnx.save(model, str(path))
    return path


def test_conversion_report_escapes_node_names(capsys, work):
    source = _evil_onnx(work)
    result = run_cli(capsys, "convert", source, "-o", work / "out.mlmodel")
    assert result.rc == 0, result.text
    assert "\\x1b[2J" in result.out
    _clean(result)


def test_conversion_json_report_stays_json(capsys, work):
    result = run_cli(capsys, "convert", _evil_onnx(work), "-o", work / "out.mlmodel", "--json-report")
    assert result.rc == 0, result.text
    _clean(result)
    assert any(EVIL in text for text in _strings(json.loads(result.out)))


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def test_class_labels_are_escaped_where_printed(capsys, work):
    (work / "labels.txt").write_text("\n".join(f"{EVIL}{i}" for i in range(10)), encoding="utf-8")
    result = run_cli(capsys, "convert", _evil_onnx(work), "-o", work / "out.mlmodel", "--class-labels",
                     work / "labels.txt")
    assert result.rc == 0, result.text
    _clean(result)
