"""`coreml-updatable verify SRC --data DATA`: convert, train Keras and Core ML side by side, compare.

Exit status 0 only when every parity figure is within its tolerance (see ``parity/tolerances.py``);
1 when a figure is out of tolerance (the report names the cause).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ._common import (DATA_HELP, add_data_argument, add_hyperparameters, add_input_shape, data_source,
                      input_shapes_from, progress_wanted)


def add_arguments(parser) -> None:
    parser.add_argument("source", help="a Keras model (.keras / .h5) or an ONNX model (.onnx)")
    parser.add_argument("--reference", metavar="MODEL.keras",
                        help="ONNX sources: the Keras model it was exported from, to train against "
                             "(without it, only the forward pass is checked, against onnxruntime)")
    add_input_shape(parser)
    add_data_argument(parser, DATA_HELP + "; or keras:mnist / keras:fashion_mnist")
    parser.add_argument("--epochs", type=int, help="epochs of the run (and the converted model's default)")
    parser.add_argument("--batch-size", type=int, help="mini-batch size (and the converted model's default)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--report", metavar="DIR", help="write report.json and parity.png into DIR")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (on a terminal) or per-epoch lines (elsewhere) on stderr")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    g = parser.add_argument_group("conversion options (as for 'convert')")
    g.add_argument("--updatable", default="trainable",
                   help="which layers to make updatable: trainable (default), all, last:N, NAME,NAME, re:PATTERN")
    g.add_argument("--loss", choices=("auto", "cce", "mse"), default="auto")
    g.add_argument("--optimizer", choices=("adam", "sgd"))
    add_hyperparameters(g, epochs_and_batch=False)
    g = parser.add_argument_group("personalization (as for 'convert --personalize')")
    g.add_argument("--personalize", choices=("knn", "head"),
                   help="head: the pipeline's NN head vs Keras fine-tuning those layers with the rest frozen; "
                        "knn: the pipeline's k-NN (filled with the training images) vs scikit-learn's")
    g.add_argument("--embedding", metavar="LAYER", help="the Keras layer the extractor ends at")
    g.add_argument("--k", type=int, default=3)
    g.add_argument("--weighting", choices=("uniform", "distance"), default="uniform")
    g.add_argument("--index", choices=("linear", "kdtree"), default="linear")


def options_from(args):
    from transforms.options import UpdateOptions

    return UpdateOptions(updatable=args.updatable, loss=args.loss, optimizer=args.optimizer,
                         learning_rate=args.learning_rate, batch_size=args.batch_size, epochs=args.epochs,
                         momentum=args.momentum, beta1=args.beta1, beta2=args.beta2, eps=args.eps,
                         shuffle=args.shuffle, seed=args.seed)


def run(args) -> int:
    from parity import ForwardFigures, verify

    if args.personalize or args.embedding:
        report = _personalized(args)
    else:
        report = verify(args.source, data_source(args), options=options_from(args), epochs=args.epochs,
                        batch_size=args.batch_size, limit=args.limit, report_dir=args.report,
                        progress=progress_wanted(args), reference=args.reference,
                        input_shapes=input_shapes_from(args))
    if isinstance(report, ForwardFigures):    # an ONNX model without a Keras reference: forward figures only
        figures = report.as_dict()
        if args.json:
            print(json.dumps(figures, indent=2))
        else:
            verdict = "PASSED" if report.passed else "FAILED"
            print(f"forward parity vs onnxruntime: max |diff| {report.max_abs:.3g} over {report.examples} test "
                  f"examples (tolerance {report.tolerance:g}): {verdict}")
            for note in report.notes:
                print(f"note: {note}")
        return 0 if report.passed else 1
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.table())
        if args.report:
            written = sorted(p.name for p in Path(args.report).iterdir())
            print(f"wrote {', '.join(f'{args.report}/{n}' for n in written)}")
    sys.stdout.flush()
    return 0 if report.passed else 1


def _personalized(args):
    from ground.errors import BadInputError
    from converter.personalize import KNNOptions
    from parity.personalize import verify_personalized

    if not args.personalize or not args.embedding:
        raise BadInputError("--personalize and --embedding go together", fix="e.g. --personalize head --embedding dense1")
    knn = KNNOptions(k=args.k, weighting=args.weighting, index=args.index, default_label=-1)
    return verify_personalized(args.source, data_source(args), mode=args.personalize, embedding=args.embedding,
                               options=options_from(args), knn=knn, epochs=args.epochs, batch_size=args.batch_size,
                               limit=args.limit, report_dir=args.report, progress=progress_wanted(args))
