"""Print the README's support table: ``python -m converter.support_table [keras|onnx|coreml]``."""
from __future__ import annotations

import sys
from pathlib import Path

from .registry import KERAS, ONNX, Registry


def markdown(registry: Registry) -> str:
    """A Markdown table: source layer type -> Core ML layer(s), notes."""
    title = {"keras": "Keras layer", "onnx": "ONNX op"}.get(registry.name, "Source")
    lines = [f"| {title} | Core ML layer(s) | Notes |", "|---|---|---|"]
    for e in registry.entries():
        if e.kind.startswith("Onnx"):   # the ONNX front end's internal graph-input/output kinds
            continue
        lines.append(f"| `{e.kind}` | {e.coreml} | {e.notes} |")
    return "\n".join(lines)


START, END = "<!-- support-table:start -->", "<!-- support-table:end -->"


def rewrites_markdown() -> str:
    """The Core ML front end's rewrites, in the order they run."""
    from .coreml import rewrites as _rewrites  # noqa: F401  (registration)
    from .coreml.registry import REWRITES

    lines = ["| rewrite | pattern (coremltools.convert's output) | becomes |", "|---|---|---|"]
    lines += [f"| `{r.name}` | {r.pattern} | {r.result} |" for r in REWRITES]
    return "\n".join(lines)


def tables(names: list[str] | None = None) -> str:
    """Every registry's table with a heading, as the README carries it."""
    parts = []
    for name in names or ["keras", "onnx", "coreml"]:
        if name == "coreml":
            from .coreml.registry import REWRITES
            table = rewrites_markdown()
            parts.append(f"### {len(REWRITES)} rewrites of existing Core ML models\n\n{table}\n")
            continue
        registry = {"keras": KERAS, "onnx": ONNX}[name]
        label = {"keras": "Keras layer types", "onnx": "ONNX op types"}[name]
        count = len([k for k in registry.kinds() if not k.startswith("Onnx")])
        parts.append(f"### {count} {label}\n\n{markdown(registry)}\n")
    return "\n".join(parts)


def readme_with_tables(readme: str) -> str:
    """``readme`` with the text between the support-table markers regenerated from the registries."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{tables()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Print the tables; ``--write-readme PATH`` regenerates that README's table section instead."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--write-readme"]:
        path = Path(argv[1] if len(argv) > 1 else "README.md")
        path.write_text(readme_with_tables(path.read_text()))
        return 0
    print(tables(argv or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
