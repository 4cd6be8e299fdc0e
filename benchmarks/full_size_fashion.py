"""Full size: the bundled LeNet on Fashion-MNIST, 60,000 images x 10 epochs (batch 128, Adam), trained
by Keras and by the converted Core ML model (emulated), next to the seeds' anchors for the same job.

Data: Debian's ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``: IDX files under
``/usr/share/datasets/fashion-mnist``), or ``--data`` (any source ``data_loading.load`` takes).
Writes ``benchmarks/results/full_size_fashion.json`` and ``.png``. Takes about 3 minutes here (2 cores).
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
ANCHORS_S = {"coreml_iphone11": 248.0, "tensorflow_i7_laptop_cpu": 158.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    report = lenet_parity.run(args.data, epochs=args.epochs, batch_size=args.batch_size, limit=args.limit,
                              png=RESULTS / "full_size_fashion.png")
    result = {
        "benchmark": "full_size_fashion",
        "passed": report.passed,
        "examples": report.n_train, "epochs": args.epochs, "batch_size": args.batch_size,
        "wall_time_s": {"keras_here": report.keras.wall_time_s, "coreml_emulated_here": report.coreml.wall_time_s,
                        **{f"anchor_{k}": v for k, v in ANCHORS_S.items()}},
        "test_accuracy": {"keras": report.keras.test_accuracy, "coreml": report.coreml.test_accuracy},
        "total_wall_time_s": time.perf_counter() - started,
        "machine": lenet_parity.machine(),
        "report": report.to_dict(),
    }
    (RESULTS / "full_size_fashion.json").write_text(json.dumps(result, indent=2) + "\n")
    print(report.table())
    print("wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in result["wall_time_s"].items()))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
