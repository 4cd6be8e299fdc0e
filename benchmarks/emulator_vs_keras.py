"""Benchmark: one epoch of the seeds' LeNet on real MNIST, in the emulator and in Keras.

Both sides start from the same weights (a Keras LeNet's initial weights, put into a Core ML spec built
with NeuralNetworkBuilder), train one epoch of the 22,699 images of ../shared/data/mnist/mnist.npz with
Adam (lr 1e-3, eps 1e-7), batch 128, shuffled. Each side runs ``--repeats`` times, alternating, each run
in a process of its own (the training itself in one process, timed from fresh weights and including its
graph tracing: what a user waits for) so that each side gets the TensorFlow kernels it gets when a user
runs it: Keras TensorFlow's own choice (``TF_ENABLE_ONEDNN_OPTS`` removed from its environment), the
runtime the project's (``ground.kernels``: oneDNN on Linux x86-64). ``--keras-kernels runtime`` gives
Keras the runtime's kernels instead, for the like-for-like ratio. The JSON keeps every run and the
medians. Also measured: this machine's float32 matrix-multiply peak (TensorFlow, large square matmuls,
the better of both kernel choices) and the fraction of it the runtime reaches, from the training FLOPs.

    python benchmarks/emulator_vs_keras.py [--repeats 5] [--keras-kernels tensorflow|runtime] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MNIST = ROOT.parent / "shared" / "data" / "mnist" / "mnist.npz"


def keras_lenet(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 2, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(500, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def training_flops_per_example() -> float:
    """Multiply-adds of forward + backward (weight and input gradients; none into the image), times 2."""
    forward = {"conv1": 26 * 26 * 32 * 3 * 3 * 1, "conv2": 12 * 12 * 32 * 2 * 2 * 32,
               "dense1": 1152 * 500, "dense2": 500 * 10}
    macs = sum(forward.values())              # forward
    macs += sum(forward.values())             # weight gradients
    macs += sum(forward.values()) - forward["conv1"]   # input gradients (none into the image)
    return 2.0 * macs


def matmul_peak_gflops(n: int = 2048, reps: int = 10) -> float:
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))

    @tf.function
    def mm(a, b):
        return tf.matmul(a, b)

    mm(a, b).numpy()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def run_keras(x_nhwc, y, seed: int) -> dict:
    import keras

    model = keras_lenet(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-7), loss="sparse_categorical_crossentropy")
    t, cpu = time.perf_counter(), time.process_time()
    history = model.fit(x_nhwc, y, batch_size=128, epochs=1, shuffle=True, verbose=0)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    model.fit(x_nhwc, y, batch_size=128, epochs=1, shuffle=True, verbose=0)   # warm: compiled, kernels set up
    return {"wall_s": wall, "cpu_s": cpu, "final_loss_mean": float(history.history["loss"][-1]),
            "warm_epoch_wall_s": time.perf_counter() - t}


def run_emulator(x_chw, y, seed: int, x_test_chw, y_test) -> dict:
    import emulator
    from fixtures.coreml_lenet import build_spec

    kw = keras_lenet(seed).get_weights()
    weights = {name: (kw[2 * i], kw[2 * i + 1]) for i, name in enumerate(["conv1", "conv2", "dense1", "dense2"])}
    model = emulator.load(build_spec(weights))
    t, cpu = time.perf_counter(), time.process_time()
    result = model.update({"image": x_chw, "label": y})
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    model.update({"image": x_chw, "label": y})          # warm: the compiled graph is kept on the model
    warm = time.perf_counter() - t
    probs = result.model.predict(x_test_chw)["probs"]
    return {"wall_s": wall, "cpu_s": cpu, "final_loss_mean": result.epoch_mean_losses[-1],
            "test_accuracy": float((probs.argmax(1) == y_test).mean()), "warm_epoch_wall_s": warm}


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def worker(side: str, seed: int, data_path: str, kernels_of: str) -> dict:
    """One timed run (or the peak) in this process, with TensorFlow's or the runtime's kernel choice."""
    if kernels_of == "tensorflow":       # nothing of the project's before TensorFlow: its own kernel choice
        os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
        import tensorflow  # noqa: F401
    from ground import kernels, quiet

    quiet.import_backends()              # ground.kernels chooses, unless TensorFlow was imported above
    import data_loading as data

    onednn = kernels.onednn_in_use()
    if side == "peak":
        return {"gflops": matmul_peak_gflops(), "onednn": onednn}
    ds = data.load(data_path)
    if side == "keras":
        out = run_keras(data.for_keras(ds.x_train), ds.y_train, seed)
    else:
        out = run_emulator(data.for_coreml(ds.x_train, (1, 28, 28)), ds.y_train, seed,
                           data.for_coreml(ds.x_test, (1, 28, 28)), ds.y_test)
    return {**out, "onednn": onednn, "n": int(len(ds.y_train)), "source": ds.source}


def _spawn(side: str, seed: int, data_path: str, kernels_of: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, __file__, "--worker", side, "--seed", str(seed), "--data", data_path,
                           "--worker-kernels", kernels_of], env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{side} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _side(runs: list[dict]) -> dict:
    return {"runs": runs, "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_warm_epoch_wall_s": statistics.median(r["warm_epoch_wall_s"] for r in runs),
            "min_wall_s": min(r["wall_s"] for r in runs), "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "onednn": sorted({r["onednn"] for r in runs})}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", default=str(MNIST))
    parser.add_argument("--keras-kernels", choices=["tensorflow", "runtime"], default="tensorflow",
                        help="Keras' kernels: TensorFlow's own choice (as a Keras user runs it) or the runtime's")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "emulator_vs_keras.json"))
    parser.add_argument("--worker", choices=["keras", "emulator", "peak"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-kernels", choices=["tensorflow", "runtime"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.seed, args.data, args.worker_kernels)))
        return 0

    load_before = _uptime()
    peaks_before = [_spawn("peak", 0, args.data, k) for k in ("runtime", "tensorflow")]
    keras_runs, emulator_runs = [], []
    for r in range(args.repeats):
        keras_runs.append(_spawn("keras", r, args.data, args.keras_kernels))
        emulator_runs.append(_spawn("emulator", r, args.data, "runtime"))
        print(f"run {r + 1}: keras {keras_runs[-1]['wall_s']:.2f} s, emulator {emulator_runs[-1]['wall_s']:.2f} s",
              file=sys.stderr)
    peaks_after = [_spawn("peak", 0, args.data, k) for k in ("runtime", "tensorflow")]
    n, source = keras_runs[0]["n"], keras_runs[0]["source"]
    keras, emu = _side(keras_runs), _side(emulator_runs)
    keras["samples_per_s"], emu["samples_per_s"] = n / keras["median_wall_s"], n / emu["median_wall_s"]
    peak = max(p["gflops"] for p in peaks_before + peaks_after)
    trained = n // 128 * 128          # the runtime drops the partial last batch (emulator/conventions.py)
    achieved = training_flops_per_example() * trained / emu["median_wall_s"] / 1e9
    achieved_warm = training_flops_per_example() * trained / emu["median_warm_epoch_wall_s"] / 1e9
    per_cpu_s = {"emulator": training_flops_per_example() * trained / emu["median_cpu_s"] / 1e9,
                 "keras": training_flops_per_example() * n / keras["median_cpu_s"] / 1e9}
    result = {
        "benchmark": "one epoch, seeds' LeNet (585,958 params), Adam lr 1e-3 eps 1e-7, batch 128, shuffled",
        "command": "python benchmarks/emulator_vs_keras.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": {"source": source, "train_examples": n},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "kernels": {"keras": "runtime's (ground.kernels)" if args.keras_kernels == "runtime" else
                    "TensorFlow's own choice", "emulator": "runtime's (ground.kernels)",
                    "onednn_in_use": {"keras": keras["onednn"], "emulator": emu["onednn"]}},
        "keras": keras,
        "emulator": emu,
        "ratio_emulator_over_keras": emu["median_wall_s"] / keras["median_wall_s"],
        "ratio_of_fastest_runs": emu["min_wall_s"] / keras["min_wall_s"],
        "ratio_of_median_cpu_time": emu["median_cpu_s"] / keras["median_cpu_s"],
        "ratio_of_warm_epochs": emu["median_warm_epoch_wall_s"] / keras["median_warm_epoch_wall_s"],
        "target_ratio": 0.6,
        "target_fraction_of_matmul_peak": 0.5,
        "load": {"before": load_before, "after": _uptime()},
        "training_gflop_per_epoch": training_flops_per_example() * n / 1e9,
        "emulator_gflops_achieved": achieved,
        "float32_matmul_peak_gflops": peak,
        "float32_matmul_peak_gflops_measured": {"before_runs": peaks_before, "after_runs": peaks_after},
        "fraction_of_matmul_peak": achieved / peak,
        "emulator_gflops_warm_epoch": achieved_warm,
        "fraction_of_matmul_peak_warm_epoch": achieved_warm / peak,
        "gflop_per_cpu_second": per_cpu_s,
        "flop_count": "multiply-adds x 2 of the convolutions and dense layers: forward, weight gradients, input "
                      "gradients (none into the image); bias, ReLU, pooling, softmax and Adam not counted; "
                      "the examples trained (full mini-batches: %d of %d)" % (trained, n),
        "notes": "ratio_emulator_over_keras is the ratio of median wall times; wall times include each side's "
                 "graph tracing, not the process start (the warm figures: a second epoch in the same process, "
                 "graph compiled and kernels set up, as every epoch after the first); Keras runs model.fit (graph mode, no XLA, as Keras picks on "
                 "a CPU-only machine); the emulator runs 16 mini-batches per compiled graph call; this VM's "
                 "run-to-run noise is about +-20%, hence the repeats, the fastest-run ratio and the CPU-time ratio",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    keys = ("kernels", "ratio_emulator_over_keras", "ratio_of_fastest_runs", "ratio_of_median_cpu_time",
            "ratio_of_warm_epochs", "fraction_of_matmul_peak", "fraction_of_matmul_peak_warm_epoch",
            "float32_matmul_peak_gflops", "emulator_gflops_achieved", "gflop_per_cpu_second",
            "load")
    print(json.dumps({k: result[k] for k in keys}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
