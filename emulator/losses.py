"""The model's loss layer, as TensorFlow: categorical cross-entropy or mean squared error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from ground.errors import UnsupportedConfigError, ValidationError, RuleViolation

from .conventions import Conventions
from .layers import layer_kind
from .network import Network


@dataclass(frozen=True)
class Loss:
    """Which loss, on which blob, with which target feature.

    ``blob`` is the blob the network must compute: for cross-entropy the softmax's *input* (logits),
    since the loss is fused with the softmax (see conventions); for MSE the loss layer's input.
    """

    kind: str        # 'cce' | 'mse'
    name: str
    input: str       # the loss layer's input blob
    target: str      # the training-input feature holding the target
    blob: str        # what the network computes for the loss


def from_spec(nn: Any, network: Network) -> Loss:
    """Read the single loss layer of ``nn.updateParams`` (rules 12-14)."""
    layers = list(nn.updateParams.lossLayers)
    if len(layers) != 1:
        msg = ("This model has more than one loss layers specified, which is not supported at the moment."
               if layers else "The model has no loss layer.")
        raise ValidationError([RuleViolation("12", msg, "updateParams", "convert the model with exactly one loss")])
    loss = layers[0]
    kind = loss.WhichOneof("LossLayerType")
    if kind == "categoricalCrossEntropyLossLayer":
        p = loss.categoricalCrossEntropyLossLayer
        producer = network.producer.get(p.input)
        softmax = network.layers[producer] if producer is not None else None
        if softmax is None or layer_kind(softmax) != "softmax":
            raise ValidationError([RuleViolation(
                "13", f"For the categorical cross entropy loss layer named '{loss.name}', input is not "
                "generated from a softmax output.", loss.name, "feed the loss from a softmax layer")])
        return Loss("cce", loss.name, p.input, p.target, softmax.input[0])
    if kind == "meanSquaredErrorLossLayer":
        p = loss.meanSquaredErrorLossLayer
        return Loss("mse", loss.name, p.input, p.target, p.input)
    raise UnsupportedConfigError(f"loss type '{kind}' is not supported", where=f"loss '{loss.name}'",
                                 fix="use categorical cross-entropy or mean squared error")


def compute(loss: Loss, output: tf.Tensor, target: tf.Tensor, conventions: Conventions) -> tf.Tensor:
    """The mini-batch loss from the network's ``loss.blob`` (backend layout) and the batch's target."""
    if loss.kind == "cce":
        if conventions.cross_entropy != "fused_logits":
            raise ValueError(f"unknown cross-entropy convention {conventions.cross_entropy!r}")
        logits = tf.reshape(output, [tf.shape(output)[0], -1])
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
    else:
        if conventions.mse != "mean_no_half":
            raise ValueError(f"unknown MSE convention {conventions.mse!r}")
        per_example = tf.reduce_mean(tf.reshape(tf.square(output - target), [tf.shape(output)[0], -1]), axis=1)
    if conventions.batch_loss == "mean":
        return tf.reduce_mean(per_example)
    if conventions.batch_loss == "sum":
        return tf.reduce_sum(per_example)
    raise ValueError(f"unknown batch-loss convention {conventions.batch_loss!r}")
