"""`coreml-updatable validate MODEL.mlmodel [--json]`: check a model against Core ML's rules.

Exit status (``EXIT_CODES``): 0 valid and updatable; 3 valid but not updatable (Core ML loads it for
prediction, ``MLUpdateTask`` will not train it); 1 rules broken, every one listed (a model that is not
updatable gets Core ML's inference checks only); 2 the file cannot be read as a Core ML model.
Each listed rule says whose it is: Core ML's own validator (the device refuses the model) or a stricter
check of coremltools' builder or of this project.
"""
from __future__ import annotations

import json

EXIT_CODES = {"valid": 0, "broken": 1, "unreadable": 2, "not_updatable": 3}


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the .mlmodel file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from ground import limits
    from ground.rules import violations
    from ground.spec_io import read_spec

    spec = read_spec(args.model)
    limits.check_declared_inputs(spec, where=args.model)   # what a device would have to allocate
    found = violations(spec)
    updatable = bool(spec.isUpdatable)
    status = "broken" if found else ("valid" if updatable else "not_updatable")
    if args.json:
        print(json.dumps({"model": str(args.model), "model_type": spec.WhichOneof("Type"), "updatable": updatable,
                          "valid": not found, "status": status, "violations": [v.__dict__ for v in found]},
                         indent=2))
        return EXIT_CODES[status]
    if status == "valid":
        print(f"{args.model}: valid updatable Core ML model (passes every rule Core ML checks on device)")
    elif status == "not_updatable":
        print(f"{args.model}: valid, but not updatable (isUpdatable is false): Core ML loads it for prediction, "
              "MLUpdateTask will not train it (exit 3)")
    else:
        apple = sum(v.origin == "apple" for v in found)
        print(f"{args.model}: breaks {len(found)} rule(s), {apple} of them Core ML's own (the device refuses the "
              f"model){'' if updatable else '; the model is not updatable either'}:")
        for v in found:
            who = "" if v.origin == "apple" else f" ({v.origin} check; Core ML's validator accepts this)"
            print(f"  - {v}{who}")
    return EXIT_CODES[status]
