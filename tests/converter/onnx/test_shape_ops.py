"""Layout ops (vanishing, flatten, permute, reshape), arithmetic, Concat, Pad, Resize, constant folding."""
from __future__ import annotations

import numpy as np
import pytest

from .helpers import check, kinds, model, node, rand

X = rand(2, 3, 4, 5)
IMG = [("x", [1, 3, 4, 5])]


def test_flatten_is_a_channel_first_flatten():
    m = model([node("Flatten", ["x"], ["y"], axis=1)], IMG, [("y", None)])
    assert kinds(check(m, X)) == ["flatten"]


def test_reshape_to_vector_and_back():
    m = model([node("Reshape", ["x", "s"], ["v"]), node("Reshape", ["v", "t"], ["y"])], IMG, [("y", None)],
              {"s": np.array([-1, 60], np.int64), "t": np.array([0, 6, 2, 5], np.int64)})
    check(m, X)


@pytest.mark.parametrize("perm", [[0, 2, 3, 1], [0, 1, 3, 2], [0, 3, 2, 1]])
def test_transpose_alone_is_free_inside_and_canonical_at_the_output(perm):
    m = model([node("Transpose", ["x"], ["t"], perm=perm), node("Relu", ["t"], ["y"])], IMG, [("y", None)])
    spec = check(m, X)
    assert kinds(spec) == ["activation", "permute"]   # the relu runs in place; one permute at the output


def test_transpose_pair_vanishes():
    m = model([node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), node("Relu", ["t"], ["r"]),
               node("Transpose", ["r"], ["y"], perm=[0, 3, 1, 2])], IMG, [("y", None)])
    assert kinds(check(m, X)) == ["activation"]


def test_transpose_then_flatten_before_matmul_becomes_flatten_channel_last():
    m = model([node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), node("Flatten", ["t"], ["f"]),
               node("MatMul", ["f", "w"], ["y"])], IMG, [("y", None)], {"w": rand(60, 4, seed=1)})
    spec = check(m, X)
    assert kinds(spec) == ["flatten", "innerProduct"] and spec.neuralNetwork.layers[0].flatten.mode == 1


def test_transpose_before_conv_is_a_permute():
    m = model([node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
               node("Conv", ["t", "w"], ["y"], kernel_shape=[1, 1])], IMG, [("y", None)], {"w": rand(2, 3, 1, 1)})
    assert kinds(check(m, X)) == ["permute", "convolution"]


def test_squeeze_unsqueeze_after_global_pool():
    m = model([node("GlobalAveragePool", ["x"], ["p"]), node("Squeeze", ["p", "ax"], ["s"]),
               node("Unsqueeze", ["s", "ax2"], ["u"]), node("Flatten", ["u"], ["y"])], IMG, [("y", None)],
              {"ax": np.array([2, 3], np.int64), "ax2": np.array([2], np.int64)})
    assert kinds(check(m, X)) == ["pooling"]


def test_opset_11_squeeze_attribute():
    m = model([node("GlobalMaxPool", ["x"], ["p"]), node("Squeeze", ["p"], ["y"], axes=[2, 3])], IMG,
              [("y", None)], opset=11)
    check(m, X)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("shape", [(), (1,), (3, 1, 1), (1, 3, 1, 1), (4, 5), (3, 4, 5), (1, 1, 5)])
@pytest.mark.parametrize("const_first", [False, True])
def test_arithmetic_with_a_constant(op, shape, const_first):
    c = rand(*shape, seed=3, lo=0.5) if shape else np.array(1.7, np.float32)
    ins = ["c", "x"] if const_first else ["x", "c"]
    m = model([node(op, ins, ["y"])], IMG, [("y", None)], {"c": c})
    x = rand(2, 3, 4, 5, lo=0.5) if op == "Div" and const_first else X
    check(m, x)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("second", [(1, 3, 4, 5), (1, 3, 1, 1)])
def test_arithmetic_on_two_tensors(op, second):
    nodes = [node("Relu", ["x"], ["a"]), node("GlobalAveragePool", ["x"], ["g"]) if second[2] == 1 else
             node("Sigmoid", ["x"], ["g"]), node("Add", ["g", "one"], ["b"]), node(op, ["a", "b"], ["y"])]
    m = model(nodes, IMG, [("y", None)], {"one": np.array(1.5, np.float32)})
    check(m, X)


def test_add_of_differently_laid_out_tensors():
    m = model([node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]), node("Transpose", ["t"], ["u"], perm=[0, 1, 3, 2]),
               node("Relu", ["t"], ["r"]), node("Transpose", ["r"], ["v"], perm=[0, 1, 3, 2]),
               node("Add", ["x", "v"], ["y"])], IMG, [("y", None)])
    check(m, X)


