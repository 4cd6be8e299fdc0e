"""Keras layer mappers; importing this package registers them all in ``converter.registry.KERAS``."""
from . import activations, conv, core, merge, pooling, recurrent, spatial  # noqa: F401  (registration)
