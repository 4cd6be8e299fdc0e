"""One simulated device: its copy of the updatable model, its data, and a training run per round.

A :class:`Device` does what an app does with MLUpdateTask: it takes the global updatable-layer arrays,
puts them into its model, trains with the model's own update parameters (per-run overrides only where
the model allows them) and hands back the trained arrays (:mod:`federated.exchange`), its number of
examples and its losses. The model is loaded and its training graph compiled once per process; each
round only swaps weights and data in (:mod:`emulator.trainer`).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ground.errors import BadInputError

from .config import FleetConfig

log = logging.getLogger(__name__)


@dataclass
class LocalResult:
    """One device's round: trained arrays, examples trained on, and the run's losses."""

    arrays: dict[str, np.ndarray]
    num_examples: int
    batch_losses: list[np.ndarray] = field(default_factory=list)     # per local epoch
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_loss(self) -> float:
        """Mean mini-batch loss of the last local epoch."""
        return float(np.mean(self.batch_losses[-1]))

    @property
    def last_loss(self) -> float:
        """The last mini-batch's loss (what Core ML reports as the epoch's lossValue)."""
        return float(self.batch_losses[-1][-1])


class Device:
    """A device's model: the runtime's model, its exchange codec and its training-input names."""

    def __init__(self, source: Any) -> None:
        import emulator
        from emulator.losses import from_spec

        from . import exchange

        self.model = emulator.load(source)
        self.codec = exchange.Codec(self.model)
        tensors = [f for f in self.model.inputs if f.is_tensor]
        if len(tensors) != 1:
            raise BadInputError(f"the model has {len(tensors)} array inputs; a device feeds exactly one",
                                fix="federate a model with one image input")
        self.feature = tensors[0]
        loss = from_spec(self.model.nn, self.model.network)
        if loss.kind != "cce":
            raise BadInputError("the model's loss is mean squared error; the fleet's data hold class labels",
                                fix="federate a classifier trained with cross-entropy")
        self.target = loss.target

    def initial_arrays(self) -> dict[str, np.ndarray]:
        from . import exchange

        return exchange.read(self.model.nn)

    def train(self, arrays: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray,
              **overrides: Any) -> LocalResult:
        """Train from the global ``arrays`` on ``x`` (Core ML layout) and labels ``y``.

        Raises ``TrainingDivergedError`` when a loss turns NaN or infinite (the server drops the device).
        """
        from emulator.training import train_layers

        from . import exchange

        exchange.check(self.model.nn, arrays)
        run = train_layers(self.model, {self.feature.name: x, self.target: y},
                           weights=self.codec.to_runtime(arrays), **overrides)
        return LocalResult(self.codec.from_runtime(run.weights), int(len(y)), run.batch_losses,
                           run.settings.as_dict())


def client_seed(seed: int, server_round: int, partition: int) -> int:
    """The shuffle seed of one device in one round: distinct per device and round, fixed by ``seed``."""
    return int((seed * 1_000_003 + server_round * 10_007 + partition) % 2**31)


class Fleet:
    """What every device process derives from a :class:`FleetConfig`: the model and each device's data."""

    def __init__(self, config: FleetConfig) -> None:
        import data_loading as data
        from . import partition

        self.config = config
        self.device = Device(config.model)
        ds = data.load(config.data).limit(config.limit or None)
        self.x = data.for_coreml(ds.x_train, self.device.feature.shape)
        self.y = ds.y_train
        self.num_classes = ds.num_classes
        self.parts = partition.split(self.y, config.clients, config.partition, config.seed)

    def train(self, partition: int, arrays: Mapping[str, np.ndarray], server_round: int) -> LocalResult:
        if not 0 <= partition < len(self.parts):
            raise BadInputError(f"partition {partition} is outside 0..{len(self.parts) - 1}",
                                fix="start the SuperNode with partition-id below num-partitions")
        idx = self.parts[partition]
        c = self.config
        return self.device.train(arrays, self.x[idx], self.y[idx], epochs=c.local_epochs,
                                 batch_size=c.batch_size or None, learning_rate=c.learning_rate or None,
                                 seed=client_seed(c.seed, server_round, partition))


_FLEETS: dict[str, Fleet] = {}


def _key(config: FleetConfig) -> str:
    return hashlib.sha256(repr(sorted(config.as_dict().items())).encode()).hexdigest()


def partition_sizes(config: FleetConfig) -> list[int]:
    """Every device's number of examples (labels and the split only: no model, no TensorFlow)."""
    if _key(config) in _FLEETS:
        return [len(p) for p in _FLEETS[_key(config)].parts]
    import data_loading as data
    from . import partition

    labels = data.load(config.data).limit(config.limit or None).y_train
    return [len(p) for p in partition.split(labels, config.clients, config.partition, config.seed)]


def fleet_for(config: FleetConfig) -> Fleet:
    """This process's :class:`Fleet` for ``config`` (built once: model, compiled graph, data)."""
    k = _key(config)
    if k not in _FLEETS:
        _FLEETS.clear()     # one fleet per process at a time (a simulation worker serves one run)
        _FLEETS[k] = Fleet(config)
    return _FLEETS[k]


def forget_fleets() -> None:
    """Drop this process's cached fleet (the next run loads model and data again)."""
    _FLEETS.clear()
