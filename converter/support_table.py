"""Print the README's support table: ``python -m converter.support_table [keras|onnx]``."""
from __future__ import annotations

import importlib.util
import sys

from .registry import KERAS, ONNX, Registry


def markdown(registry: Registry) -> str:
    """A Markdown table: source layer type -> Core ML layer(s), notes."""
    title = {"keras": "Keras layer", "onnx": "ONNX op"}.get(registry.name, "Source")
    lines = [f"| {title} | Core ML layer(s) | Notes |", "|---|---|---|"]
    for e in registry.entries():
        lines.append(f"| `{e.kind}` | {e.coreml} | {e.notes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = argv or ["keras", "onnx"]
    for name in wanted:
        registry = {"keras": KERAS, "onnx": ONNX}[name]
        if name == "onnx" and importlib.util.find_spec("converter.onnx") is None:
            continue
        print(f"### {name}: {len(registry.kinds())} types\n")
        print(markdown(registry))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
