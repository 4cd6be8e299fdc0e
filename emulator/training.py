"""``update``: train a model with its own update parameters, as Core ML's MLUpdateTask does.

Only layers marked updatable change; every other weight is copied bit for bit. Each mini-batch runs as
one compiled TensorFlow graph call (gather, forward, loss, gradients, optimizer step). The behaviours
Apple leaves undocumented come from :mod:`emulator.conventions`, and every result reports them.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol

import numpy as np
import tensorflow as tf

from ground.errors import BadInputError, TrainingDivergedError, ValidationError
from ground.rules import violations

from . import features as F
from . import losses, optimizers, shuffle
from .conventions import CORE_ML, Conventions
from .events import Callback, ProgressBar, TrainingEvent
from .layers import OPS, layer_kind
from .network import Network
from .settings import UpdateSettings, resolve
from ground.spec_io import save_spec

log = logging.getLogger(__name__)

STEPS_PER_CALL = 16
"""Mini-batches trained per compiled graph call (a ``tf.while_loop``, strictly one after another).
Their events are delivered when the call returns; a larger value saves Python dispatch per step."""


class Trainable(Protocol):
    """What training reads of an :class:`emulator.model.Model` (model.py imports this module, not the reverse)."""

    spec: Any
    kind: str
    nn: Any
    network: Network
    inputs: list[F.Feature]
    training_inputs: list[F.Feature]
    input_shapes: dict[str, tuple[int, ...]]
    class_labels: list | None

    def __init__(self, spec: Any) -> None: ...

    @property
    def label_output(self) -> str | None: ...


@dataclass
class UpdateResult:
    """The updated model and what the run did."""

    model: Trainable                             # emulator.Model with the trained weights
    settings: UpdateSettings
    conventions: dict[str, str]
    batch_losses: list[np.ndarray] = field(default_factory=list)   # per epoch, one loss per mini-batch
    orders: list[np.ndarray] = field(default_factory=list)         # per epoch, the example order used
    wall_time_s: float = 0.0

    @property
    def spec(self):
        return self.model.spec

    @property
    def epoch_losses(self) -> list[float]:
        """Core ML's epoch-end lossValue: the last mini-batch's loss."""
        return [float(b[-1]) for b in self.batch_losses]

    @property
    def epoch_mean_losses(self) -> list[float]:
        return [float(np.mean(b)) for b in self.batch_losses]

    def save(self, path) -> None:
        """Write the updated model (identical to the input but for the trained weights), atomically."""
        save_spec(self.model.spec, path)

    def summary(self) -> dict[str, Any]:
        return {"settings": self.settings.as_dict(), "conventions": self.conventions,
                "epoch_losses_last_batch": self.epoch_losses, "epoch_losses_mean": self.epoch_mean_losses,
                "wall_time_s": self.wall_time_s}


def batch_orders(n: int, epochs: int, shuffle_on: bool, seed: int | None,
                 conventions: Conventions = CORE_ML) -> list[np.ndarray]:
    """The example order of every epoch, as the runtime (and, by the best evidence, Core ML) uses it."""
    if conventions.shuffle != "libcxx_minstd":
        raise ValueError(f"unknown shuffle convention {conventions.shuffle!r}")
    return shuffle.epoch_orders(n, epochs, shuffle=shuffle_on, seed=seed,
                                reshuffle_every_epoch=conventions.reshuffle == "every_epoch")


def batches_per_epoch(n: int, batch_size: int, conventions: Conventions = CORE_ML) -> int:
    if conventions.partial_last_batch == "keep":
        return -(-n // batch_size)
    if conventions.partial_last_batch == "drop":
        return n // batch_size
    raise ValueError(f"unknown partial-batch convention {conventions.partial_last_batch!r}")


def updatable_layers(model: Trainable) -> list[Any]:
    """The layers marked updatable, once Core ML's rules (at least one, of an updatable type) hold."""
    if not model.spec.isUpdatable:
        raise BadInputError("the model is not updatable (isUpdatable is false)",
                            fix="convert it with 'coreml-updatable convert' to make it updatable")
    refuse_what_core_ml_refuses(model.spec)
    return [layer for layer in model.network.layers if layer.isUpdatable]


