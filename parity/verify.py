"""``verify``: convert a model with the converter users call, then prove the result against its source.

A Keras source is its own training reference: :func:`parity.harness.verify_pair` trains both sides.
An ONNX source is checked against onnxruntime, and trained against ``reference`` (the Keras model it
was exported from) when one is given (:mod:`parity.onnx_verify`).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import data_loading as D
from ground.errors import BadInputError, UnsupportedModelError
from transforms.options import UpdateOptions

from .convert_hook import convert_source
from .harness import verify_pair, with_run_settings
from .onnx_forward import ForwardFigures
from .onnx_verify import verify_onnx
from .report import ParityReport
from .tolerances import DEFAULT, Tolerances


def verify(source: str | Path, data: str | Path | D.Dataset, *, options: UpdateOptions | None = None,
           epochs: int | None = None, batch_size: int | None = None, limit: int | None = None,
           report_dir: str | Path | None = None, tolerances: Tolerances = DEFAULT,
           progress: bool = False, reference: str | Path | None = None,
           input_shapes: dict[str, tuple[int, ...]] | None = None) -> ParityReport | ForwardFigures:
    """Convert the model at ``source`` with ``options``, then prove it against its source.

    Returns a :class:`ParityReport` (training parity) for a Keras source, and for an ONNX source with a
    Keras ``reference``; :class:`ForwardFigures` (onnxruntime vs Core ML only) for an ONNX source
    without one, since training parity needs a model to train.
    """
    path = Path(source)
    if path.suffix.lower() == ".onnx":
        return verify_onnx(path, data, reference=reference, options=options, epochs=epochs,
                           batch_size=batch_size, limit=limit, report_dir=report_dir, tolerances=tolerances,
                           progress=progress, input_shapes=input_shapes)
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise UnsupportedModelError(
            f"verify needs a Keras (.keras, .h5) or ONNX (.onnx) model, not '{path.suffix}'",
            where=str(path), fix="pass a .keras, .h5 or .onnx model")
    if reference is not None or input_shapes:
        raise BadInputError("--reference and --input-shape are for ONNX sources; a Keras model is its own "
                            "reference", where=str(path), fix="drop them")
    if not path.exists():
        raise BadInputError("no such model file", where=str(path), fix="check the path")
    dataset = data if isinstance(data, D.Dataset) else D.load(data)  # fail on bad data before converting
    options = with_run_settings(options, epochs, batch_size)
    result = convert_source(path, options)
    import keras

    with warnings.catch_warnings():  # Keras warns that the saved optimizer's slots are not restored
        warnings.filterwarnings("ignore", message=".*Skipping variable loading for optimizer.*")
        keras_model = keras.models.load_model(path, compile=True)
    return verify_pair(keras_model, result.spec, dataset, options=options, epochs=epochs, batch_size=batch_size,
                       limit=limit, report_dir=report_dir, tolerances=tolerances, progress=progress,
                       source=str(path), conversion=result.report.lines())


__all__ = ["verify"]
