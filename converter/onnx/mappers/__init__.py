"""ONNX op mappers; importing this package registers them in ``converter.registry.ONNX``."""
from . import activations, arith, io, pooling, spatial, weighted  # noqa: F401
