"""Fix the ONNX model's input shapes: batch 1 for analysis, every other dimension a number.

``--input-shape NAME=D1,D2,...`` (see :func:`parse_input_shapes`) gives the dimensions without the batch
axis (or with it, as 1); it fixes inputs whose dimensions the model leaves symbolic.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ground.errors import BadInputError

OPTION = "--input-shape"


def parse_input_shapes(items: Iterable[str] | None) -> dict[str, tuple[int, ...]]:
    """``['image=1,28,28', ...]`` -> ``{'image': (1, 28, 28)}``; every value a positive whole number."""
    out: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = str(item).partition("=")
        name = name.strip()
        try:
            shape = tuple(int(d) for d in dims.split(",")) if sep and dims.strip() else ()
        except ValueError:
            shape = ()
        if not name or not shape or any(d < 1 for d in shape):
            raise BadInputError(f"{OPTION} '{item}' is not NAME=D1,D2,... with positive whole numbers",
                                fix=f"write e.g. {OPTION} image=1,28,28 (the dimensions after the batch axis)")
        if name in out:
            raise BadInputError(f"{OPTION} gives input '{name}' twice", fix="give each input once")
        out[name] = shape
    return out


def graph_inputs(model: Any) -> list[Any]:
    """The graph's real inputs (old exporters also list initializers as inputs)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def fix_input_shapes(model: Any, given: Mapping[str, tuple[int, ...]] | None) -> dict[str, tuple[int, ...]]:
    """Set every input's shape in ``model`` (in place) to batch 1 + fixed dims; return name -> shape (no batch)."""
    given = dict(given or {})
    inputs = graph_inputs(model)
    names = [i.name for i in inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise BadInputError(f"{OPTION} names input(s) {unknown} the model does not have", where="ONNX model",
                            fix=f"the model's inputs are: {', '.join(names)}")
    out: dict[str, tuple[int, ...]] = {}
    for inp in inputs:
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type") or tt.elem_type not in (1, 10, 11):  # float, float16, double
            raise BadInputError(f"input '{inp.name}' is not a floating-point tensor", where="ONNX model",
                                fix="convert models whose inputs are float tensors (images or features)")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if not tt.HasField("shape") or len(dims) < 2:
            raise BadInputError(f"input '{inp.name}' has rank {len(dims)}; a batch axis and feature axes are "
                                "needed", where="ONNX model",
                                fix=f"give the shape with {OPTION} {inp.name}=D1,D2,... (without the batch)")
        rest = dims[1:]
        if inp.name in given:
            shape = given[inp.name]
            if len(shape) == len(dims):
                if shape[0] != 1:
                    raise BadInputError(f"{OPTION} {inp.name}: a batch of {shape[0]} is given; the batch is "
                                        "free in Core ML", fix="leave the batch out, or give 1")
                shape = shape[1:]
            if len(shape) != len(rest) or any(d is not None and d != s for d, s in zip(rest, shape)):
                raise BadInputError(f"{OPTION} {inp.name}={','.join(map(str, shape))} does not fit the model's "
                                    f"shape {_show(dims)}", where=f"input '{inp.name}'",
                                    fix=f"give {len(rest)} dimensions matching {_show(rest)}")
            rest = list(shape)
        missing = [i + 1 for i, d in enumerate(rest) if not d]
        if missing:
            raise BadInputError(
                f"input '{inp.name}' has shape {_show(dims)}: axis {', '.join(map(str, missing))} is dynamic "
                "and cannot be fixed from the model", where="ONNX model",
                fix=f"give the shape after the batch axis, e.g. {OPTION} {inp.name}="
                    f"{','.join(str(d or 'N') for d in rest)}")
        del tt.shape.dim[:]
        for d in [1] + rest:
            tt.shape.dim.add().dim_value = int(d)
        out[inp.name] = tuple(int(d) for d in rest)
    return out


def _show(dims) -> str:
    return "(" + ", ".join("?" if not d else str(d) for d in dims) + ")"
