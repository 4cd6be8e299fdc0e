"""`coreml-updatable inspect MODEL.mlmodel [--json]`: layers, parameters, update settings, training inputs."""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .mlmodel file")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def measured_shapes(spec, base_dir=None) -> tuple[dict[str, tuple[int, ...]], str | None]:
    """Every blob's Core ML shape, from a forward pass of zeros in the emulator; or ({}, why not).

    For a pipeline: the blobs of every neural network in it (linked ones found from ``base_dir``)."""
    import emulator
    from emulator.pipeline import PipelineModel
    from ground.errors import CoreMLUpdatableError

    if spec.WhichOneof("Type") in ("pipeline", "pipelineClassifier", "pipelineRegressor", "linkedModel"):
        try:
            loaded = emulator.load(spec, base_dir=base_dir)
        except CoreMLUpdatableError as exc:
            return {}, str(exc).splitlines()[0]
        shapes: dict[str, tuple[int, ...]] = {}
        stages = loaded.stages if isinstance(loaded, PipelineModel) else [loaded]
        for stage in stages:
            if hasattr(stage, "network"):
                shapes.update(measured_shapes(stage.spec)[0])
            elif isinstance(stage, PipelineModel):
                shapes.update(measured_shapes(stage.spec, base_dir)[0])
        return shapes, None
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


def _resolve(link, base: Path):
    """The file a linked model names (inside ``base``), and its spec."""
    from emulator.pipeline import resolve_link
    from ground.spec_io import read_spec

    path = resolve_link(link, base)
    return path, read_spec(path)


def run(args) -> int:
    from ground.spec_io import read_spec
    from ground import nn_spec as S
    from transforms.summary import format_table, summarize

    spec = read_spec(args.model)
    base = Path(args.model).parent
    nested = S.model_kind(spec) in S.PIPELINE_TYPES + ("linkedModel",)
    shapes, why = measured_shapes(spec, base) if S.model_kind(spec) in S.NN_TYPES or nested \
        else ({}, "not a NeuralNetwork")
    summary = summarize(spec, shapes, resolve=lambda link: _resolve(link, base))
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