def test_concat_on_channels():
    nodes = [node("Relu", ["x"], ["a"]), node("Sigmoid", ["x"], ["b"]), node("Concat", ["a", "b", "x"], ["y"], axis=1)]
    m = model(nodes, IMG, [("y", None)])
    assert kinds(check(m, X))[-1] == "concat"


def test_concat_on_width_is_refused():
    from converter.convert import to_inference_spec
    from ground.errors import UnsupportedConfigError

    m = model([node("Relu", ["x"], ["a"]), node("Concat", ["a", "x"], ["y"], axis=3)], IMG, [("y", None)])
    with pytest.raises(UnsupportedConfigError, match="not the Core ML channel axis"):
        to_inference_spec(m)


@pytest.mark.parametrize("mode,value", [("constant", 0.0), ("constant", 2.5), ("reflect", None), ("edge", None)])
def test_pad(mode, value):
    inits = {"p": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)}
    ins = ["x", "p"]
    if value is not None:
        inits["v"] = np.array(value, np.float32)
        ins.append("v")
    m = model([node("Pad", ins, ["y"], mode=mode)], IMG, [("y", None)], inits)
    assert kinds(check(m, X)) == ["padding"]


def test_pad_with_axes_input_opset_18():
    m = model([node("Pad", ["x", "p", "", "a"], ["y"])], IMG, [("y", None)],
              {"p": np.array([1, 2, 0, 1], np.int64), "a": np.array([2, 3], np.int64)}, opset=18)
    check(m, X)


@pytest.mark.parametrize("coord,nearest", [("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"),
                                           ("pytorch_half_pixel", "round_prefer_ceil")])
@pytest.mark.parametrize("use_sizes", [False, True])
def test_resize_nearest(coord, nearest, use_sizes):
    inits = {"s": np.array([1, 1, 2, 3], np.float32)} if not use_sizes else {"z": np.array([1, 3, 8, 15], np.int64)}
    ins = ["x", "", "s"] if not use_sizes else ["x", "", "", "z"]
    m = model([node("Resize", ins, ["y"], mode="nearest", coordinate_transformation_mode=coord,
                    nearest_mode=nearest)], IMG, [("y", None)], inits)
    assert kinds(check(m, X[:1] if use_sizes else X)) == ["upsample"]


@pytest.mark.parametrize("coord", ["half_pixel", "align_corners"])
def test_resize_linear(coord):
    m = model([node("Resize", ["x", "", "s"], ["y"], mode="linear", coordinate_transformation_mode=coord)], IMG,
              [("y", None)], {"s": np.array([1, 1, 2, 2], np.float32)})
    check(m, X)


@pytest.mark.parametrize("scales,attrs,match", [
    ([1, 1, 1.5, 2], {}, "whole-number"), ([1, 2, 2, 2], {}, "only the H and W"),
    ([1, 1, 3, 3], {"coordinate_transformation_mode": "asymmetric"}, "does not repeat pixels"),
    ([1, 1, 3, 3], {"coordinate_transformation_mode": "align_corners"}, "does not repeat pixels"),
    ([1, 1, 2, 2], {"mode": "cubic"}, "mode 'cubic'")])
def test_resize_refusals(scales, attrs, match):
    from converter.convert import to_inference_spec
    from ground.errors import UnsupportedConfigError

    attrs = {"mode": "nearest", **attrs}
    m = model([node("Resize", ["x", "", "s"], ["y"], **attrs)], IMG, [("y", None)],
              {"s": np.array(scales, np.float32)})
    with pytest.raises(UnsupportedConfigError, match=match):
        to_inference_spec(m)


def test_constant_and_shape_subgraph_fold():
    """Keras/tf2onnx style: Reshape(x, Concat(Slice(Shape(x)), [-1])) and a Constant node."""
    nodes = [node("Shape", ["x"], ["shp"]), node("Gather", ["shp", "i0"], ["n"], axis=0),
             node("Unsqueeze", ["n", "ax"], ["n1"]), node("Constant", [], ["minus1"],
                                                          value=_tensor(np.array([-1], np.int64))),
             node("Concat", ["n1", "minus1"], ["target"], axis=0), node("Cast", ["target"], ["target64"], to=7),
             node("Reshape", ["x", "target64"], ["flat"]), node("MatMul", ["flat", "w"], ["y"])]
    m = model(nodes, IMG, [("y", ["N", 3])], {"i0": np.array(0, np.int64), "ax": np.array([0], np.int64),
                                          "w": rand(60, 3, seed=2)})
    assert kinds(check(m, X)) == ["flatten", "innerProduct"]


def _tensor(value):
    from onnx import numpy_helper

    return numpy_helper.from_array(value)
