"""The server side: sampling, aggregation (FedAvg, FedAvgM, FedAdam, FedYogi), the global ``.mlmodel``, the report.

The strategies are Flower's own; :class:`FleetStrategy` adds what a fleet of Core ML devices needs:
reproducible sampling (by the devices' partition ids and the run's seed), devices whose training
diverged or whose arrays are not finite dropped from the average and reported, and the per-round
record. After every round the global model is written atomically: the original spec with only the
updatable layers' weights and biases replaced.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import tensorflow as tf

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAdam, FedAvg, FedAvgM, FedYogi
from flwr.serverapp.strategy.fedopt import FedOpt

import emulator
from ground.spec_io import network_of, read_spec, save_spec

from . import exchange
from .config import FleetConfig
from .messages import ARRAYS, CONFIG, METRICS, NUM_EXAMPLES, PARTITION, SERVER_ROUND, first_line, from_record, to_record
from .report import Dropped, Report, Round

log = logging.getLogger(__name__)

class GlobalModel:
    """The global model: the starting spec, with the aggregated updatable arrays written in."""

    def __init__(self, source: Any, output: Path | None = None) -> None:
        self.spec = read_spec(source)
        self.output = output
        self.model = emulator.load(self.spec)
        self.codec = exchange.Codec(self.model)
        self._params = None
        self._predict = None

    def initial_arrays(self) -> dict[str, np.ndarray]:
        return exchange.read(network_of(self.spec))

    def spec_with(self, arrays: Mapping[str, np.ndarray]):
        spec = type(self.spec)()
        spec.CopyFrom(self.spec)
        exchange.write(network_of(spec), arrays)
        return spec

    def save(self, arrays: Mapping[str, np.ndarray]) -> Path | None:
        """Write the global model atomically (temporary file + rename), if an output path was given."""
        if self.output is None:
            return None
        return save_spec(self.spec_with(arrays), self.output)

    def evaluate(self, arrays: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                 batch_size: int = 1000) -> tuple[float, float]:
        """Test accuracy and mean cross-entropy of the global model (one compiled forward pass, weights
        swapped in)."""
        if self._predict is None:
            network = self.model.network
            params = network.constant_params()
            self._params = {name: {k: tf.Variable(v) for k, v in network.params[name].items()}
                            for name in self.codec.layers}
            params.update(self._params)
            feature = next(f for f in self.model.inputs if f.is_tensor)
            blob = self.model.network_outputs()[0]
            shape = self.model.input_shapes[feature.name]

            @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)], autograph=False)
            def predict(batch):
                out = network.forward({feature.name: batch}, params, [blob])[blob]
                return tf.reshape(out, [tf.shape(out)[0], -1])

            self._feature, self._predict = feature, predict
        from emulator import features as F

        for name, values in self.codec.to_runtime(arrays).items():
            for k, v in values.items():
                self._params[name][k].assign(v)
        xb = F.to_backend(x, self._feature)
        probs = np.concatenate([self._predict(tf.constant(xb[i:i + batch_size])).numpy()
                                for i in range(0, len(xb), batch_size)])
        accuracy = float((probs.argmax(1) == y).mean())
        picked = np.clip(probs[np.arange(len(y)), y].astype(np.float64), 1e-12, None)
        return accuracy, float(-np.log(picked).mean())


def _finite(arrays: Mapping[str, np.ndarray]) -> bool:
    return all(np.all(np.isfinite(v)) for v in arrays.values())


class FleetStrategy:
    """Mixed into Flower's FedAvg / FedAvgM / FedAdam / FedYogi: seeded sampling by partition id, dropping and
    reporting failed devices, and the round's record."""

    def setup(self, config: FleetConfig, node_of: dict[int, int], report: Report) -> None:
        self.fleet = config
        self.node_of = node_of                  # partition id -> node id
        self.partition_of = {n: p for p, n in node_of.items()}
        self.report = report
        self.current: Round | None = None

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        if isinstance(self, FedOpt):
            self.current_arrays = from_record(arrays)     # FedOpt's delta is taken against these
        elif isinstance(self, FedAvgM) and self.current_arrays is None:
            self.current_arrays = arrays                  # FedAvgM's first pseudo-gradient is taken against these
        partitions = sorted(self.node_of)
        rng = np.random.default_rng([self.fleet.seed, server_round])
        size = min(len(partitions), self.fleet.per_round)
        chosen = sorted(int(p) for p in rng.choice(partitions, size=size, replace=False))
        self.current = Round(server_round)
        self.round_started = time.perf_counter()
        config[SERVER_ROUND] = server_round
        record = RecordDict({ARRAYS: arrays, CONFIG: config})
        return [Message(content=record, message_type=MessageType.TRAIN, dst_node_id=self.node_of[p])
                for p in chosen]

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        kept, record = [], self.current
        losses, weights = [], []
        for msg in replies:
            partition = self.partition_of.get(msg.metadata.src_node_id, -1)
            if msg.has_error():
                record.dropped.append(Dropped(partition, first_line(msg.error.reason)))
                continue
            metrics = msg.content[METRICS]
            arrays = from_record(msg.content[ARRAYS])
            loss = float(metrics["train-loss"])
            if not math.isfinite(loss) or not _finite(arrays):
                record.dropped.append(Dropped(partition, "the device's loss or arrays are not finite"))
                continue
            kept.append(msg)
            record.clients.append(int(metrics[PARTITION]))
            losses.append(loss)
            weights.append(int(metrics[NUM_EXAMPLES]))
        for d in record.dropped:
            log.warning("round %d: device %d dropped from the average: %s", server_round, d.partition, d.reason)
        record.clients.sort()
        record.examples = int(sum(weights))
        if losses:
            record.mean_train_loss = float(np.mean(losses))
            record.weighted_train_loss = float(np.average(losses, weights=weights))
        if not kept:
            log.warning("round %d: no device returned a usable update; the global model is unchanged", server_round)
            return None, None
        # Replies arrive in any order; float32 sums depend on it: average in partition order, so a run
        # repeats bit for bit on any engine.
        kept.sort(key=lambda m: int(m.content[METRICS][PARTITION]))
        return super().aggregate_train(server_round, kept)


