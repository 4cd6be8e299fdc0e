"""`coreml-updatable validate MODEL.mlmodel [--json]`: check a model against Core ML's rules.

Exit status: 0 when the model is updatable and breaks no rule; 1 when it breaks a rule or is not
updatable (every broken rule is listed; a non-updatable model gets Core ML's inference checks only);
2 when the file cannot be read as a Core ML model.
"""
from __future__ import annotations

import json


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
    valid = updatable and not found
    if args.json:
        print(json.dumps({"model": str(args.model), "model_type": spec.WhichOneof("Type"), "updatable": updatable,
                          "valid": valid, "violations": [v.__dict__ for v in found]}, indent=2))
        return 0 if valid else 1
    if valid:
        print(f"{args.model}: valid updatable Core ML model (passes every rule Core ML checks on device)")
        return 0
    if not updatable:
        print(f"{args.model}: not updatable (isUpdatable is false): Core ML will not train it"
              + ("; its inference checks pass" if not found else ""))
    if found:
        print(f"{args.model}: breaks {len(found)} Core ML rule(s):")
        for v in found:
            print(f"  - {v}")
    return 1
