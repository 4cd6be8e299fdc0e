"""Full size: the bundled LeNet on Fashion-MNIST, 60,000 images x 10 epochs (batch 128, Adam), trained
by Keras and by the converted Core ML model (emulated), next to the seeds' anchors for the same job.

Data: Debian's ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``: IDX files under
``/usr/share/datasets/fashion-mnist``), or ``--data`` (any source ``coreml_updatable.data.load`` takes).
Writes ``benchmarks/results/full_size_fashion.json`` and ``.png``. Takes tens of minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
ANCHORS_S = {"coreml_iphone11": 248.0, "tensorflow_i7_laptop_cpu": 158.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)

    from parity import verify
    from transforms.options import UpdateOptions

    options = UpdateOptions(optimizer="adam", batch_size=args.batch_size, epochs=args.epochs)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = verify(ROOT / "fixtures" / "lenet.keras", args.data, options=options, epochs=args.epochs,
                        batch_size=args.batch_size, limit=args.limit, report_dir=tmp, progress=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / "parity.png", RESULTS / "full_size_fashion.png")
    result = {
        "benchmark": "full_size_fashion",
        "passed": report.passed,
        "examples": report.n_train, "epochs": args.epochs, "batch_size": args.batch_size,
        "wall_time_s": {"keras_here": report.keras.wall_time_s, "coreml_emulated_here": report.coreml.wall_time_s,
                        **{f"anchor_{k}": v for k, v in ANCHORS_S.items()}},
        "test_accuracy": {"keras": report.keras.test_accuracy, "coreml": report.coreml.test_accuracy},
        "total_wall_time_s": time.perf_counter() - started,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "report": report.to_dict(),
    }
    (RESULTS / "full_size_fashion.json").write_text(json.dumps(result, indent=2) + "\n")
    print(report.table())
    print("wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in result["wall_time_s"].items()))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
