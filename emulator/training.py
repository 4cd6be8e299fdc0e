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

from ground.errors import BadInputError, TrainingDivergedError, UnsupportedConfigError, ValidationError
from ground.rules import violations

from . import features as F
from . import losses, shuffle
from .conventions import CORE_ML, Conventions
from .described import SpecResult
from .events import Callback, ProgressBar, TrainingEvent
from .layers import OPS, layer_kind
from .network import Network
from .settings import UpdateSettings, resolve

from .trainer import trainer_for

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
class UpdateResult(SpecResult):
    """The updated model and what the run did."""

    model: Trainable                             # emulator.Model with the trained weights
    settings: UpdateSettings
    conventions: dict[str, str]
    batch_losses: list[np.ndarray] = field(default_factory=list)   # per epoch, one loss per mini-batch
    orders: list[np.ndarray] = field(default_factory=list)         # per epoch, the example order used
    wall_time_s: float = 0.0

    @property
    def epoch_losses(self) -> list[float]:
        """Core ML's epoch-end lossValue: the last mini-batch's loss."""
        return [float(b[-1]) for b in self.batch_losses]

    @property
    def epoch_mean_losses(self) -> list[float]:
        return [float(np.mean(b)) for b in self.batch_losses]

    def summary(self) -> dict[str, Any]:
        return {"settings": self.settings.as_dict(), "conventions": self.conventions,
                "epoch_losses_last_batch": self.epoch_losses, "epoch_losses_mean": self.epoch_mean_losses,
                "wall_time_s": self.wall_time_s}


def batch_orders(n: int, epochs: int, shuffle_on: bool, seed: int | None,
                 conventions: Conventions = CORE_ML) -> list[np.ndarray]:
    """The example order of every epoch, as the runtime (and, by the best evidence, Core ML) uses it."""
    if conventions.shuffle not in shuffle.ENGINES:
        raise ValueError(f"unknown shuffle convention {conventions.shuffle!r}")
    if seed is None and conventions.unseeded not in UNSEEDED:
        raise ValueError(f"unknown unseeded convention {conventions.unseeded!r}")
    return shuffle.epoch_orders(n, epochs, shuffle=shuffle_on, seed=UNSEEDED[conventions.unseeded] if seed is None
                                else seed, reshuffle=conventions.reshuffle,
                                engine=conventions.shuffle)


UNSEEDED = {"default_constructed": None, "seed_seq_zero": 0, "seed_seq_empty": ()}
"""How the engine starts when the model has no seed (the ``unseeded`` convention)."""


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
    marked = [layer for layer in model.network.layers if layer.isUpdatable]
    untrainable = [layer for layer in marked if OPS[layer_kind(layer)].write_back is None]
    if untrainable:
        layer = untrainable[0]
        raise UnsupportedConfigError(
            f"the {layer_kind(layer)} layer is marked updatable: Core ML's validator lets it through (rule 6), but "
            "Apple documents no training for it (coremltools' builder refuses to mark it) and the runtime does not "
            "train it", where=f"layer '{layer.name}'",
            fix="clear isUpdatable on it (freeze it) and train the convolution / innerProduct layers above it")
    return marked


def refuse_what_core_ml_refuses(spec: Any) -> None:
    """Raise ValidationError when Core ML's own validator would refuse to load ``spec`` for update.

    Autodiff would train through anything; a device will not (e.g. a leaky ReLU between an updatable
    layer and the loss). Only Apple's rules count here, not the stricter checks of coremltools or of
    this project (``RuleViolation.origin``).
    """
    refused = [v for v in violations(spec) if v.origin == "apple"]
    if refused:
        raise ValidationError(refused, context="Core ML would refuse to update this model on device: it")


def target_names(model: Trainable, loss: losses.Loss) -> list[str]:
    """Names a training set may give the target under: the loss layer's target, and every declared
    training input that is not a model input (a classifier's class-label input, e.g. ``classLabel``)."""
    inputs = {f.name for f in model.inputs}
    return [loss.target] + [f.name for f in model.training_inputs if f.name not in inputs and f.name != loss.target]


