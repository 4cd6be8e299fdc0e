"""`coreml-updatable convert SRC -o OUT.mlmodel [options]`: Keras (or ONNX) -> updatable Core ML model.

A thin face over :func:`converter.convert.convert`; prints the conversion report and the model table.
"""
from __future__ import annotations

import json
from pathlib import Path

from ground.errors import BadInputError
from ground.update_params import kind_of

from ._common import add_hyperparameters, add_input_shape, input_shapes_from


def add_arguments(parser) -> None:
    parser.add_argument("source", help="the Keras model (.keras, .h5), ONNX model (.onnx) or Core ML NeuralNetwork "
                        "(.mlmodel, e.g. what coremltools.convert wrote)")
    parser.add_argument("-o", "--output", required=True, help="the .mlmodel to write")
    parser.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    parser.add_argument("--reference", metavar="MODEL.keras",
                        help="ONNX sources: the Keras model it was exported from; its loss and optimizer become "
                             "the defaults, and zero biases the exporter dropped are restored (trains as Keras does)")
    g = parser.add_argument_group("what to train")
    g.add_argument("--updatable", default="trainable", metavar="WHICH",
                   help="layers to make updatable: trainable (the source's flags, default), all, last:N, "
                        "NAME,NAME or re:PATTERN")
    g.add_argument("--loss", default="auto", choices=("auto", "cce", "mse"),
                   help="auto: the source's compile loss, else cce after a softmax, mse otherwise")
    g.add_argument("--loss-output", metavar="NAME", help="the output the loss attaches to (several outputs)")
    g.add_argument("--target-name", metavar="NAME", help="the training target's feature name")
    g = parser.add_argument_group("update parameters (default: the source's compile config, else defaults)")
    g.add_argument("--optimizer", choices=("adam", "sgd"))
    add_hyperparameters(g)
    g.add_argument("--allow", action="append", default=[], metavar="NAME=MIN:MAX|NAME=V1,V2",
                   help="values a run may override on device, e.g. learning-rate=0.0001:0.1 or batch-size=16,32")
    g = parser.add_argument_group("interface")
    g.add_argument("--class-labels", metavar="FILE|a,b,c", help="make a classifier: a file (one label a line) "
                   "or a comma-separated list")
    g.add_argument("--input-name", metavar="NAME[,NAME]", help="rename the model input(s)")
    add_image_options(g)
    g.add_argument("--output-name", metavar="NAME[,NAME]", help="rename the model output(s)")
    add_input_shape(g)
    g = parser.add_argument_group("safety and limits")
    g.add_argument("--allow-unsafe-code", action="store_true",
                   help="load models that carry Python code (Lambda, custom layers): only for trusted files")
    g.add_argument("--override-unsupported", action="store_true",
                   help="accept source options Core ML cannot express, using the nearest setting (reported)")
    g = parser.add_argument_group("personalization (a frozen extractor, then an updatable head, as a pipeline)")
    g.add_argument("--personalize", choices=("knn", "head"),
                   help="knn: an updatable k-NN on the embedding; head: the layers after --embedding as an "
                        "updatable neural network")
    g.add_argument("--embedding", metavar="LAYER", help="the Keras layer whose output is the embedding "
                   "(the extractor ends there)")
    g.add_argument("--k", type=int, default=3, help="k-NN: number of neighbors (default 3; a run may pick 1..1000)")
    g.add_argument("--weighting", choices=("uniform", "distance"), default="uniform", help="k-NN vote weighting")
    g.add_argument("--index", choices=("linear", "kdtree"), default="linear", help="k-NN index")
    g.add_argument("--examples", metavar="DIR_OR_NPZ", help="k-NN: fill it with these examples (an .npz with x "
                   "and y, or a folder of LABEL/IMAGE files)")
    g.add_argument("--default-label", metavar="LABEL", help="k-NN: the label an empty k-NN predicts "
                   "(its type, Int64 or String, sets the labels' type when no examples give it)")
    g.add_argument("--linked", action="store_true", help="write the extractor to its own file, referenced by a "
                   "LinkedModel (OUT-extractor.mlmodel beside OUT)")
    parser.add_argument("--json-report", action="store_true", help="print the result as JSON")


