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


DATA_HELP = ("a Keras-layout .npz (x_train, y_train, x_test, y_test), e.g. ../shared/data/mnist/mnist.npz, a "
             "folder of MNIST IDX files, or a folder of images with one sub-folder per class (DIR/<label>/*.png); "
             "default: $COREML_UPDATABLE_DATA")


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
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1


def whole(lo: int, hi: int):
    """An argparse type: a whole number in [lo, hi] (Core ML stores these as 64-bit integers)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a whole number from {lo} to {hi}")
        return value
    parse.__name__ = "whole number"
    return parse


def real(text: str) -> float:
    """An argparse type: a finite real number."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


EPOCHS = whole(1, INT32_MAX)
BATCH_SIZE = whole(1, INT32_MAX)
SEED = whole(0, INT64_MAX)
COUNT = whole(1, INT64_MAX)


def add_hyperparameters(group, *, epochs_and_batch: bool = True) -> None:
    """--learning-rate, --momentum, --beta1, --beta2, --eps, --shuffle/--no-shuffle, --seed
    (and --epochs, --batch-size unless the command defines them itself)."""
    if epochs_and_batch:
        group.add_argument("--epochs", type=EPOCHS)
        group.add_argument("--batch-size", type=BATCH_SIZE)
    group.add_argument("--learning-rate", type=real)
    group.add_argument("--momentum", type=real, help="SGD only")
    group.add_argument("--beta1", type=real, help="Adam only")
    group.add_argument("--beta2", type=real, help="Adam only")
    group.add_argument("--eps", type=real, help="Adam only")
    group.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=None)
    group.add_argument("--seed", type=SEED)


def add_nonfinite(parser) -> None:
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="run on data holding NaN or infinite values (refused by default)")


def load_model(path):
    """An emulator model from ``path``, its declared inputs checked against the size limit and its
    structure against Core ML's rules before anything is allocated or run."""
    import emulator

    return emulator.load(path)


def check_data(x, what: str, args, feature=None, model=None) -> None:
    """Numbers only, not empty, NaN / inf refused (unless --allow-nonfinite); 0-255 data for a model
    that takes no pixel scaling of its own warned."""
    import data_loading as data

    data.check_values(x, what, allow_nonfinite=getattr(args, "allow_nonfinite", False))
    if model is not None and feature is not None:
        warn_pixel_range(x, what, model, feature)


def warn_pixel_range(x, what: str, model, feature) -> None:
    """Warn when ``x`` looks like 0-255 pixels fed to an array input with no scaling of its own."""
    import logging

    import numpy as np

    if feature.name in model.network.preprocess or x.size == 0 or x.dtype.kind not in "uif":
        return
    top = float(np.max(x)) if x.dtype.kind != "f" else float(np.nanmax(np.where(np.isfinite(x), x, np.nan)))
    if top > 1.5 and top <= 255 and float(np.nanmin(x)) >= 0 and (x.dtype.kind in "ui" or np.all(np.mod(x, 1) == 0)):
        logging.getLogger("coreml_updatable").warning(
            "%s holds whole numbers up to %g (0-255 pixels?), but input '%s' has no image scaling of its own and "
            "models trained on images usually take values in [0, 1] (as this project's data loaders give them); "
            "divide by 255 if the model was trained that way", what, top, feature.name)


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


def check_labels(model, feature, labels, what: str) -> None:
    """Class indices in [0, K) for the model's K output classes (as ``train`` checks its targets)."""
    import math

    from emulator.model import first_tensor_output

    if not hasattr(model, "network"):      # k-NN, pipelines: the class labels tell
        if not getattr(model, "class_labels", None):
            return
        classes = len(model.class_labels)
    else:
        name = first_tensor_output(model)
        blob = model.probability_blob() if model.class_labels is not None else name
        classes = math.prod(model.network.blob_shapes(model.input_shapes, [blob])[blob])
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise BadInputError(f"{what} holds class indices in [{labels.min()}, {labels.max()}] but the model has "
                            f"{classes} classes", fix=f"use labels 0..{classes - 1}, or the data set this model is for")
