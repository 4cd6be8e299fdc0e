"""The Flower apps: a ClientApp that is one Core ML device, a ServerApp that runs the fleet, and the
two engines that carry them (Flower's simulation engine here; its deployment engine through
``federated/flower_app``).

Messages (Flower's Message API):

- ``query`` (once, before round 1): the device answers ``metrics = {"partition-id": i, "num-examples": n}``
  so the server samples devices by partition id, reproducibly from the run's seed;
- ``train``: ``arrays`` (the global updatable-layer arrays, :mod:`federated.exchange`) and ``config``
  (``server-round``) in; ``arrays`` (trained) and ``metrics`` (``num-examples``, ``train-loss``: the
  last local epoch's mean mini-batch loss, ``train-loss-last``: its last mini-batch's loss, as Core ML
  reports it, ``partition-id``) out. A device whose loss turns NaN or infinite answers with an error
  (``TrainingDivergedError``) and is left out of the average.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from flwr.app import Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid, ServerApp


from . import partition as P
from .config import FleetConfig
from .messages import ARRAYS, CONFIG, METRICS, NUM_EXAMPLES, PARTITION, SERVER_ROUND, from_record, to_record
from .report import Report, client_table

log = logging.getLogger(__name__)


def client_app(config: FleetConfig | None = None) -> ClientApp:
    """A ClientApp for one device; ``config`` None: read from Flower's run config (deployment)."""
    app = ClientApp()

    def settings(context: Context) -> FleetConfig:
        return config if config is not None else FleetConfig.from_run_config(context.run_config)

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        from .device import partition_sizes

        pid = int(context.node_config[PARTITION])
        metrics = MetricRecord({PARTITION: pid, NUM_EXAMPLES: partition_sizes(settings(context))[pid]})
        return Message(RecordDict({METRICS: metrics}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        from .device import fleet_for

        pid = int(context.node_config[PARTITION])
        fleet = fleet_for(settings(context))      # model, compiled graph and data: once per process
        server_round = int(msg.content[CONFIG][SERVER_ROUND])
        from ground.errors import TrainingDivergedError

        try:
            result = fleet.train(pid, from_record(msg.content[ARRAYS]), server_round)
        except TrainingDivergedError as exc:
            return Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION,
                                 f"TrainingDivergedError: device {pid}, round {server_round}: {exc}"), reply_to=msg)
        metrics = MetricRecord({NUM_EXAMPLES: result.num_examples, "train-loss": result.mean_loss,
                                "train-loss-last": result.last_loss, PARTITION: pid})
        return Message(RecordDict({ARRAYS: to_record(result.arrays), METRICS: metrics}), reply_to=msg)

    return app


def serve(grid: Grid, config: FleetConfig, report_dir: Path | None = None, output: Path | None = None,
          progress: bool = True, engine: str = "simulation") -> Report:
    """Run the fleet's rounds on ``grid``; write the global model after each round and the report."""
    from tqdm import tqdm

    import data_loading as data

    from .report import plot
    from .server import GlobalModel, discover, make_strategy

    global_model = GlobalModel(config.model, output)
    ds = data.load(config.data).limit(config.limit or None)
    feature = next(f for f in global_model.model.inputs if f.is_tensor)
    x_test, y_test = data.for_coreml(ds.x_test, feature.shape), ds.y_test
    parts = P.split(ds.y_train, config.clients, config.partition, config.seed)
    hist = P.histograms(ds.y_train, parts, ds.num_classes)
    report = Report(config.as_dict(), client_table(parts, hist), engine=engine, started=time.time())
    node_of = discover(grid, config.clients)
    strategy = make_strategy(config)
    strategy.setup(config, node_of, report)
    bar = tqdm(total=config.rounds, desc="rounds", unit="round", disable=not progress, leave=True)

    def evaluate(server_round: int, record) -> MetricRecord:
        ended = time.perf_counter()
        arrays = from_record(record)
        accuracy, loss = global_model.evaluate(arrays, x_test, y_test)
        if server_round == 0:
            report.initial = {"test_accuracy": accuracy, "test_loss": loss}
        else:
            global_model.save(arrays)
            r = strategy.current
            r.test_accuracy, r.test_loss = accuracy, loss
            r.train_wall_s = round(ended - strategy.round_started, 4)
            r.eval_wall_s = round(time.perf_counter() - ended, 4)
            r.wall_s = round(r.train_wall_s + r.eval_wall_s, 4)
            report.rounds.append(r)
            if report_dir is not None:
                report.write(report_dir)
            bar.set_postfix(acc=f"{accuracy:.4f}", loss=f"{loss:.3f}", dropped=len(r.dropped))
            bar.update(1)
        return MetricRecord({"test-accuracy": accuracy, "test-loss": loss})

    try:
        strategy.start(grid, to_record(global_model.initial_arrays()), num_rounds=config.rounds,
                       evaluate_fn=evaluate)
    finally:
        bar.close()
    report.finished = True
    if report_dir is not None:
        plot(report, report_dir / "federated.png", None if P.parse(config.partition).is_iid else hist)
        report.write(report_dir)
    return report


