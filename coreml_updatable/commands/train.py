"""`coreml-updatable train MODEL --data DATA -o OUT`: train as Core ML's MLUpdateTask would."""
from __future__ import annotations

import json

from ._common import add_training_overrides, class_target, image_input, overrides_from


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an updatable .mlmodel")
    parser.add_argument("--data", required=True,
                        help="images and labels: a Keras-layout .npz (e.g. ../shared/data/mnist/mnist.npz) "
                             "or a folder of MNIST IDX files")
    parser.add_argument("-o", "--output", required=True, help="where to write the updated .mlmodel")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    add_training_overrides(parser)


def run(args) -> int:
    import emulator
    import data_loading as data
    from ground.spec_io import check_output

    out = check_output(args.output, [args.model], force=args.force)

    model = emulator.load(args.model)
    feature = image_input(model)
    target = class_target(model)
    ds = data.load(args.data).limit(args.limit)
    x = data.for_coreml(ds.x_train, feature.shape)
    result = model.update({feature.name: x, target: ds.y_train}, progress=not args.no_progress,
                          **overrides_from(args))
    accuracy = _accuracy(result.model, feature, data.for_coreml(ds.x_test, feature.shape), ds.y_test)
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
    print("settings: " + ", ".join(f"{k}={v}" for k, v in result.settings.as_dict().items()))
    for i, (last, mean) in enumerate(zip(result.epoch_losses, result.epoch_mean_losses), start=1):
        print(f"epoch {i}: loss {last:.4f} (last mini-batch, as Core ML reports) / {mean:.4f} (epoch mean)")
    print("conventions (behaviours Apple leaves undocumented):")
    for name, text in result.conventions.items():
        print(f"  {name}: {text}")
    print(f"test accuracy: {accuracy:.4f} on {len(ds.y_test)} test images")
    print(f"wrote {out} ({result.wall_time_s:.1f} s of training)")
    return 0


def _accuracy(model, feature, x, y) -> float:
    from emulator.model import first_tensor_output

    if not hasattr(model, "network") and model.label_output:     # k-NN, pipelines: compare the labels
        return float((model.predict({feature.name: x})[model.label_output] == y).mean())
    probs = model.predict({feature.name: x})[first_tensor_output(model)]
    return float((probs.reshape(len(probs), -1).argmax(1) == y).mean())
