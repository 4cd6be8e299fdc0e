"""Bad ONNX input: one clear message each, exit code 2 from the CLI, no partial output."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ground.errors import BadInputError, UnsupportedConfigError, UnsupportedLayerError, UnsupportedModelError

from .helpers import model, node, rand

IMG = [("x", [1, 3, 6, 6])]


def _read(source, **kw):
    from converter.onnx.reader import read_onnx

    return read_onnx(source, **kw)


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00\xffthis is not a protobuf" * 10)
    with pytest.raises(BadInputError, match="not an ONNX model file"):
        _read(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        _read(tmp_path / "nope.onnx")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(BadInputError, match="is a folder"):
        _read(tmp_path / "dir.onnx")


def test_checker_failure():
    m = model([node("Relu", ["x"], ["y"])], IMG, [("y", None)])
    m.graph.node[0].input[0] = "undefined_tensor"
    with pytest.raises(BadInputError, match="onnx.checker rejects the model"):
        _read(m)


def test_opset_outside_the_range():
    m = model([node("Relu", ["x"], ["y"])], IMG, [("y", None)], opset=10)
    with pytest.raises(UnsupportedModelError, match=r"opset 10 is outside the supported range 11\.\."):
        _read(m)


def _external_model(folder: Path, location: str) -> Path:
    import onnx
    from onnx import TensorProto

    m = model([node("MatMul", ["x", "w"], ["y"])], [("x", [1, 4])], [("y", None)], {"w": rand(4, 2)})
    w = m.graph.initializer[0]
    data = np.asarray(rand(4, 2), np.float32).tobytes()
    (folder / location).parent.mkdir(parents=True, exist_ok=True)
    (folder / location).write_bytes(data)
    w.ClearField("raw_data")
    del w.float_data[:]
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(data)))):
        entry = w.external_data.add()
        entry.key, entry.value = k, v
    path = folder / "m.onnx"
    path.write_bytes(m.SerializeToString())
    del onnx
    return path


def test_external_data_inside_the_folder_is_read(tmp_path):
    graph = _read(_external_model(tmp_path, "weights/w.bin"))
    layer = next(layer for layer in graph.layers if layer.kind == "MatMul")
    np.testing.assert_array_equal(layer.weights["w"], rand(4, 2))


@pytest.mark.parametrize("location", ["../outside.bin", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    inner = tmp_path / "model"
    inner.mkdir()
    with pytest.raises(BadInputError, match="outside the model's folder; it is not read"):
        _read(_external_model(inner, location))


def test_external_data_through_a_link_out_is_refused(tmp_path):
    inner = tmp_path / "model"
    inner.mkdir()
    path = _external_model(inner, "w.bin")
    secret = tmp_path / "secret.bin"
    (inner / "w.bin").rename(secret)
    os.symlink(secret, inner / "w.bin")
    with pytest.raises(BadInputError, match="outside the model's folder"):
        _read(path)


def test_dynamic_shape_is_named_and_fixable():
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["img"], ["y"])], "g",
                          [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    with pytest.raises(BadInputError, match=r"input 'img'.*axis 2, 3 is dynamic.*--input-shape img=3,N,N"):
        _read(m)
    graph = _read(m, input_shapes={"img": (3, 8, 8)})
    assert graph.inputs[0].shape == (3, 8, 8)
    assert m.graph.input[0].type.tensor_type.shape.dim[2].dim_param == "H"      # the caller's proto is unchanged
    with pytest.raises(BadInputError, match="does not fit the model's shape"):
        _read(m, input_shapes={"img": (4, 8, 8)})
    with pytest.raises(BadInputError, match="does not have"):
        _read(m, input_shapes={"other": (3, 8, 8)})


@pytest.mark.parametrize("items,match", [(["img"], "is not NAME=D1,D2"), (["img=3,x"], "is not NAME=D1,D2"),
                                         (["img=3,0,2"], "positive"), (["a=1", "a=2"], "twice")])
def test_parse_input_shapes_errors(items, match):
    from converter.onnx.shapes import parse_input_shapes

    with pytest.raises(BadInputError, match=match):
        parse_input_shapes(items)


def test_parse_input_shapes():
    from converter.onnx.shapes import parse_input_shapes

    assert parse_input_shapes(["image=1,28,28", "b = 4"]) == {"image": (1, 28, 28), "b": (4,)}


def test_unsupported_ops_are_listed_together():
    m = model([node("Erf", ["x"], ["a"]), node("Relu", ["a"], ["b"]), node("Cos", ["b"], ["y"])], IMG, [("y", None)])
    with pytest.raises(UnsupportedLayerError, match=r"2 unsupported layer\(s\):\n  - 'erf_a' \(Erf\): no mapper\n"
                                                   r"  - 'cos_y' \(Cos\): no mapper") as info:
        _read(m)
    assert "Supported: Add, AveragePool" in str(info.value) and "OnnxInput" not in str(info.value)


def test_batch_axis_moved_is_refused():
    m = model([node("Transpose", ["x"], ["y"], perm=[1, 0, 2, 3])], IMG, [("y", None)])
    with pytest.raises(UnsupportedConfigError, match="does not keep the batch on axis 0"):
        _read(m)


def test_cli_exit_code_2_and_no_output(tmp_path, capsys):
    import onnx

    from coreml_updatable.cli import main

    m = model([node("Erf", ["x"], ["y"])], IMG, [("y", None)])
    src = tmp_path / "bad.onnx"
    onnx.save(m, str(src))
    out = tmp_path / "bad.mlmodel"
    assert main(["convert", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'erf_y' (Erf): no mapper" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("*.mlmodel*"))