def _target_array(model: Trainable, loss: losses.Loss, key: str, values: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices (int32, (N,)) for cross-entropy; a backend-layout float array for MSE."""
    declared = next((f for f in model.training_inputs if f.name == key), None)
    if loss.kind == "mse":
        if declared is None or not declared.shape:
            declared = F.Feature(key, "multiArray", tuple(np.asarray(values).shape[1:]))
        return model.layout.to_backend(values, declared)
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise BadInputError(f"target '{key}' has shape {values.shape}; cross-entropy takes one class "
                            "per example", fix="pass class indices of shape (N,) or (N, 1), not one-hot rows")
    is_label = declared is not None and declared.kind in ("string", "int64")
    if model.class_labels is not None and (key == model.label_output or is_label):
        index = {label: i for i, label in enumerate(model.class_labels)}
        labels = values.tolist()
        bad = sorted({str(v) for v in labels if v not in index})
        if bad:
            raise BadInputError(f"target labels {bad[:5]} are not among the model's class labels",
                                fix=f"use labels from {list(model.class_labels)[:10]}")
        return np.asarray([index[v] for v in labels], dtype=np.int32)
    if not np.issubdtype(values.dtype, np.number) or not np.all(np.mod(values, 1) == 0):
        raise BadInputError(f"target '{key}' must hold integer class indices"
                            + (" (the model has no class labels to map names through)" if values.dtype.kind in "USO"
                               else ""), fix="pass class indices 0..K-1")
    if values.size and (values.min() < 0 or values.max() >= n_classes):
        raise BadInputError(f"target '{key}' holds class indices in [{values.min()}, {values.max()}] "
                            f"but the model has {n_classes} classes", fix=f"use indices 0..{n_classes - 1}")
    return values.astype(np.int32)


def _prepare(model: Trainable, loss: losses.Loss, data: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    tensor_inputs = [f for f in model.inputs if f.is_tensor]
    needed_inputs = [f for f in tensor_inputs if f.name in set(_ancestors_inputs(model, loss))]
    targets = target_names(model, loss)
    given = [name for name in targets if name in data]
    if len(given) > 1:
        raise BadInputError(f"the training data gives the target twice, as {given}",
                            fix=f"pass the target under one name: one of {targets}")
    key = given[0] if given else loss.target
    required = [f.name for f in needed_inputs] + [key]
    missing = [f.name for f in needed_inputs if f.name not in data] + ([] if given else [" or ".join(targets)])
    unknown = sorted(set(data) - set(required) - {f.name for f in tensor_inputs})
    if missing or unknown:
        raise BadInputError(f"training data does not match the model's training inputs: missing {missing}"
                            + (f", unknown {unknown}" if unknown else ""),
                            fix=f"pass a dict with {[f.name for f in needed_inputs]} and the target as "
                                f"{' or '.join(repr(t) for t in targets)}")
    sizes = {name: len(data[name]) for name in required}
    if len(set(sizes.values())) != 1:
        raise BadInputError(f"the data set's sizes do not match: {sizes}",
                            fix="pass one target per input example")
    n = next(iter(sizes.values()))
    if n == 0:
        raise BadInputError("the training data is empty", fix="pass at least one example")
    feeds = {f.name: model.layout.to_backend(data[f.name], f) for f in needed_inputs}
    for name, arr in feeds.items():
        if not np.all(np.isfinite(arr)):
            raise BadInputError(f"input '{name}' contains NaN or infinite values", fix="clean the data")
    target = _target_array(model, loss, key, data[key], int(np.prod(_loss_blob_shape(model, loss))))
    return feeds, target


def _loss_blob_shape(model: Trainable, loss: losses.Loss) -> tuple[int, ...]:
    """The backend shape of the loss's blob, measured once per model (a forward pass)."""
    shapes = model.__dict__.setdefault("_loss_blob_shapes", {})
    if loss.blob not in shapes:
        shapes[loss.blob] = model.network.blob_shapes(model.input_shapes, [loss.blob])[loss.blob]
    return shapes[loss.blob]


def _ancestors_inputs(model: Trainable, loss: losses.Loss) -> Iterable[str]:
    used = set()
    for i in model.network.needed_layers([loss.blob]):
        used.update(model.network.layers[i].input)
    return used


@dataclass
class TrainingRun:
    """What :func:`train_layers` did: the updatable layers' trained weights (backend layout) and the
    losses and example orders of every epoch."""

    weights: dict[str, dict[str, np.ndarray]]
    settings: UpdateSettings
    batch_losses: list[np.ndarray]
    orders: list[np.ndarray]
    loss_kind: str


def train_layers(model: Trainable, data: Mapping[str, np.ndarray], *, weights=None,
                 callbacks: Iterable[Callback] = (), conventions: Conventions = CORE_ML,
                 **overrides: Any) -> TrainingRun:
    """Train the updatable layers of ``model`` on ``data`` without building a new spec.

    ``weights``: the updatable layers' starting weights in the backend layout (``Network.params``'
    form; default the model's own). The compiled graph is kept on ``model`` (:mod:`emulator.trainer`),
    so a second run on the same model, with other weights or data, does not compile again.
    """
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
    trainer = trainer_for(model, loss, settings, conventions, [layer.name for layer in trainable], feeds, target)
    trainer.start(feeds, target, settings, weights)

    orders = batch_orders(n, settings.epochs, settings.shuffle, settings.seed, conventions)
    per_epoch = batches_per_epoch(n, settings.batch_size, conventions)
    if per_epoch == 0:
        raise BadInputError(f"{n} examples make no full mini-batch of {settings.batch_size}",
                            fix="lower the batch size or pass more data")
    emit = _emitter(list(callbacks))
    emit(TrainingEvent("training_begin", epochs=settings.epochs, batches_per_epoch=per_epoch))
    log.info("training %d examples, %d mini-batches per epoch: %s", n, per_epoch, settings.as_dict())
    all_losses = []
    bsz = settings.batch_size
    for epoch, order in enumerate(orders):
        epoch_losses = np.empty(per_epoch, dtype=np.float64)
        for first, chunk in call_chunks(order.astype(np.int32), bsz, per_epoch):
            values = trainer.steps(chunk)
            for b, value in enumerate(values.tolist(), start=first):
                if not math.isfinite(value):
                    raise TrainingDivergedError(epoch=epoch + 1, batch=b + 1, loss=value)
                epoch_losses[b] = value
                emit(TrainingEvent("mini_batch_end", epoch, b, value, epochs=settings.epochs,
                                   batches_per_epoch=per_epoch))
        all_losses.append(epoch_losses)
        emit(TrainingEvent("epoch_end", epoch, per_epoch - 1, float(epoch_losses[-1]),
                           float(epoch_losses.mean()), settings.epochs, per_epoch))
    return TrainingRun(trainer.weights(), settings, all_losses, orders, loss.kind)


def update(model: Trainable, data: Mapping[str, np.ndarray], *, callbacks: Iterable[Callback] = (),
           progress: bool = False, conventions: Conventions = CORE_ML, **overrides: Any) -> UpdateResult:
    """Train ``model`` on ``data`` (training-input name -> array in Core ML layout).

    ``overrides``: learning_rate, batch_size, epochs, momentum, beta1, beta2, eps, shuffle, seed; each
    checked against the model's allowed values. Returns an :class:`UpdateResult`; the input model is
    not changed.
    """
    started = time.perf_counter()
    callbacks = list(callbacks) + ([ProgressBar()] if progress else [])
    run = train_layers(model, data, callbacks=callbacks, conventions=conventions, **overrides)
    new_spec = type(model.spec)()
    new_spec.CopyFrom(model.spec)
    for layer in getattr(new_spec, model.kind).layers:
        if layer.name in run.weights:
            OPS[layer_kind(layer)].write_back(layer, model.network.plan.to_spec_layout(layer.name, run.weights[layer.name]))
    applied = conventions.describe(run.loss_kind, run.settings.optimizer, run.settings.shuffle,   # only those that apply
                                   run.settings.seed)
    result = UpdateResult(type(model)(new_spec), run.settings, applied, run.batch_losses, run.orders,
                          time.perf_counter() - started)
    per_epoch = len(run.batch_losses[-1])
    _emitter(callbacks)(TrainingEvent("training_end", run.settings.epochs - 1, per_epoch - 1,
                                      result.epoch_losses[-1], result.epoch_mean_losses[-1],
                                      run.settings.epochs, per_epoch))
    return result


def call_chunks(order: np.ndarray, batch_size: int, per_epoch: int, per_call: int | None = None):
    """(index of the first mini-batch, (K, B) example indices) for every graph call of one epoch.

    Full mini-batches go ``per_call`` (default STEPS_PER_CALL) at a time; a kept partial last batch goes
    alone, at its size.
    """
    per_call = per_call or STEPS_PER_CALL
    full = min(per_epoch, len(order) // batch_size)
    rows = order[:full * batch_size].reshape(full, batch_size)
    for first in range(0, full, per_call):
        yield first, rows[first:first + per_call]
    if per_epoch > full:
        yield full, order[full * batch_size:][None, :]


def _emitter(callbacks: list[Callback]):
    def emit(event: TrainingEvent) -> None:
        for cb in callbacks:
            cb(event)
    return emit
