"""Front ends (Keras, ONNX) that turn source models into Core ML inference specs.

``converter.convert.convert(model_or_path, ...)`` is the entry point; see :mod:`converter.convert`.
"""