def server_app(config: FleetConfig | None = None, report_dir: Path | None = None, output: Path | None = None,
               progress: bool = True, engine: str = "simulation", results: list | None = None) -> ServerApp:
    """A ServerApp running :func:`serve`; ``config`` None: from the run config (``report``, ``output``
    keys give the report folder and the global model's path)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg, folder, out = config, report_dir, output
        if cfg is None:
            rc = context.run_config
            cfg = FleetConfig.from_run_config(rc).resolved()
            folder = Path(str(rc["report"])) if rc.get("report") else None
            out = Path(str(rc["output"])) if rc.get("output") else None
        report = serve(grid, cfg, folder, out, progress, engine)
        if results is not None:
            results.append(report)

    return app


def simulate(config: FleetConfig, report_dir: Path | None = None, output: Path | None = None, *,
             progress: bool = True, client_cpus: float | None = None, verbose: bool = False) -> Report:
    """Run the fleet on Flower's simulation engine (Ray): ``config.clients`` virtual SuperNodes, one
    ClientApp per node, as many actors in parallel as ``client_cpus`` allows (default: one actor using
    every core, which is fastest for small CNNs on TensorFlow)."""
    import os
    import sys

    from flwr.simulation import run_simulation

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:            # Flower hands the driver's sys.path to Ray's workers
        sys.path.insert(0, root)
    config = config.resolved()
    cpus = client_cpus or float(os.cpu_count() or 1)
    results: list[Report] = []
    _quiet_flower(verbose)
    # Ray starts its workers at nice +15 (below the driver, to keep its raylet responsive); here the
    # workers ARE the run (every device trains in them), so they keep the caller's priority, as Ray's
    # own job manager does for its drivers. An explicit RAY_worker_niceness in the environment wins.
    os.environ.setdefault("RAY_worker_niceness", "0")
    run_simulation(server_app=server_app(config, report_dir, output, progress, "simulation (Ray)", results),
                   client_app=client_app(config), num_supernodes=config.clients,
                   backend_config={"client_resources": {"num_cpus": cpus, "num_gpus": 0.0},
                                   "init_args": {"log_to_driver": verbose, "logging_level": logging.ERROR}},
                   verbose_logging=verbose)
    if not results:
        raise RuntimeError("the simulation ended without a result; run with -v to see Flower's log")
    return results[0]


def _quiet_flower(verbose: bool) -> None:
    """Flower logs every message at INFO; keep the progress bar readable unless asked."""
    if not verbose:
        logging.getLogger("flwr").setLevel(logging.WARNING)


# The deployment engine's entry points (federated/flower_app/pyproject.toml names them): both read
# their settings from the run config.
client = client_app()
server = server_app(progress=False, engine="deployment (SuperLink + SuperNodes)")

__all__ = ["client_app", "server_app", "serve", "simulate", "client", "server"]
