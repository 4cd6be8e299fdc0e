"""The ``activation`` layer: one function per Core ML ``ActivationParams`` non-linearity."""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

from ground.errors import UnsupportedConfigError

from . import weights as W
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


@activation("leakyReLU")
def _leaky_relu(a, x, _):
    return tf.where(x >= 0, x, a.alpha * x)


@activation("thresholdedReLU")
def _thresholded_relu(a, x, _):
    return tf.where(x >= a.alpha, x, tf.zeros_like(x))


@activation("sigmoid")
def _sigmoid(a, x, _):
    return tf.sigmoid(x)


@activation("sigmoidHard")
def _sigmoid_hard(a, x, _):
    return tf.clip_by_value(a.alpha * x + a.beta, 0.0, 1.0)


@activation("tanh")
def _tanh(a, x, _):
    return tf.tanh(x)


@activation("scaledTanh")
def _scaled_tanh(a, x, _):
    return a.alpha * tf.tanh(a.beta * x)


@activation("ELU")
def _elu(a, x, _):
    return tf.where(x >= 0, x, a.alpha * tf.math.expm1(tf.minimum(x, 0.0)))


@activation("softsign")
def _softsign(a, x, _):
    return x / (1.0 + tf.abs(x))


@activation("softplus")
def _softplus(a, x, _):
    return tf.nn.softplus(x)


@activation("PReLU")
def _prelu(a, x, params):
    return tf.where(x >= 0, x, params["alpha"] * x)


@activation("parametricSoftplus")
def _parametric_softplus(a, x, params):
    return params["alpha"] * tf.nn.softplus(params["beta"] * x)


ACTIVATION_PARAMS: dict[str, Callable] = {}
"""Non-linearities with weights (PReLU, parametric softplus): name -> fn(layer) -> params."""


def _prelu_params(layer) -> dict:
    return {"alpha": W.read_vector(layer.activation.PReLU.alpha, where=layer.name, what="PReLU alpha")}


def _parametric_softplus_params(layer) -> dict:
    a = layer.activation.parametricSoftplus
    return {"alpha": W.read_vector(a.alpha, where=layer.name, what="parametricSoftplus alpha"),
            "beta": W.read_vector(a.beta, where=layer.name, what="parametricSoftplus beta")}


ACTIVATION_PARAMS["PReLU"] = _prelu_params
ACTIVATION_PARAMS["parametricSoftplus"] = _parametric_softplus_params


def _activation_params(layer) -> dict:
    kind = layer.activation.WhichOneof("NonlinearityType")
    params_fn = ACTIVATION_PARAMS.get(kind)
    return params_fn(layer) if params_fn else {}


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
    x = inputs[0]
    channels = int(x.shape[-1])
    for key, values in params.items():  # per-channel weights (PReLU, parametricSoftplus): 1 or C values
        if int(values.shape[0]) not in (1, channels):
            raise UnsupportedConfigError(
                f"{kind} {key} has {int(values.shape[0])} values but the input has {channels} channels",
                where=f"layer '{layer.name}'", fix=f"give {key} 1 or {channels} values")
    return [fn(getattr(layer.activation, kind), x, params)]


@op("gelu")
def gelu_layer(layer, inputs, params):
    """Core ML ``gelu`` (spec 5): EXACT 0.5x(1+erf(x/sqrt2)), TANH_ or SIGMOID_APPROXIMATION."""
    x = inputs[0]
    mode = layer.gelu.mode
    if mode == 0:
        return [0.5 * x * (1.0 + tf.math.erf(x / tf.sqrt(2.0)))]
    if mode == 1:
        return [0.5 * x * (1.0 + tf.tanh(tf.sqrt(2.0 / 3.141592653589793) * (x + 0.044715 * x ** 3)))]
    return [x * tf.sigmoid(1.702 * x)]