class FleetFedAvg(FleetStrategy, FedAvg):
    """FedAvg (McMahan et al. 2017), weighted by the devices' example counts."""


class FleetFedAvgM(FleetStrategy, FedAvgM):
    """FedAvgM (Hsu et al. 2019): server SGD with momentum over the averaged update."""


class FleetFedAdam(FleetStrategy, FedAdam):
    """FedAdam (Reddi et al. 2021): Adam on the server over the averaged update."""


class FleetFedYogi(FleetStrategy, FedYogi):
    """FedYogi (Reddi et al. 2021)."""


def _train_metrics(records: list[RecordDict], weighting: str) -> MetricRecord:
    """Flower's example-weighted mean of the devices' losses (the partition ids are not averaged)."""
    from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

    merged = aggregate_metricrecords(records, weighting)
    return MetricRecord({k: v for k, v in merged.items() if k != PARTITION})


def make_strategy(config: FleetConfig):
    common = dict(fraction_train=config.fraction, fraction_evaluate=0.0, min_train_nodes=1,
                  min_available_nodes=config.clients, weighted_by_key=NUM_EXAMPLES,
                  arrayrecord_key=ARRAYS, configrecord_key=CONFIG, train_metrics_aggr_fn=_train_metrics)
    if config.strategy == "fedavg":
        return FleetFedAvg(**common)
    if config.strategy == "fedavgm":
        return FleetFedAvgM(**common, server_learning_rate=config.server_lr or 1.0,
                            server_momentum=config.server_momentum)
    cls = FleetFedAdam if config.strategy == "fedadam" else FleetFedYogi
    extra = {"eta": config.server_lr} if config.server_lr else {}
    return cls(**common, **extra)


def discover(grid: Grid, clients: int, timeout: float = 600.0) -> dict[int, int]:
    """Partition id -> node id of every connected device (one query message each)."""
    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < clients:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(nodes)} of {clients} devices connected within {timeout:.0f} s")
        time.sleep(0.5)
    messages = [Message(RecordDict({CONFIG: ConfigRecord({})}), dst_node_id=n, message_type=MessageType.QUERY)
                for n in nodes]
    node_of = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        if reply.has_error():
            raise RuntimeError(f"device {reply.metadata.src_node_id} failed to answer: {first_line(reply.error.reason)}")
        node_of[int(reply.content[METRICS][PARTITION])] = reply.metadata.src_node_id
    if len(node_of) != len(nodes):
        raise RuntimeError(f"{len(nodes)} devices answered with {len(node_of)} distinct partition ids")
    return node_of
