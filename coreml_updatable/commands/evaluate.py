"""`coreml-updatable evaluate MODEL --data DATA`: a classifier's accuracy on a data set."""
from __future__ import annotations

import json

from ._common import add_data_argument, data_source


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an .mlmodel whose first output is class probabilities")
    add_data_argument(parser)
    parser.add_argument("--split", choices=["test", "train"], default="test")
    parser.add_argument("--json", action="store_true")
    from ._common import add_nonfinite

    add_nonfinite(parser)


def run(args) -> int:
    import data_loading as data

    from ._common import check_data, check_labels, image_input, load_model
    from .train import _accuracy, targets

    model = load_model(args.model)
    feature = image_input(model)
    ds = data.load(data_source(args))
    images, labels = (ds.x_test, ds.y_test) if args.split == "test" else (ds.x_train, ds.y_train)
    check_data(images, f"x_{args.split} of {ds.source}", args)
    check_labels(model, feature, labels, f"y_{args.split} of {ds.source}")
    x = data.for_coreml(images, feature.shape, image=feature.kind == "image")
    accuracy = _accuracy(model, feature, x, targets(model, ds, labels))
    if args.json:
        print(json.dumps({"accuracy": accuracy, "examples": int(len(labels)), "split": args.split}))
    else:
        print(f"{args.split} accuracy: {accuracy:.4f} ({len(labels)} images)")
    return 0
