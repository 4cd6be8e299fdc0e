"""Layer implementations, registered by Core ML layer type; importing this package registers all."""
from . import activation, core, elementwise, embedding, normalization, shape  # noqa: F401  (registration)
from . import nd_classic, nd_math, nd_shape, recurrent  # noqa: F401,E402  (rank-N layers; after the classic ones)
from .registry import OPS, Op, layer_kind, op

__all__ = ["OPS", "Op", "layer_kind", "op"]
