"""Helpers shared by the CLI commands (argument checks, picking a model's image input and target)."""
from __future__ import annotations

import argparse

from ground.errors import BadInputError


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

    if not hasattr(model, "nn"):            # a k-NN or a pipeline: its label is the training target
        if not model.label_output:
            raise BadInputError("the model has no class-label output to train on",
                                fix="use the Python API (emulator.load(...).update) with your own targets")
        return model.label_output
    loss = from_spec(model.nn, model.network)
    if loss.kind != "cce":
        raise BadInputError("the model's loss is mean squared error; --data holds class labels",
                            fix="use the Python API (emulator.load(...).update) with your own targets")
    return loss.target


DATA_HELP = ("a Keras-layout .npz (x_train, y_train, x_test, y_test), e.g. ../shared/data/mnist/mnist.npz, or a "
             "folder of MNIST IDX files; default: $COREML_UPDATABLE_DATA")


def add_data_argument(parser, help_text: str = DATA_HELP) -> None:
    """--data: where the images and labels are (optional when $COREML_UPDATABLE_DATA names them)."""
    parser.add_argument("--data", metavar="PATH", help=help_text)


def data_source(args) -> str:
    """--data, else $COREML_UPDATABLE_DATA; a missing one says where MNIST is expected."""
    import data_loading as data

    source = args.data or data.default_source()
    if not source:
        raise BadInputError("no data set given", where="--data", fix=data.HOW_TO_GET)
    return source


def progress_wanted(args) -> bool:
    """Progress bars / per-epoch lines unless --no-progress or --quiet."""
    return not (getattr(args, "no_progress", False) or getattr(args, "quiet", False))


def add_hyperparameters(group, *, epochs_and_batch: bool = True) -> None:
    """--learning-rate, --momentum, --beta1, --beta2, --eps, --shuffle/--no-shuffle, --seed
    (and --epochs, --batch-size unless the command defines them itself)."""
    if epochs_and_batch:
        group.add_argument("--epochs", type=int)
        group.add_argument("--batch-size", type=int)
    group.add_argument("--learning-rate", type=float)
    group.add_argument("--momentum", type=float, help="SGD only")
    group.add_argument("--beta1", type=float, help="Adam only")
    group.add_argument("--beta2", type=float, help="Adam only")
    group.add_argument("--eps", type=float, help="Adam only")
    group.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=None)
    group.add_argument("--seed", type=int)


def add_training_overrides(parser) -> None:
    add_hyperparameters(parser.add_argument_group("per-run overrides (checked against the model's allowed values)"))


def add_input_shape(parser) -> None:
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="ONNX only: fix an input's dynamic dimensions after the batch axis, e.g. image=1,28,28")


def input_shapes_from(args) -> dict | None:
    if not args.input_shape:
        return None
    from converter.onnx.shapes import parse_input_shapes

    return parse_input_shapes(args.input_shape)


def overrides_from(args) -> dict:
    """The per-run overrides given on the command line, by option name (the one name map's)."""
    from ground.update_params import OVERRIDES

    return {k: getattr(args, k) for k in OVERRIDES}
