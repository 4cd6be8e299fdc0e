"""Benchmark: how long a conversion takes, for the bundled LeNet and for MobileNetV2.

MobileNetV2 is ``keras.applications.MobileNetV2(weights=None)`` (no download), converted with only its
last Dense updatable (``--updatable last:1``), from memory and from a saved ``.keras`` file. Each
conversion runs ``--repeats`` times after one warm-up; the JSON keeps every time and the median.
The LeNet result is also checked against Keras on a few images (max |diff|), so the timing is of a
correct conversion.

    python benchmarks/conversion_time.py [--repeats 5] [--out benchmarks/results/conversion_time.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeats: int) -> tuple[list[float], object]:
    result = fn()                        # warm-up: imports, first traces
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def summary(times: list[float], result) -> dict:
    spec = result.spec
    nn = spec.neuralNetwork
    updatable = [layer.name for layer in nn.layers if layer.isUpdatable]
    return {"times_s": times, "median_s": statistics.median(times), "core_ml_layers": len(nn.layers),
            "updatable_layers": updatable, "spec_bytes": len(result.serialized())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "conversion_time.json"))
    args = parser.parse_args(argv)

    from ground import quiet as _quiet

    _quiet.import_backends()
    import keras
    import numpy as np

    import emulator
    from converter.convert import convert
    from transforms.options import UpdateOptions

    lenet_path = ROOT / "fixtures" / "lenet.keras"
    lenet_times, lenet = timed(lambda: convert(lenet_path), args.repeats)
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    keras_lenet = keras.saving.load_model(lenet_path)
    lenet_diff = float(np.abs(emulator.load(lenet.spec).predict(x.transpose(0, 3, 1, 2))["probs"]
                              - keras_lenet.predict(x, verbose=0)).max())

    keras.utils.set_random_seed(0)
    mobilenet = keras.applications.MobileNetV2(weights=None)
    last_dense = UpdateOptions(updatable="last:1")
    memory_times, mobile = timed(lambda: convert(mobilenet, options=last_dense), args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mobilenet_v2.keras"
        mobilenet.save(path)
        file_times, _ = timed(lambda: convert(path, options=last_dense), args.repeats)

    result = {
        "benchmark": "conversion wall time (Keras -> updatable Core ML spec, all passes and validation)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "lenet": {**summary(lenet_times, lenet), "source": "fixtures/lenet.keras",
                  "max_abs_diff_vs_keras": lenet_diff},
        "mobilenet_v2_in_memory": {**summary(memory_times, mobile), "keras_params": int(mobilenet.count_params())},
        "mobilenet_v2_from_file": {"times_s": file_times, "median_s": statistics.median(file_times)},
        "notes": "times exclude Python start-up and the first (warm-up) conversion; 'from_file' includes "
                 "loading the .keras file with safe_mode",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k]["median_s"] for k in ("lenet", "mobilenet_v2_in_memory",
                                                          "mobilenet_v2_from_file")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
