"""Read an ONNX model (``.onnx`` path or ``onnx.ModelProto``) into a :class:`SourceGraph`.

Steps: load and check (:mod:`.load`), fix the input shapes (:mod:`.shapes`), fold constant and shape
sub-graphs (:mod:`.fold`) with ONNX shape inference in between, refuse unsupported ops (all listed at
once), then describe the remaining nodes as layers (:mod:`.graph`).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ground.errors import BadInputError, UnsupportedItem, UnsupportedLayerError

from ..ir import CompileFacts, SourceGraph
from . import fold as F
from .graph import build_graph
from .load import load_model
from .shapes import OPTION, fix_input_shapes

log = logging.getLogger(__name__)
MAX_ROUNDS = 8


def read_onnx(source: Any, *, input_shapes: Mapping[str, tuple[int, ...]] | None = None,
              compile_facts: CompileFacts | None = None) -> SourceGraph:
    """A :class:`SourceGraph` (framework 'onnx', channels-first) from an ONNX model.

    ``input_shapes`` fixes dynamic input dimensions (name -> dims without the batch axis);
    ``compile_facts`` supplies the loss/optimizer ONNX cannot carry (e.g. from the Keras original).
    """
    import onnx

    model, origin = load_model(source)
    work = onnx.ModelProto()
    work.CopyFrom(model)                   # the caller's ModelProto is never changed
    in_shapes = fix_input_shapes(work, input_shapes)
    nodes, consts, shapes = fold_graph(work)
    _refuse_unsupported(work, nodes, consts, origin)
    graph = build_graph(work, nodes, consts, shapes, in_shapes, origin=origin)
    graph.compile = compile_facts
    return graph


def fold_graph(model: Any) -> tuple[list, dict[str, np.ndarray], dict[str, tuple]]:
    """Fold constants until nothing changes: ``(remaining nodes, constants, tensor shapes with batch)``."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = list(model.graph.node)
    shapes: dict[str, tuple] = {}
    for _ in range(MAX_ROUNDS):
        shapes = infer_shapes(model, nodes, consts)
        kept, changed = [], False
        for node in nodes:
            if F.foldable(node, consts, shapes):
                try:
                    values = F.evaluate(node, consts, shapes)
                except (ValueError, IndexError, KeyError, TypeError) as exc:
                    raise BadInputError(f"node '{node.name}' ({node.op_type}) cannot be evaluated on its "
                                        f"constant inputs ({exc})", where="ONNX model",
                                        fix="check the model with onnxruntime; re-export it") from None
                for name, value in zip(node.output, values):
                    if name:
                        consts[name] = value
                changed = True
            else:
                kept.append(node)
        nodes = kept
        if not changed:
            break
    return nodes, consts, shapes


def infer_shapes(model: Any, nodes: list, consts: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Every tensor's shape (batch axis included; ``None`` for an unknown dimension) by ONNX inference."""
    import onnx
    from onnx import helper, numpy_helper

    used = {t for n in nodes for t in n.input if t in consts}
    inits = [numpy_helper.from_array(np.asarray(consts[t]), t) for t in sorted(used)]
    outs = [o for o in model.graph.output]
    g = helper.make_graph(nodes, model.graph.name or "g", list(model.graph.input), outs, inits)
    m = helper.make_model(g, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    try:
        m = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise BadInputError(f"ONNX shape inference fails ({str(exc).strip().splitlines()[0]})", where="ONNX model",
                            fix=f"fix the input shapes with {OPTION} NAME=D1,D2,...") from None
    shapes: dict[str, tuple] = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return shapes


def _refuse_unsupported(model: Any, nodes: list, consts: dict, origin: str) -> None:
    from ..registry import ONNX

    known = set(ONNX.kinds())
    items = []
    for i, node in enumerate(nodes):
        name = node.name or f"{node.op_type}_{i}"
        if node.domain not in ("", "ai.onnx"):
            items.append(UnsupportedItem(name, f"{node.domain}.{node.op_type}", "custom-domain op"))
        elif node.op_type not in known:
            items.append(UnsupportedItem(name, node.op_type, "no mapper"))
    if items:
        raise UnsupportedLayerError(
            items, context=f"ONNX model '{origin or model.graph.name}'",
            supported=[k for k in ONNX.kinds() if not k.startswith("Onnx")],
            fix="replace those ops (re-export with simpler ops), or open an issue asking for a mapper")