def parse_allow(items: list[str]) -> tuple[dict, dict]:
    """``--allow`` values -> (allowed_ranges, allowed_sets), keys as given with '-' read as '_'."""
    ranges: dict[str, tuple[float, float]] = {}
    sets: dict[str, tuple] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not value:
            raise BadInputError(f"--allow '{item}' is not NAME=MIN:MAX or NAME=V1,V2",
                                fix="e.g. --allow learning-rate=0.0001:0.1 --allow batch-size=16,32,64")
        number = int if kind_of(name) is int else float
        try:
            if ":" in value:
                lo, hi = (number(v) for v in value.split(":", 1))
                if lo > hi:
                    raise BadInputError(f"--allow '{item}': minimum {lo} is above maximum {hi}",
                                        fix="give MIN:MAX with MIN <= MAX")
                ranges[name] = (lo, hi)
            else:
                sets[name] = tuple(number(v) for v in value.split(","))
        except ValueError:
            kind = "whole numbers" if number is int else "numbers"
            raise BadInputError(f"--allow '{item}': the values must be {kind}",
                                fix="e.g. --allow batch-size=16,32 or --allow learning-rate=0.001:0.1") from None
    return ranges, sets


def parse_labels(value: str | None) -> list | None:
    """Class labels from a file (one a line) or a comma-separated list; all-integer labels become ints."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        labels = _label_lines(path)
    else:
        labels = [v.strip() for v in value.split(",") if v.strip()]
    if not labels:
        raise BadInputError("no class labels found", where=value, fix="give a file with one label a line, or a,b,c")
    try:
        return [int(v) for v in labels]
    except ValueError:
        return labels


def add_image_options(group) -> None:
    """--image-input, --image-scale, --image-bias (convert and verify)."""
    group.add_argument("--image-input", action="append", default=[], metavar="NAME[:rgb|bgr|gray]",
                       help="declare this input an image (Core ML imageType: 0-255 pixels, as an app passes a "
                            "photo); a leading Rescaling/Normalization becomes the image preprocessing")
    group.add_argument("--image-scale", type=float,
                       help="image preprocessing scale, e.g. 0.00392156862745098 (1/255)")
    group.add_argument("--image-bias", metavar="B|R,G,B", help="image preprocessing bias(es), added after the scale")


def image_inputs_from(args) -> list:
    """``--image-input`` (with ``--image-scale`` / ``--image-bias``) as ``ImageInput`` values."""
    from converter.image_input import ImageInput

    if (args.image_scale is not None or args.image_bias) and not args.image_input:
        raise BadInputError("--image-scale/--image-bias need --image-input NAME", fix="name the image input")
    try:
        bias = [float(v) for v in args.image_bias.split(",")] if args.image_bias else None
    except ValueError:
        raise BadInputError(f"--image-bias '{args.image_bias}' is not B or R,G,B numbers",
                            fix="e.g. --image-bias -1 or --image-bias -123.7,-116.3,-103.5") from None
    return [ImageInput.parse(text, args.image_scale, bias) for text in args.image_input]


def _label_lines(path: Path) -> list[str]:
    from ground import limits

    try:
        text = limits.read_file(path, "the class-labels file", limit=limits.max_config_bytes()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"the class-labels file is not UTF-8 text (byte {exc.start}: a binary file?)",
                            where=str(path), fix="give a text file with one label a line, or a,b,c") from None
    if "\x00" in text:
        raise BadInputError("the class-labels file holds NUL bytes (a binary file?)", where=str(path),
                            fix="give a text file with one label a line, or a,b,c")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",")] if value else None


def run(args) -> int:
    from converter.convert import convert
    from ground.spec_io import check_output

    check_output(args.output, args.source, force=args.force)
    if args.personalize or args.embedding:
        return _personalize(args)
    result = convert(args.source, options=_options(args), input_names=_names(args.input_name),
                     output_names=_names(args.output_name), allow_unsafe=args.allow_unsafe_code,
                     input_shapes=input_shapes_from(args), reference=args.reference)
    result.save(args.output, force=args.force)
    summary = _summary(result.spec)
    if args.json_report:
        print(json.dumps({"source": args.source, "output": args.output, "report": result.report.to_dict(),
                          "model": summary}, indent=2, default=str))
        return 0
    print(f"wrote {args.output} (specification version {result.spec.specificationVersion})")
    print("conversion report:")
    for line in result.report.lines():
        print(f"  {line}")
    from transforms.summary import format_table

    print(f"{args.output}:")
    for line in format_table(summary):
        print(line)
    return 0


def _options(args):
    from transforms.options import UpdateOptions

    ranges, sets = parse_allow(args.allow)
    options = UpdateOptions(
        updatable=args.updatable, loss=args.loss, optimizer=args.optimizer, learning_rate=args.learning_rate,
        batch_size=args.batch_size, epochs=args.epochs, momentum=args.momentum, beta1=args.beta1,
        beta2=args.beta2, eps=args.eps, shuffle=args.shuffle, seed=args.seed, allowed_ranges=ranges,
        allowed_sets=sets, class_labels=parse_labels(args.class_labels), target_name=args.target_name,
        image_inputs=tuple(image_inputs_from(args)), override_unsupported=args.override_unsupported)
    if args.loss_output:
        options.loss_output = args.loss_output
    return options


def _personalize(args) -> int:
    """``--personalize knn|head --embedding LAYER``: a pipeline of the frozen extractor and a head."""
    from pathlib import Path as _Path

    from converter.personalize import KNNOptions, personalize

    if not args.personalize or not args.embedding:
        raise BadInputError("--personalize and --embedding go together",
                            fix="e.g. --personalize knn --embedding dense1")
    if _Path(args.source).suffix.lower() == ".onnx":
        raise BadInputError("personalization cuts Keras models", where=args.source, fix="pass a .keras or .h5 model")
    default = args.default_label
    knn = KNNOptions(k=args.k, weighting=args.weighting, index=args.index,
                     default_label=int(default) if default is not None and default.lstrip("-").isdigit() else default)
    linked = _Path(args.output).stem + "-extractor.mlmodelc" if args.linked else None
    result = personalize(args.source, mode=args.personalize, embedding=args.embedding, knn=knn,
                         options=_options(args), examples=args.examples,
                         class_labels=parse_labels(args.class_labels), linked_name=linked,
                         allow_unsafe=args.allow_unsafe_code)
    written = result.save(args.output, force=args.force, source=args.source)
    summary = _summary(result.spec, _Path(args.output).parent)
    if args.json_report:
        print(json.dumps({"source": args.source, "output": [str(p) for p in written],
                          "report": result.report.to_dict(), "model": summary}, indent=2, default=str))
        return 0
    print("wrote " + ", ".join(str(p) for p in written) + f" (specification version {result.spec.specificationVersion})")
    print("conversion report:")
    for line in result.report.lines():
        print(f"  {line}")
    if summary is not None:
        from transforms.summary import format_table
        print(f"{args.output}:")
        for line in format_table(summary):
            print(line)
    return 0


def _summary(spec, base_dir=None) -> dict:
    """The inspect command's data-level summary of the written model (linked files found from ``base_dir``)."""
    from transforms.summary import summarize

    from .inspect import _resolve, measured_shapes

    shapes, _ = measured_shapes(spec, base_dir)
    base = Path(base_dir) if base_dir is not None else Path(".")
    return summarize(spec, shapes, resolve=lambda link: _resolve(link, base))
