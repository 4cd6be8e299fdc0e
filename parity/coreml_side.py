"""The Core ML side of a parity run: the emulator's ``update``, fed the same data as the Keras side."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ground.errors import BadInputError, TrainingDivergedError


@dataclass
class CoreMLRun:
    settings: dict[str, Any]
    conventions: dict[str, str]
    orders: list[np.ndarray]
    batch_losses: list[np.ndarray] = field(default_factory=list)
    wall_time_s: float = float("nan")
    model: Any = None                         # the updated emulator Model (None if training diverged)
    diverged: TrainingDivergedError | None = None


def target_feature(cm: Any) -> Any:
    """The training input that is not a model input: the loss target."""
    inputs = {f.name for f in cm.inputs}
    targets = [f for f in cm.training_inputs if f.name not in inputs]
    if len(targets) != 1:
        raise BadInputError(f"the model declares {len(targets)} training targets "
                            f"({', '.join(f.name for f in targets) or 'none'}); verify needs exactly one",
                            where="description.trainingInput", fix="re-convert the model")
    return targets[0]


def targets_for(cm: Any, y: np.ndarray, loss: str, n_classes: int) -> tuple[str, np.ndarray]:
    """(target name, the targets as that training input declares them: a classifier's class labels,
    class indices shaped as the target feature, or one-hot rows for MSE)."""
    feature = target_feature(cm)
    if loss == "mse":
        onehot = np.eye(n_classes, dtype=np.float32)[y]
        shape = feature.shape or (n_classes,)
        return feature.name, onehot.reshape((len(y), *shape))
    if feature.kind in ("string", "int64") and cm.class_labels is not None:   # the declared class-label input
        return feature.name, np.asarray(cm.class_labels, dtype=object)[y].tolist()
    if feature.shape and int(np.prod(feature.shape)) == 1:
        return feature.name, y.astype(np.int64).reshape(len(y), *feature.shape)
    return feature.name, y.astype(np.int64)


def train_coreml(cm: Any, x: np.ndarray, y: np.ndarray, feature: Any, loss: str, n_classes: int, *,
                 epochs: int | None, batch_size: int | None, progress: bool,
                 shuffle: bool | None = None) -> CoreMLRun:
    """Train with the model's own update parameters (``epochs`` / ``batch_size`` overridden if given)."""
    from emulator.events import ProgressBar
    from emulator.settings import resolve
    from emulator.training import batch_orders

    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("shuffle", shuffle))
                 if v is not None}
    settings = resolve(cm.nn.updateParams, overrides)
    seen: list[list[float]] = []

    def record(event: Any) -> None:
        if event.kind == "mini_batch_end":
            if event.batch == 0:
                seen.append([])
            seen[-1].append(event.loss)

    callbacks = [record] + ([ProgressBar(describe="Core ML")] if progress else [])
    name, target = targets_for(cm, y, loss, n_classes)
    try:
        result = cm.update({feature.name: x, name: target}, callbacks=callbacks, **overrides)
    except TrainingDivergedError as exc:  # reported as a failed check, with the losses up to that point
        return CoreMLRun(settings.as_dict(), {}, batch_orders(len(x), settings.epochs, settings.shuffle,
                                                              settings.seed),
                         [np.asarray(e) for e in seen], diverged=exc)
    return CoreMLRun(result.settings.as_dict(), dict(result.conventions), list(result.orders),
                     list(result.batch_losses), result.wall_time_s, result.model)
