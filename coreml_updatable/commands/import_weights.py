"""`coreml-updatable import-weights TRAINED.mlmodelc --into MODEL.mlmodel -o OUT`: a device's result back.

An app saves what MLUpdateTask trained with ``MLUpdateContext.model.write(to:)`` as a compiled
``.mlmodelc``. This copies the trained weights it holds into the ``.mlmodel`` the app shipped, so the
result can be evaluated, inspected or trained further on Linux. innerProduct weights are read;
convolution weights are refused (see emulator/mlmodelc.py for the part of the format that is read).
"""
from __future__ import annotations

import json


def add_arguments(parser) -> None:
    parser.add_argument("trained", help="the .mlmodelc folder a device wrote after training")
    parser.add_argument("--into", required=True, help="the .mlmodel the device trained (its untrained form)")
    parser.add_argument("-o", "--output", required=True, help="where to write the .mlmodel with the trained weights")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def run(args) -> int:
    from emulator.mlmodelc import import_weights, read_trained_weights
    from ground.spec_io import check_output, read_spec, save_spec

    out = check_output(args.output, [args.into, args.trained], force=args.force)
    spec = read_spec(args.into)
    trained = read_trained_weights(args.trained)
    new, copied = import_weights(spec, trained)
    save_spec(new, out)
    if args.json:
        print(json.dumps({"output": str(out), "layers": copied}, indent=2))
    else:
        print(f"copied the trained weights of {len(copied)} layer(s) ({', '.join(map(repr, copied))}) "
              f"into {out}")
    return 0
