"""`coreml-updatable federate MODEL --data DATA ...`: train one model over a simulated fleet of devices."""
from __future__ import annotations

import json
from pathlib import Path

from ground.errors import BadInputError


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an updatable .mlmodel (every device starts from it)")
    parser.add_argument("--data", required=True,
                        help="images and labels split over the devices: a Keras-layout .npz (e.g. "
                             "../shared/data/mnist/mnist.npz) or a folder of MNIST IDX files; its test split "
                             "evaluates the global model after every round")
    parser.add_argument("--clients", type=int, default=100, help="devices in the fleet (default 100)")
    parser.add_argument("--fraction", type=float, default=0.1,
                        help="share of the devices sampled each round (default 0.1)")
    parser.add_argument("--rounds", type=int, default=50, help="federated rounds (default 50)")
    parser.add_argument("--local-epochs", type=int, default=1, help="epochs each device trains per round (default 1)")
    parser.add_argument("--partition", default="iid",
                        help="how the training data are split: iid, shards:2 (sorted by label, 2 shards per "
                             "device, the FedAvg paper's non-IID split) or dirichlet:0.5 (label skew)")
    parser.add_argument("--strategy", default="fedavg", choices=["fedavg", "fedavgm", "fedadam", "fedyogi"],
                        help="server aggregation: FedAvg weighted by examples, or Flower's FedAvgM (server "
                             "momentum) / FedAdam / FedYogi")
    parser.add_argument("--server-lr", type=float,
                        help="server learning rate: FedAvgM's (default 1), FedAdam's / FedYogi's eta")
    parser.add_argument("--server-momentum", type=float, help="FedAvgM's server momentum (e.g. 0.9)")
    parser.add_argument("--seed", type=int, default=0, help="partition, sampling and shuffle seed (default 0)")
    parser.add_argument("--report", default="reports/federated", metavar="DIR",
                        help="folder for report.json and federated.png (default reports/federated)")
    parser.add_argument("-o", "--output", help="where to write the global .mlmodel (rewritten after every round)")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    parser.add_argument("--limit", type=int, help="use the first N training images only")
    parser.add_argument("--batch-size", type=int, help="devices' mini-batch size (checked against the model's allowed values)")
    parser.add_argument("--learning-rate", type=float, help="devices' learning rate (checked against the model)")
    parser.add_argument("--engine", default="simulation", choices=["simulation", "deployment"],
                        help="Flower's simulation engine (Ray, one process) or its deployment engine (a SuperLink "
                             "and one SuperNode per device as separate processes on localhost)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="deployment engine: stop every process after this many seconds (default 3600)")
    parser.add_argument("--client-cpus", type=float,
                        help="CPUs per simulated device (default: all, one device at a time)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the report's summary as JSON")


def run(args) -> int:
    from ground.spec_io import check_output

    out = check_output(args.output, [args.model], force=args.force) if args.output else None
    if not Path(args.model).is_file():
        raise BadInputError("no such model file", where=str(args.model), fix="check the path")
    from federated.config import FleetConfig

    config = FleetConfig(model=args.model, data=args.data, clients=args.clients, fraction=args.fraction,
                         rounds=args.rounds, local_epochs=args.local_epochs, partition=args.partition,
                         seed=args.seed, strategy=args.strategy, server_lr=args.server_lr or 0.0,
                         server_momentum=args.server_momentum or 0.0,
                         limit=args.limit or 0, batch_size=args.batch_size or 0,
                         learning_rate=args.learning_rate or 0.0)
    _require_flower()
    from federated.app import simulate

    report_dir = Path(args.report)
    if args.engine == "deployment":
        from federated.deployment import run_local

        report = run_local(config, report_dir, out, timeout=args.timeout, progress=not args.no_progress)
    else:
        report = simulate(config, report_dir, out, progress=not args.no_progress, client_cpus=args.client_cpus,
                          verbose=args.verbose)
    summary = report.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"federated {args.model}: {config.clients} devices ({config.partition}), {config.per_round} a round, "
          f"{summary['rounds_run']} rounds, {config.strategy}, engine {report.engine}")
    print(f"global test accuracy: {report.initial.get('test_accuracy', float('nan')):.4f} before round 1, "
          f"{summary['final_test_accuracy']:.4f} after round {summary['rounds_run']} "
          f"(best {summary['best_test_accuracy']:.4f})")
    for threshold, hit in summary["reached"].items():
        print(f"  reached {threshold} at round {hit['round']} ({hit['wall_s']:.1f} s)")
    if summary["devices_dropped"]:
        print(f"devices dropped from the average: {summary['devices_dropped']} (reasons in report.json)")
    print(f"mean round: {summary['mean_train_round_s']:.2f} s of training and aggregation; "
          f"total {summary['total_wall_s']:.1f} s")
    print(f"wrote {report_dir / 'report.json'}, {report_dir / 'federated.png'}" + (f", {out}" if out else ""))
    return 0


def _require_flower() -> None:
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise BadInputError("Flower is not installed", where="federate",
                            fix="pip install -e \".[federated]\" (Flower 1.42 with protobuf 6)") from None
