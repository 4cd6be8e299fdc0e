"""Describe a folded ONNX graph as :class:`SourceLayer` s: layouts of the inputs, MatMul+Add fusion.

ONNX has no trainable flags: every weighted layer counts as trainable, and the graph says it has no flags,
so that the ``mark_updatable`` pass narrows the default policy on the Core ML spec, with Core ML's own
back-propagation rule (``ground.rules``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ground.errors import BadInputError, UnsupportedConfigError

from ..ir import SourceGraph, SourceLayer, TensorInfo
from .axes import CANONICAL, full3
from .fold import attrs
from .load import default_opset
from .shapes import OPTION, graph_inputs

NHWC = (1, 2, 0)          # an (H, W, C) ONNX tensor in a (C, H, W) blob
WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
"""Ops with weights: the layers ONNX counts as trainable."""


def build_graph(model: Any, nodes: list, consts: dict[str, np.ndarray], shapes: dict[str, tuple],
                in_shapes: dict[str, tuple[int, ...]], *, origin: str) -> SourceGraph:
    opset = default_opset(model)
    renamed = _rename_outputs(model, nodes)
    for old, new in renamed.items():
        if old in shapes:
            shapes[new] = shapes[old]
    names = _unique_names(nodes)
    consumers: dict[str, list] = {}
    for node in nodes:
        for t in node.input:
            consumers.setdefault(t, []).append(node)
    outputs = [o.name for o in model.graph.output]
    inner_outputs = [renamed.get(o, o) for o in outputs]
    layers: list[SourceLayer] = []
    inputs: list[TensorInfo] = []
    for inp in graph_inputs(model):
        shape = in_shapes[inp.name]
        axes = _input_axes(shape, consumers.get(inp.name, []), consts)
        inputs.append(TensorInfo(inp.name, full3(shape, axes) if axes == NHWC else shape))
        layers.append(SourceLayer(f"{inp.name}__input", "OnnxInput", {"axes": axes, "onnx_shape": shape},
                                  outputs=[inp.name], output_shapes=[shape]))
    fused: set[int] = set()
    for node in nodes:
        if id(node) in fused:
            continue
        layer = _layer(node, names[id(node)], consts, shapes, opset)
        bias_add = _bias_add(node, consumers, consts, inner_outputs)
        if bias_add is not None:
            fused.add(id(bias_add))
            b = next(t for t in bias_add.input if t in consts)
            layer.weights[b] = np.asarray(consts[b], np.float32)
            layer.config["bias"] = b
            layer.outputs = list(bias_add.output)
            layer.output_shapes = [_features(shapes, bias_add.output[0], layer.name)]
        layers.append(layer)
    for name in outputs:
        shape = _features(shapes, name, f"output '{name}'")
        layers.append(SourceLayer(f"{name}__output", "OnnxOutput", {}, inputs=[renamed.get(name, name)], input_shapes=[shape],
                                  outputs=[name], output_shapes=[shape]))
    graph_outputs = [TensorInfo(n, _features(shapes, n, f"output '{n}'")) for n in outputs]
    return SourceGraph(name=model.graph.name or "onnx_model", layers=layers, inputs=inputs,
                       outputs=graph_outputs, channels_last=False, compile=None, origin=origin, framework="onnx",
                       trainable_flags=False)


def inner(output: str) -> str:
    """The name a graph output's tensor takes inside the graph (the OnnxOutput layer gives it its name)."""
    return f"{output}__onnx"


def _rename_outputs(model: Any, nodes: list) -> dict[str, str]:
    """Produce each graph output under its inner name, so that the output layer can lay it out canonically."""
    inputs = {i.name for i in graph_inputs(model)}
    renames = {o.name: inner(o.name) for o in model.graph.output if o.name not in inputs}
    for node in nodes:
        for field in (node.input, node.output):
            for i, t in enumerate(field):
                if t in renames:
                    field[i] = renames[t]
    return renames


def _unique_names(nodes: list) -> dict[int, str]:
    seen: dict[str, int] = {}
    out: dict[int, str] = {}
    for i, node in enumerate(nodes):
        base = node.name or f"{node.op_type}_{i}"
        k = seen.get(base, 0)
        seen[base] = k + 1
        out[id(node)] = base if k == 0 else f"{base}__{k}"
    return out


def _features(shapes: dict[str, tuple], tensor: str, where: str) -> tuple[int, ...]:
    """The tensor's shape without the batch axis; it must be known and keep the batch on axis 0."""
    shape = shapes.get(tensor)
    if shape is None or any(d is None for d in shape):
        raise BadInputError(f"the shape of tensor '{tensor}' is unknown after shape inference ({shape})",
                            where=where, fix=f"fix the input shapes with {OPTION} NAME=D1,D2,...")
    if len(shape) == 0 or shape[0] != 1:
        raise UnsupportedConfigError(f"tensor '{tensor}' of shape {shape} does not keep the batch on axis 0",
                                     where=where, fix="keep the batch as the first axis of every tensor")
    return tuple(int(d) for d in shape[1:])


def _layer(node: Any, name: str, consts: dict, shapes: dict, opset: int | None) -> SourceLayer:
    cfg = attrs(node)
    cfg["onnx_inputs"] = list(node.input)
    cfg["opset"] = opset
    weights = {t: np.asarray(consts[t]) for t in node.input if t in consts}
    dyn = [t for t in node.input if t and t not in consts]
    where = f"ONNX node '{name}' ({node.op_type})"
    outs = [t for t in node.output if t]
    if node.op_type in ("Dropout", "MaxPool", "BatchNormalization"):
        outs = outs[:1]                # masks, indices, running stats: not computed at inference
    return SourceLayer(name, node.op_type, cfg, weights, dyn, outs,
                       [_features(shapes, t, where) for t in dyn], [_features(shapes, t, where) for t in outs],
                       trainable=node.op_type in WEIGHTED)


def _bias_add(node: Any, consumers: dict, consts: dict, outputs: list[str]) -> Any | None:
    """The Add after a MatMul with a constant weight that adds a constant bias of shape (M,) / (1, M)."""
    if node.op_type != "MatMul" or node.input[1] not in consts or node.output[0] in outputs:
        return None
    after = consumers.get(node.output[0], [])
    if len(after) != 1 or after[0].op_type != "Add":
        return None
    add = after[0]
    other = [t for t in add.input if t != node.output[0]]
    if len(other) != 1 or other[0] not in consts:
        return None
    m = consts[node.input[1]].shape[-1]
    bias = np.asarray(consts[other[0]])
    return add if bias.size == m and bias.shape[-1] == m else None


def _input_axes(shape: tuple[int, ...], uses: list, consts: dict) -> tuple[int, ...]:
    """NHWC for an (H, W, C) input used only through a conversion to NCHW (Transpose, or a Reshape when
    C is 1); the canonical axes otherwise."""
    if len(shape) == 3 and uses and all(_to_nchw(n, shape, consts) for n in uses):
        return NHWC
    return CANONICAL.get(len(shape), tuple(range(len(shape))))


def _to_nchw(node: Any, shape: tuple[int, ...], consts: dict) -> bool:
    h, w, c = shape
    if node.op_type == "Transpose":
        return list(attrs(node).get("perm", [])) == [0, 3, 1, 2]
    if node.op_type == "Reshape" and c == 1 and node.input[1] in consts:
        target = [int(v) for v in consts[node.input[1]]]
        return len(target) == 4 and target[1:] == [1, h, w]
    return False
