"""The Keras side of a parity run: the source model, set up to train as Core ML trains it.

- Layers are called in inference mode (``training=False``) inside the train step: Core ML has no
  dropout and keeps batch normalization on its moving statistics, so the Keras side does the same.
- Only the layers Core ML should update are trainable (``trainable=False`` everywhere else, batch
  normalization included).
- Cross-entropy is computed from the logits (the final softmax's input) with class-index targets,
  the mean over the mini-batch: the runtime's convention, and the same loss as Keras'
  ``categorical_crossentropy`` on one-hot targets.
- The exact batches the Core ML side used, in the same order (no ``model.fit`` shuffling): the data
  goes to TensorFlow once, and each call of a compiled ``tf.function`` trains up to
  ``emulator.training.STEPS_PER_CALL`` mini-batches one after another (a ``tf.while_loop`` of the same
  step, each batch gathered by its example indices), as the runtime does; the step's arithmetic is that
  of one call per batch.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from ground.errors import UnsupportedModelError

from converter.reference import KERAS_KIND, flat_layers
from converter.reference import weighted_layers as keras_weighted_layers

log = logging.getLogger(__name__)

DROPOUT_KINDS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                 "GaussianNoise", "AlphaDropout")


class KerasSide:
    """A private copy of the Keras model with the trainable layers, optimizer and loss of the run."""

    def __init__(self, model: Any, *, trainable: set[str], loss: str, optimizer: str,
                 values: dict[str, float]) -> None:
        import keras

        self.notes: list[str] = []
        try:
            self.model = keras.models.clone_model(model)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise UnsupportedModelError(f"cannot copy the Keras model for training ({exc})",
                                        fix="use a Sequential or functional Keras model") from None
        self.model.set_weights(model.get_weights())
        self.loss = loss
        self._describe_design_differences()
        for layer in self.model.layers:
            self._set_trainable(layer, trainable)
        self.variables = list(self.model.trainable_variables)
        self.logits_model, self.output_is_logits = self._logits_model(keras)
        if optimizer == "adam":
            self.optimizer = keras.optimizers.Adam(
                learning_rate=values["learning_rate"], beta_1=values.get("beta1", 0.9),
                beta_2=values.get("beta2", 0.999), epsilon=values.get("eps", 1e-7), amsgrad=False)
        else:
            self.optimizer = keras.optimizers.SGD(learning_rate=values["learning_rate"],
                                                  momentum=values.get("momentum", 0.0), nesterov=False)
        self.optimizer.build(self.variables)
        self._step = None

    # ------------------------------------------------------------------ setup

    def _set_trainable(self, layer: Any, trainable: set[str]) -> None:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional", "Model"):
            for sub in layer.layers:
                self._set_trainable(sub, trainable)
            return
        if type(layer).__name__ in KERAS_KIND:
            layer.trainable = layer.name in trainable
        elif layer.weights:
            layer.trainable = False

    def _describe_design_differences(self) -> None:
        for layer in flat_layers(self.model):
            kind = type(layer).__name__
            if kind in DROPOUT_KINDS:
                rate = getattr(layer, "rate", getattr(layer, "stddev", ""))
                self.notes.append(f"{kind} '{layer.name}' ({rate}): Core ML has no dropout; the Keras side "
                                  "trains without it (inference mode)")
            elif kind == "BatchNormalization":
                self.notes.append(f"BatchNormalization '{layer.name}': Core ML keeps it in inference mode "
                                  "(moving statistics, frozen scale and offset); so does the Keras side")
        if self.loss == "cce":
            self.notes.append("targets: class indices on both sides; Keras' categorical_crossentropy on "
                              "one-hot targets is the same loss")

    def _logits_model(self, keras: Any) -> tuple[Any, bool]:
        """A model returning the final softmax's input when the loss is cross-entropy."""
        if self.loss != "cce":
            return self.model, False
        last = self.model.layers[-1]
        kind = type(last).__name__
        act = getattr(last, "activation", None)
        if kind == "Softmax" or (kind == "Activation" and getattr(act, "__name__", "") == "softmax"):
            return keras.Model(self.model.inputs, last.input), True
        if getattr(act, "__name__", "") == "softmax":
            last.activation = keras.activations.linear  # on the private copy only: it now returns logits
            return self.model, True
        self.notes.append(f"the Keras model ends in '{last.name}' without a softmax; its output is taken as "
                          "the logits of the cross-entropy")
        return self.model, True

    # ------------------------------------------------------------------ training

    def _compiled_steps(self, x_spec: tf.TensorSpec, y_spec: tf.TensorSpec):
        """``steps(x, y, indices)``: one mini-batch ``x[indices[k]]`` per row of ``indices`` (K, B), in
        order; returns the K losses."""
        model, variables, optimizer, loss = self.logits_model, self.variables, self.optimizer, self.loss

        def step(x, y):
            with tf.GradientTape() as tape:
                out = model(x, training=False)
                value = batch_loss(loss, out, y)
            grads = tape.gradient(value, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return value

        @tf.function(input_signature=[x_spec, y_spec, tf.TensorSpec([None, None], tf.int32)], autograph=False)
        def steps(x, y, indices):
            count = tf.shape(indices)[0]

            def body(k, values):
                return k + 1, values.write(k, step(tf.gather(x, indices[k]), tf.gather(y, indices[k])))

            _, values = tf.while_loop(lambda k, _: k < count, body,
                                      [tf.constant(0), tf.TensorArray(tf.float32, size=count)])
            return values.stack()

        return steps

    def train(self, x: np.ndarray, y: np.ndarray, orders: Sequence[np.ndarray], batch_size: int, *,
              progress: bool = False) -> tuple[list[np.ndarray], float]:
        """Train on ``x[order[b*B:(b+1)*B]]`` for every epoch's order; (per-epoch batch losses, seconds).
        With ``progress``, the same bar / per-epoch lines as the Core ML side (:mod:`emulator.progress`)."""
        from emulator.progress import Progress
        from emulator.training import batches_per_epoch, call_chunks

        y = y.astype(np.int32) if self.loss == "cce" else y.astype(np.float32)
        steps = self._compiled_steps(tf.TensorSpec((None, *x.shape[1:]), tf.float32),
                                     tf.TensorSpec((None, *y.shape[1:]), tf.as_dtype(y.dtype)))
        per_epoch = batches_per_epoch(len(x), batch_size)   # the runtime's partial-batch convention
        losses = []
        started = time.perf_counter()
        x_all, y_all = tf.constant(x, tf.float32), tf.constant(y)
        with Progress("Keras", len(orders), per_epoch, mode="auto" if progress else "off") as bar:
            for epoch, order in enumerate(orders):
                epoch_losses = np.empty(per_epoch)
                for first, rows in call_chunks(np.asarray(order, np.int32), batch_size, per_epoch):
                    for b, value in enumerate(steps(x_all, y_all, tf.constant(rows)).numpy().tolist(), start=first):
                        epoch_losses[b] = value
                        bar.batch(epoch + 1, value)
                losses.append(epoch_losses)
                bar.epoch(epoch + 1, float(epoch_losses[-1]), float(epoch_losses.mean()))
        elapsed = time.perf_counter() - started
        return losses, elapsed

    # ------------------------------------------------------------------ reading

    def logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """The loss's input for ``x`` (logits for cross-entropy), (N, ...) in Keras' layout."""
        outs = [np.asarray(self.logits_model(tf.constant(x[i:i + batch_size]), training=False))
                for i in range(0, len(x), batch_size)]
        return np.concatenate(outs)

    def layer(self, name: str) -> Any:
        for layer in keras_weighted_layers(self.model):
            if layer.name == name:
                return layer
        raise KeyError(name)

    def frozen_snapshot(self) -> dict[str, np.ndarray]:
        """Every non-trainable weight, by path, to prove afterwards that none changed."""
        return {v.path: np.array(v) for v in self.model.weights if not _is_trainable(v, self.variables)}


def _is_trainable(v: Any, variables: list[Any]) -> bool:
    return any(v is t for t in variables)


def batch_loss(kind: str, out: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The runtime's loss conventions: mean over the batch; fused cross-entropy; MSE without 1/2."""
    n = tf.shape(out)[0]
    if kind == "cce":
        logits = tf.reshape(out, [n, -1])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return tf.reduce_mean(tf.square(tf.reshape(out, [n, -1]) - tf.reshape(tf.cast(y, out.dtype), [n, -1])))
