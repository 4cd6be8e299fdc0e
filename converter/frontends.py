"""Pick the front end for a source: Keras objects and ``.keras``/``.h5`` files, ONNX ModelProtos and ``.onnx`` files."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ground.errors import BadInputError

from .ir import CompileFacts, SourceGraph
from .registry import KERAS, ONNX, Registry

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
ONNX_SUFFIXES = (".onnx",)


def read_source(source: Any, *, allow_unsafe: bool = False,
                input_shapes: dict[str, tuple[int, ...]] | None = None,
                compile_facts: CompileFacts | None = None) -> tuple[SourceGraph, Registry]:
    """The source graph and the mapper registry of its front end.

    ``input_shapes`` fixes dynamic input dimensions of an ONNX model (Keras models have fixed shapes);
    ``compile_facts`` gives an ONNX model the loss and optimizer it cannot carry (a training reference's).
    """
    is_onnx = (isinstance(source, (str, Path)) and Path(source).suffix.lower() in ONNX_SUFFIXES) \
        or type(source).__module__.startswith("onnx")
    if input_shapes and not is_onnx:
        raise BadInputError("input shapes can only be fixed for ONNX models; Keras models declare theirs",
                            fix="drop --input-shape")
    if isinstance(source, (str, Path)):
        suffix = Path(source).suffix.lower()
        if suffix in ONNX_SUFFIXES:
            from .onnx.reader import read_onnx  # the ONNX front end's entry point
            return read_onnx(source, input_shapes=input_shapes, compile_facts=compile_facts), ONNX
        if suffix not in KERAS_SUFFIXES and not Path(source).is_dir():
            raise BadInputError(f"unknown model file suffix '{suffix}'", where=str(source),
                                fix="pass a Keras (.keras, .h5) or ONNX (.onnx) model")
        from .keras.reader import read_keras
        return read_keras(source, allow_unsafe=allow_unsafe), KERAS
    if type(source).__module__.startswith("onnx"):
        from .onnx.reader import read_onnx
        return read_onnx(source, input_shapes=input_shapes, compile_facts=compile_facts), ONNX
    import keras

    if isinstance(source, keras.Model):
        from .keras.reader import read_keras
        return read_keras(source), KERAS
    raise BadInputError(f"cannot convert a {type(source).__name__}",
                        fix="pass a Keras model, a .keras/.h5 path or an .onnx path")
