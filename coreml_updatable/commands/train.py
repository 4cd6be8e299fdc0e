"""`coreml-updatable train MODEL --data DATA -o OUT`: train as Core ML's MLUpdateTask would."""
from __future__ import annotations

import json

from ._common import (COUNT, add_data_argument, add_nonfinite, add_training_overrides, check_data, class_target,
                      data_source, image_input, load_model, overrides_from, progress_wanted)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an updatable .mlmodel")
    add_data_argument(parser)
    parser.add_argument("-o", "--output", required=True, help="where to write the updated .mlmodel")
    parser.add_argument("--limit", type=COUNT, help="train on the first N training images only")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (on a terminal) or per-epoch lines (elsewhere) on stderr")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary instead of text (with every epoch's loss and the conventions)")
    add_nonfinite(parser)
    add_training_overrides(parser)


def run(args) -> int:
    import data_loading as data
    from ground.errors import BadInputError
    from ground.spec_io import check_output

    source = data_source(args)
    out = check_output(args.output, [args.model, *data.source_files(source)], force=args.force)

    model = load_model(args.model)
    if not model.is_updatable:
        raise BadInputError("the model is not updatable (isUpdatable is false): Core ML will not train it",
                            where=args.model, fix="convert the source model with 'coreml-updatable convert', "
                                                  "which marks layers updatable and attaches a loss")
    feature = image_input(model)
    target = class_target(model)
    ds = data.load(source).limit(args.limit)
    for split, images in (("x_train", ds.x_train), ("x_test", ds.x_test)):
        check_data(images, f"{split} of {ds.source}", args)
    x = data.for_coreml(ds.x_train, feature.shape, image=feature.kind == "image")
    result = model.update({feature.name: x, target: targets(model, ds, ds.y_train)}, progress=progress_wanted(args),
                          **overrides_from(args))
    x_test = data.for_coreml(ds.x_test, feature.shape, image=feature.kind == "image")
    accuracy = _accuracy(result.model, feature, x_test, targets(model, ds, ds.y_test))
    result.save(out)
    summary = {**result.summary(), "train_examples": int(len(x)), "test_accuracy": accuracy,
               "output": str(out)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"trained {args.model} on {len(x)} examples from {ds.source}")
    if not hasattr(result, "settings"):     # a k-NN (alone or last in a pipeline): the examples are appended
        print(f"appended {summary['added_examples']} examples; the k-NN now stores {summary['stored_examples']} "
              f"(k={summary['number_of_neighbors']})")
        print(f"test accuracy: {accuracy:.4f} on {len(ds.y_test)} test images")
        print(f"wrote {out}")
        return 0
    settings = result.settings
    batches = len(result.batch_losses[0]) if result.batch_losses else 0
    print(f"{settings.epochs} epoch(s) of {batches} mini-batches")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.as_dict().items()))
    means = " -> ".join(f"{m:.4f}" for m in _ends(result.epoch_mean_losses))
    print(f"loss: epoch mean {means}; last mini-batch {result.epoch_losses[-1]:.4f} (the lossValue Core ML reports)")
    if getattr(args, "verbose", False):
        print("conventions of this run (behaviours Apple leaves undocumented, decided in emulator/conventions.py):")
        for name, text in result.conventions.items():
            print(f"  {name}: {text}")
    print(f"test accuracy: {accuracy:.4f} on {len(ds.y_test)} test images")
    print(f"wrote {out} ({result.wall_time_s:.1f} s of training)")
    return 0


def _ends(values: list[float]) -> list[float]:
    """The first and last of a list (all of it when it has one or two values)."""
    return values if len(values) <= 2 else [values[0], values[-1]]


def targets(model, ds, y):
    """A data set's labels as the model's training target takes them: a classifier's own class labels
    (an image folder's class names, or class indices through the model's labels), else class indices."""
    import numpy as np

    labels = getattr(model, "class_labels", None)
    if labels is None or not hasattr(model, "network"):   # a k-NN (alone or in a pipeline) learns the labels given
        return y
    if ds.class_names is not None:
        names = [ds.class_names[i] for i in y]
        return [int(n) for n in names] if all(isinstance(v, int) for v in labels) else names
    if all(isinstance(v, (int, np.integer)) for v in labels) and set(np.unique(y).tolist()) <= set(labels):
        return list(y)
    return [labels[i] for i in y]


def _accuracy(model, feature, x, y) -> float:
    """Top-1 accuracy against ``y``: class indices, or the model's class labels for a classifier."""
    import numpy as np

    from emulator.model import first_tensor_output

    if not hasattr(model, "network") and model.label_output:     # k-NN, pipelines: compare the labels
        return float((model.predict({feature.name: x})[model.label_output] == y).mean())
    probs = model.predict({feature.name: x})[first_tensor_output(model)]
    pred = probs.reshape(len(probs), -1).argmax(1)
    if model.class_labels is not None:
        pred = np.asarray(model.class_labels, dtype=object)[pred]
        return float(np.mean([a == b for a, b in zip(pred.tolist(), list(y))]))
    return float((pred == np.asarray(y)).mean())
