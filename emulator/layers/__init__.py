"""Layer implementations, registered by Core ML layer type; importing this package registers all."""
from . import activation, core, elementwise, embedding, normalization, shape  # noqa: F401  (registration)
from .registry import OPS, Op, layer_kind, op

__all__ = ["OPS", "Op", "layer_kind", "op"]
