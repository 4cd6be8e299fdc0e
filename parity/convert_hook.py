"""The one place parity calls the converter (so a spec from anywhere else can be verified too)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def convert_keras(path: Path, options: Any | None) -> tuple[Any, list[str]]:
    """Convert the Keras model at ``path``; return (updatable spec, the conversion report's lines)."""
    from converter.convert import convert

    result = convert(str(path), options=options)
    return result.spec, result.report.lines()
