"""One compiled training graph per model, reused across runs with other weights and data swapped in.

:func:`emulator.training.update` trains through a :class:`Trainer`, and so does anything that trains
the same architecture many times (a simulated fleet of devices): tracing and compiling the graph
happens once per model and optimizer form, and each run only assigns its starting weights, its data
and fresh optimizer state. A run from a reused trainer is bit-identical to a run from a fresh one.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf

from . import losses, optimizers
from .conventions import Conventions
from .network import Params
from .settings import UpdateSettings


def _graph_key(settings: UpdateSettings, conventions: Conventions) -> tuple:
    """What the compiled graph bakes in: the optimizer's form and constants, and the conventions.
    (The learning rate, batch size, epochs, shuffle and seed vary freely between runs.)"""
    return (settings.optimizer, settings.momentum, settings.beta1, settings.beta2, settings.eps,
            tuple(sorted(conventions.as_dict().items())))


class Trainer:
    """The training graph of one model: weights, optimizer state and data held in variables.

    ``start`` loads a run (starting weights, data, settings); ``steps`` trains mini-batches;
    ``weights`` reads the updatable layers' current weights (backend layout, as ``Network.params``).
    """

    def __init__(self, model, loss: losses.Loss, settings: UpdateSettings, conventions: Conventions,
                 trainable: list[str], input_shapes: Mapping[str, tuple[int, ...]], target_dtype) -> None:
        self.model = model
        self.trainable = list(trainable)
        network = model.network
        params = network.constant_params()
        self.variables: dict[str, dict[str, tf.Variable]] = {}
        for name in self.trainable:
            self.variables[name] = {k: tf.Variable(v, name=f"{name}_{k}") for k, v in network.params[name].items()}
            params[name] = self.variables[name]
        var_list = [v for layer_vars in self.variables.values() for v in layer_vars.values()]
        self.optimizer = optimizers.make(var_list, settings, conventions)
        self.x = {k: tf.Variable(np.zeros((0, *shape), np.float32), shape=tf.TensorShape([None, *shape]),
                                 trainable=False, name=f"data_{k}") for k, shape in input_shapes.items()}
        self.y = tf.Variable(np.zeros((0,), target_dtype), shape=tf.TensorShape(None), trainable=False,
                             name="data_target")
        x, y = self.x, self.y

        def train_step(idx):
            batch = {k: tf.gather(v, idx) for k, v in x.items()}
            with tf.GradientTape() as tape:
                out = network.forward(batch, params, [loss.blob])[loss.blob]
                value = losses.compute(loss, out, tf.gather(y, idx), conventions)
            self.optimizer.apply(tape.gradient(value, var_list))
            return value

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False)
        def train_steps(indices):
            """One mini-batch per row of ``indices`` (K, B), in order; returns the K losses."""
            count = tf.shape(indices)[0]

            def body(k, values):
                return k + 1, values.write(k, train_step(indices[k]))

            _, values = tf.while_loop(lambda k, _: k < count, body,
                                      [tf.constant(0), tf.TensorArray(tf.float32, size=count)])
            return values.stack()

        self._train_steps = train_steps

    def start(self, feeds: Mapping[str, np.ndarray], target: np.ndarray, settings: UpdateSettings,
              weights: Params | None = None) -> None:
        """Begin a run: the updatable layers' starting weights (backend layout; default the model's
        own), the data (backend layout, as ``training._prepare`` returns it) and fresh optimizer state."""
        for name, layer_vars in self.variables.items():
            source = (weights or {}).get(name, self.model.network.params[name])
            for k, var in layer_vars.items():
                var.assign(source[k])
        for k, var in self.x.items():
            var.assign(feeds[k])
        self.y.assign(target)
        self.optimizer.reset(settings)

    def steps(self, indices: np.ndarray) -> np.ndarray:
        """Train one mini-batch per row of ``indices`` (K, B) int32; return the K losses."""
        return self._train_steps(tf.constant(indices)).numpy()

    def weights(self) -> Params:
        """The updatable layers' current weights, numpy, backend layout."""
        return {name: {k: v.numpy() for k, v in layer_vars.items()} for name, layer_vars in self.variables.items()}


def trainer_for(model, loss: losses.Loss, settings: UpdateSettings, conventions: Conventions,
                trainable: list[str], feeds: Mapping[str, np.ndarray], target: np.ndarray) -> Trainer:
    """The model's trainer for this optimizer form, compiled on first use and kept on the model."""
    cache = model.__dict__.setdefault("_trainers", {})
    shapes = {k: tuple(int(s) for s in v.shape[1:]) for k, v in feeds.items()}
    key = (_graph_key(settings, conventions), tuple(trainable), tuple(sorted(shapes.items())),
           str(target.dtype), target.shape[1:])
    if key not in cache:
        cache[key] = Trainer(model, loss, settings, conventions, trainable, shapes, target.dtype)
    return cache[key]
