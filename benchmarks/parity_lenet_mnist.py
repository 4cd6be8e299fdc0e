"""The seeds' experiment: the bundled LeNet, Adam, batch 128, 10 epochs on the shared MNIST
(22,699 train / 10,000 test), trained by Keras and by the converted Core ML model side by side.

Writes ``benchmarks/results/parity_lenet_mnist.json`` and ``parity_lenet_mnist.png``. Success: both
sides reach >= 0.98 test accuracy and every parity figure is within tolerance.
Run: ``python benchmarks/parity_lenet_mnist.py [--epochs N] [--limit N]`` (about 2 minutes here, 2 cores, quiet).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _lenet_parity as lenet_parity  # noqa: E402

RESULTS = lenet_parity.RESULTS
TARGET_ACCURACY = 0.98


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(lenet_parity.ROOT.parent / "shared" / "data" / "mnist" / "mnist.npz"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--name", default="parity_lenet_mnist", help="file stem under benchmarks/results/")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    report = lenet_parity.run(args.data, epochs=args.epochs, batch_size=args.batch_size, limit=args.limit,
                              png=RESULTS / f"{args.name}.png")
    both = min(report.keras.test_accuracy, report.coreml.test_accuracy)
    result = {
        "benchmark": args.name,
        "passed": report.passed and both >= TARGET_ACCURACY,
        "criteria": {"test_accuracy_both_sides_at_least": TARGET_ACCURACY, "parity": "every check in 'report'"},
        "keras_test_accuracy": report.keras.test_accuracy,
        "coreml_test_accuracy": report.coreml.test_accuracy,
        "keras_wall_time_s": report.keras.wall_time_s,
        "coreml_wall_time_s": report.coreml.wall_time_s,
        "total_wall_time_s": time.perf_counter() - started,
        "machine": lenet_parity.machine(),
        "report": report.to_dict(),
    }
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(report.table())
    print(f"both sides >= {TARGET_ACCURACY}: {both >= TARGET_ACCURACY}; wrote {RESULTS / (args.name + '.json')}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