def refuse_what_core_ml_refuses(spec: Any) -> None:
    """Raise ValidationError when Core ML's own validator would refuse to load ``spec`` for update.

    Autodiff would train through anything; a device will not (e.g. a leaky ReLU between an updatable
    layer and the loss). Only Apple's rules count here, not the stricter checks of coremltools or of
    this project (``RuleViolation.origin``).
    """
    refused = [v for v in violations(spec) if v.origin == "apple"]
    if refused:
        raise ValidationError(refused, context="Core ML would refuse to update this model on device: it")


def _target_array(model: Trainable, loss: losses.Loss, values: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices (int32, (N,)) for cross-entropy; a backend-layout float array for MSE."""
    if loss.kind == "mse":
        feature = next((f for f in model.training_inputs if f.name == loss.target), None)
        shape = feature.shape if feature is not None and feature.shape else values.shape[1:]
        return F.to_backend(values, F.Feature(loss.target, "multiArray", tuple(shape)))
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise BadInputError(f"target '{loss.target}' has shape {values.shape}; cross-entropy takes one class "
                            "per example", fix="pass class indices of shape (N,) or (N, 1), not one-hot rows")
    if model.class_labels is not None and loss.target == model.label_output:
        index = {label: i for i, label in enumerate(model.class_labels)}
        labels = values.tolist()
        bad = sorted({str(v) for v in labels if v not in index})
        if bad:
            raise BadInputError(f"target labels {bad[:5]} are not among the model's class labels",
                                fix=f"use labels from {list(model.class_labels)[:10]}")
        return np.asarray([index[v] for v in labels], dtype=np.int32)
    if not np.issubdtype(values.dtype, np.number) or not np.all(np.mod(values, 1) == 0):
        raise BadInputError(f"target '{loss.target}' must hold integer class indices",
                            fix="pass class indices 0..K-1")
    if values.size and (values.min() < 0 or values.max() >= n_classes):
        raise BadInputError(f"target '{loss.target}' holds class indices in [{values.min()}, {values.max()}] "
                            f"but the model has {n_classes} classes", fix=f"use indices 0..{n_classes - 1}")
    return values.astype(np.int32)


def _prepare(model: Trainable, loss: losses.Loss, data: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    tensor_inputs = [f for f in model.inputs if f.is_tensor]
    needed_inputs = [f for f in tensor_inputs if f.name in set(_ancestors_inputs(model, loss))]
    required = [f.name for f in needed_inputs] + [loss.target]
    missing = [name for name in required if name not in data]
    unknown = sorted(set(data) - set(required) - {f.name for f in tensor_inputs})
    if missing or unknown:
        raise BadInputError(f"training data does not match the model's training inputs: missing {missing}"
                            + (f", unknown {unknown}" if unknown else ""),
                            fix=f"pass a dict with {required}")
    sizes = {name: len(data[name]) for name in required}
    if len(set(sizes.values())) != 1:
        raise BadInputError(f"the data set's sizes do not match: {sizes}",
                            fix="pass one target per input example")
    n = next(iter(sizes.values()))
    if n == 0:
        raise BadInputError("the training data is empty", fix="pass at least one example")
    feeds = {f.name: F.to_backend(data[f.name], f) for f in needed_inputs}
    for name, arr in feeds.items():
        if not np.all(np.isfinite(arr)):
            raise BadInputError(f"input '{name}' contains NaN or infinite values", fix="clean the data")
    output_shape = model.network.blob_shapes(model.input_shapes, [loss.blob])[loss.blob]
    target = _target_array(model, loss, data[loss.target], int(np.prod(output_shape)))
    return feeds, target


def _ancestors_inputs(model: Trainable, loss: losses.Loss) -> Iterable[str]:
    used = set()
    for i in model.network.needed_layers([loss.blob]):
        used.update(model.network.layers[i].input)
    return used


def update(model: Trainable, data: Mapping[str, np.ndarray], *, callbacks: Iterable[Callback] = (),
           progress: bool = False, conventions: Conventions = CORE_ML, **overrides: Any) -> UpdateResult:
    """Train ``model`` on ``data`` (training-input name -> array in Core ML layout).

    ``overrides``: learning_rate, batch_size, epochs, momentum, beta1, beta2, eps, shuffle, seed; each
    checked against the model's allowed values. Returns an :class:`UpdateResult`; the input model is
    not changed.
    """
    started = time.perf_counter()
    trainable = updatable_layers(model)
    settings = resolve(model.nn.updateParams, {k: v for k, v in overrides.items() if v is not None})
    loss = losses.from_spec(model.nn, model.network)
    on_path = {model.network.layers[i].name for i in model.network.needed_layers([loss.blob])}
    off_path = [layer.name for layer in trainable if layer.name not in on_path]
    if off_path:
        raise BadInputError(f"updatable layer(s) {off_path} do not lead to the loss's input '{loss.blob}': training "
                            "could not change them", fix="mark only layers between the input and the loss updatable")
    feeds, target = _prepare(model, loss, data)
    n = len(target)
    callbacks = list(callbacks) + ([ProgressBar()] if progress else [])

    params = model.network.constant_params()
    variables: dict[str, dict[str, tf.Variable]] = {}
    for layer in trainable:
        variables[layer.name] = {k: tf.Variable(v, name=f"{layer.name}_{k}")     # the planned layout
                                 for k, v in model.network.params[layer.name].items()}
        params[layer.name] = variables[layer.name]
    var_list = [v for layer_vars in variables.values() for v in layer_vars.values()]
    optimizer = optimizers.make(var_list, settings, conventions)
    x = {k: tf.constant(v) for k, v in feeds.items()}
    y = tf.constant(target)
    network = model.network

    def train_step(idx):
        batch = {k: tf.gather(v, idx) for k, v in x.items()}
        with tf.GradientTape() as tape:
            out = network.forward(batch, params, [loss.blob])[loss.blob]
            value = losses.compute(loss, out, tf.gather(y, idx), conventions)
        optimizer.apply(tape.gradient(value, var_list))
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

    orders = batch_orders(n, settings.epochs, settings.shuffle, settings.seed, conventions)
    per_epoch = batches_per_epoch(n, settings.batch_size, conventions)
    if per_epoch == 0:
        raise BadInputError(f"{n} examples make no full mini-batch of {settings.batch_size}",
                            fix="lower the batch size or pass more data")
    emit = _emitter(callbacks)
    emit(TrainingEvent("training_begin", epochs=settings.epochs, batches_per_epoch=per_epoch))
    log.info("training %d examples, %d mini-batches per epoch: %s", n, per_epoch, settings.as_dict())
    all_losses = []
    bsz = settings.batch_size
    for epoch, order in enumerate(orders):
        epoch_losses = np.empty(per_epoch, dtype=np.float64)
        for first, chunk in _chunks(order.astype(np.int32), bsz, per_epoch):
            values = train_steps(tf.constant(chunk)).numpy()
            for b, value in enumerate(values.tolist(), start=first):
                if not math.isfinite(value):
                    raise TrainingDivergedError(epoch=epoch + 1, batch=b + 1, loss=value)
                epoch_losses[b] = value
                emit(TrainingEvent("mini_batch_end", epoch, b, value, epochs=settings.epochs,
                                   batches_per_epoch=per_epoch))
        all_losses.append(epoch_losses)
        emit(TrainingEvent("epoch_end", epoch, per_epoch - 1, float(epoch_losses[-1]),
                           float(epoch_losses.mean()), settings.epochs, per_epoch))

    new_spec = type(model.spec)()
    new_spec.CopyFrom(model.spec)
    for layer in getattr(new_spec, model.kind).layers:
        if layer.name in variables:
            values = {k: v.numpy() for k, v in variables[layer.name].items()}
            OPS[layer_kind(layer)].write_back(layer, model.network.plan.to_spec_layout(layer.name, values))
    applied = conventions.describe(loss.kind, settings.optimizer, settings.shuffle)   # only those that apply
    result = UpdateResult(type(model)(new_spec), settings, applied, all_losses, orders, time.perf_counter() - started)
    emit(TrainingEvent("training_end", settings.epochs - 1, per_epoch - 1, result.epoch_losses[-1],
                       result.epoch_mean_losses[-1], settings.epochs, per_epoch))
    return result


def _chunks(order: np.ndarray, batch_size: int, per_epoch: int):
    """(index of the first mini-batch, (K, B) example indices) for every graph call of one epoch.

    Full mini-batches go STEPS_PER_CALL at a time; a kept partial last batch goes alone, at its size.
    """
    full = min(per_epoch, len(order) // batch_size)
    rows = order[:full * batch_size].reshape(full, batch_size)
    for first in range(0, full, STEPS_PER_CALL):
        yield first, rows[first:first + STEPS_PER_CALL]
    if per_epoch > full:
        yield full, order[full * batch_size:][None, :]


def _emitter(callbacks: list[Callback]):
    def emit(event: TrainingEvent) -> None:
        for cb in callbacks:
            cb(event)
    return emit
