"""Helpers shared by the CLI commands (argument checks, picking a model's image input and target)."""
from __future__ import annotations

import os
from pathlib import Path

from coreml_updatable.errors import BadInputError


def output_path(out: str, sources: list[str], force: bool) -> Path:
    """Check an output path: not one of the sources, not existing unless ``force``; folder exists."""
    path = Path(out)
    for src in sources:
        if src and Path(src).exists() and path.exists() and os.path.samefile(src, path):
            raise BadInputError("the output path is the source file", where=str(path),
                                fix="write the result to a new path with -o")
    if path.exists() and not force:
        raise BadInputError("the output file exists", where=str(path), fix="pass --force to overwrite it")
    if path.is_dir():
        raise BadInputError("the output path is a folder", where=str(path), fix="give a file name")
    if not path.parent.exists():
        raise BadInputError("the output folder does not exist", where=str(path.parent), fix="create it first")
    return path


def image_input(model):
    """The model's single tensor input (the one data sets' images feed)."""
    tensors = [f for f in model.inputs if f.is_tensor]
    if len(tensors) != 1:
        raise BadInputError(f"the model has {len(tensors)} array inputs; --data feeds exactly one",
                            fix="use the Python API (emulator.load(...).update) for multi-input models")
    return tensors[0]


def class_target(model) -> str:
    """The training input that holds the class index of a cross-entropy model."""
    from emulator.losses import from_spec

    loss = from_spec(model.nn, model.network)
    if loss.kind != "cce":
        raise BadInputError("the model's loss is mean squared error; --data holds class labels",
                            fix="use the Python API (emulator.load(...).update) with your own targets")
    return loss.target


def add_training_overrides(parser) -> None:
    g = parser.add_argument_group("per-run overrides (checked against the model's allowed values)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--momentum", type=float, help="SGD only")
    g.add_argument("--beta1", type=float, help="Adam only")
    g.add_argument("--beta2", type=float, help="Adam only")
    g.add_argument("--eps", type=float, help="Adam only")
    g.add_argument("--shuffle", action=__import__("argparse").BooleanOptionalAction, default=None)
    g.add_argument("--seed", type=int)


def overrides_from(args) -> dict:
    return {k: getattr(args, k) for k in ("epochs", "learning_rate", "batch_size", "momentum", "beta1",
                                          "beta2", "eps", "shuffle", "seed")}
