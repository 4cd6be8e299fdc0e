"""The one place parity calls the converter: the same ``convert`` users call (a spec from anywhere else
can be verified too, with :func:`parity.verify_pair`)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from converter.convert import ConversionResult, convert
from transforms.options import UpdateOptions


def convert_source(path: Path, options: UpdateOptions | None, *, reference: Any = None,
                   input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> ConversionResult:
    """Convert the model at ``path`` (Keras, or ONNX with an optional Keras training ``reference``)."""
    return convert(str(path), options=options, reference=reference,
                   input_shapes=dict(input_shapes) if input_shapes else None)
