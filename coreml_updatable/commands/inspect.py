"""`coreml-updatable inspect MODEL.mlmodel [--json]`: layers, parameters, update settings, training inputs."""
from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .mlmodel file")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def measured_shapes(spec) -> tuple[dict[str, tuple[int, ...]], str | None]:
    """Every blob's Core ML shape, from a forward pass of zeros in the emulator; or ({}, why not)."""
    import emulator
    from ground.errors import CoreMLUpdatableError

    try:
        model = emulator.load(spec)
        unsized = [f.name for f in model.inputs if f.is_tensor and f.name not in model.input_shapes]
        if unsized:
            return {}, f"the emulator runs rank-1 and rank-3 inputs, not {', '.join(unsized)}"
        measured = model.network.blob_shapes(model.input_shapes)
    except CoreMLUpdatableError as exc:   # shapes are optional: shown as '?' with the reason
        log.info("no shapes: %s", exc)
        return {}, str(exc).splitlines()[0]
    return {name: (c,) if h == w == 1 else (c, h, w) for name, (h, w, c) in measured.items()}, None


def run(args) -> int:
    from ground.spec_io import read_spec
    from ground import nn_spec as S
    from transforms.summary import format_table, summarize

    from ground import limits
    from emulator.model import refuse_unrunnable

    spec = read_spec(args.model)
    limits.check_declared_inputs(spec, where=args.model)
    if S.model_kind(spec) in S.NN_TYPES:
        refuse_unrunnable(spec)
    shapes, why = measured_shapes(spec) if S.model_kind(spec) in S.NN_TYPES else ({}, "not a NeuralNetwork")
    summary = summarize(spec, shapes)
    if why:
        summary["shapes_unavailable"] = why
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{args.model}:")
    for line in format_table(summary):
        print(line)
    if why and "layers" in summary:
        print(f"(output shapes unknown: the emulator cannot run this model: {why})")
    return 0
