"""`coreml-updatable train MODEL --data DATA -o OUT`: train as Core ML's MLUpdateTask would."""
from __future__ import annotations

import json

from ._common import (add_data_argument, add_training_overrides, class_target, data_source, image_input,
                      overrides_from, progress_wanted)


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an updatable .mlmodel")
    add_data_argument(parser)
    parser.add_argument("-o", "--output", required=True, help="where to write the updated .mlmodel")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (on a terminal) or per-epoch lines (elsewhere) on stderr")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary instead of text (with every epoch's loss and the conventions)")
    add_training_overrides(parser)


def run(args) -> int:
    import emulator
    import data_loading as data
    from ground.spec_io import check_output

    out = check_output(args.output, [args.model], force=args.force)

    model = emulator.load(args.model)
    feature = image_input(model)
    target = class_target(model)
    ds = data.load(data_source(args)).limit(args.limit)
    x = data.for_coreml(ds.x_train, feature.shape)
    result = model.update({feature.name: x, target: ds.y_train}, progress=progress_wanted(args),
                          **overrides_from(args))
    accuracy = _accuracy(result.model, feature, data.for_coreml(ds.x_test, feature.shape), ds.y_test)
    result.save(out)
    summary = {**result.summary(), "train_examples": int(len(x)), "test_accuracy": accuracy,
               "output": str(out)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if not hasattr(result, "settings"):     # a k-NN (alone or last in a pipeline): the examples are appended
        print(f"trained {args.model} on {len(x)} examples from {ds.source}: appended {summary['added_examples']} "
              f"examples; the k-NN now stores {summary['stored_examples']} (k={summary['number_of_neighbors']})")
        print(f"test accuracy: {accuracy:.4f} on {len(ds.y_test)} test images")
        print(f"wrote {out}")
        return 0
    settings = result.settings
    batches = len(result.batch_losses[0]) if result.batch_losses else 0
    print(f"trained {args.model} on {len(x)} examples from {ds.source}: {settings.epochs} epoch(s) of {batches} "
          f"mini-batches")
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


def _accuracy(model, feature, x, y) -> float:
    from emulator.model import first_tensor_output

    if not hasattr(model, "network") and model.label_output:     # k-NN, pipelines: compare the labels
        return float((model.predict({feature.name: x})[model.label_output] == y).mean())
    probs = model.predict({feature.name: x})[first_tensor_output(model)]
    return float((probs.reshape(len(probs), -1).argmax(1) == y).mean())
