"""The model's loss layer, as TensorFlow: categorical cross-entropy or mean squared error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from ground.errors import ValidationError
from ground.rules.update import loss_layers

from .conventions import Conventions
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
    """Read the single loss layer of ``nn.updateParams``; Core ML's rules 12-14 (Apple's messages, from
    :mod:`ground.rules`) raise :class:`ValidationError` first."""
    refused = [v for v in loss_layers(nn) if v.origin == "apple" or v.rule == "12"]
    if refused:
        raise ValidationError(refused, context="the model's loss layer")
    loss = nn.updateParams.lossLayers[0]
    if loss.WhichOneof("LossLayerType") == "categoricalCrossEntropyLossLayer":
        p = loss.categoricalCrossEntropyLossLayer
        softmax = network.layers[network.producer[p.input]]
        return Loss("cce", loss.name, p.input, p.target, softmax.input[0])
    p = loss.meanSquaredErrorLossLayer
    return Loss("mse", loss.name, p.input, p.target, p.input)


MSE_FACTORS = {"mean_no_half": 1.0, "mean_half": 0.5}
"""MSE convention -> the factor before the mean of squared errors."""


def compute(loss: Loss, output: tf.Tensor, target: tf.Tensor, conventions: Conventions) -> tf.Tensor:
    """The mini-batch loss from the network's ``loss.blob`` (backend layout) and the batch's target."""
    if loss.kind == "cce":
        if conventions.cross_entropy != "fused_logits":
            raise ValueError(f"unknown cross-entropy convention {conventions.cross_entropy!r}")
        logits = tf.reshape(output, [tf.shape(output)[0], -1])
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
    else:
        factor = MSE_FACTORS.get(conventions.mse)
        if factor is None:
            raise ValueError(f"unknown MSE convention {conventions.mse!r}")
        target = tf.reshape(target, tf.shape(output))   # e.g. a [10] target for a rank-N [1, 10] blob
        per_example = tf.reduce_mean(tf.reshape(tf.square(output - target), [tf.shape(output)[0], -1]), axis=1)
        if factor != 1.0:
            per_example = factor * per_example
    if conventions.batch_loss == "mean":
        return tf.reduce_mean(per_example)
    if conventions.batch_loss == "sum":
        return tf.reduce_sum(per_example)
    raise ValueError(f"unknown batch-loss convention {conventions.batch_loss!r}")
