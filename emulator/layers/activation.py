"""The ``activation`` layer: one function per Core ML ``ActivationParams`` non-linearity."""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from coreml_updatable.errors import UnsupportedConfigError

from .registry import op

ACTIVATIONS: dict[str, Callable] = {}
"""Core ML non-linearity name (the ``NonlinearityType`` oneof field) -> fn(params_msg, x, layer_params)."""


def activation(name: str):
    def register(fn):
        ACTIVATIONS[name] = fn
        return fn
    return register


@activation("linear")
def _linear(a, x, _):
    return a.alpha * x + a.beta


@activation("ReLU")
def _relu(a, x, _):
    return tf.nn.relu(x)


@activation("sigmoid")
def _sigmoid(a, x, _):
    return tf.sigmoid(x)


@activation("tanh")
def _tanh(a, x, _):
    return tf.tanh(x)


def _activation_params(layer) -> dict:
    kind = layer.activation.WhichOneof("NonlinearityType")
    params_fn = ACTIVATION_PARAMS.get(kind)
    return params_fn(layer) if params_fn else {}


ACTIVATION_PARAMS: dict[str, Callable] = {}
"""Non-linearities with weights (PReLU, parametric softplus): name -> fn(layer) -> params."""


def _activation_supported(layer) -> str | None:
    kind = layer.activation.WhichOneof("NonlinearityType")
    return None if kind in ACTIVATIONS else f"activation '{kind}' is not implemented"


@op("activation", params=_activation_params, supports=_activation_supported)
def activation_layer(layer, inputs, params):
    kind = layer.activation.WhichOneof("NonlinearityType")
    fn = ACTIVATIONS.get(kind)
    if fn is None:
        raise UnsupportedConfigError(f"activation '{kind}' is not implemented by the emulator",
                                     where=f"layer '{layer.name}'",
                                     fix=f"use one of {', '.join(sorted(ACTIVATIONS))}")
    return [fn(getattr(layer.activation, kind), inputs[0], params)]
