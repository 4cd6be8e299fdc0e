"""Two alternatives to TensorFlow's convolution filter gradient, for the LeNet's two convolutions.

TensorFlow's ``Conv2DBackpropFilter`` against the gradient as image patches times the output gradient
(one matmul) and as one matmul per kernel offset; each its own compiled graph at batch 128 (best of
``--reps`` calls, milliseconds), with Eigen's kernels and with oneDNN's, each choice in a process of its
own (``TF_ENABLE_ONEDNN_OPTS`` 0 and 1: TensorFlow reads it once, at import). The pieces of the training
step under both kernel choices are ``benchmarks/profile_lenet.py``'s; this script answers only whether
either alternative beats TensorFlow's kernel (neither does: the runtime keeps ``Conv2DBackpropFilter``).

    python benchmarks/filter_gradient_alternatives.py [--reps 30] [--out benchmarks/results/filter_gradient_alternatives.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
B = 128
CASES = {"conv1": ((B, 28, 28, 1), (3, 3, 1, 32)), "conv2": ((B, 13, 13, 32), (2, 2, 32, 32))}


def _best_ms(fn, *args, reps: int) -> float:
    fn(*args)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        out = fn(*args)
        for o in out if isinstance(out, (list, tuple)) else [out]:
            o.numpy()
        best = min(best, time.perf_counter() - t)
    return round(best * 1e3, 3)


def measure(reps: int) -> dict:
    """Milliseconds per piece in this process (whatever kernels its TensorFlow runs)."""
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    out: dict = {"onednn": bool(_pywrap_util_port.IsMklEnabled())}
    for name, (xs, ws) in CASES.items():
        x = tf.random.normal(xs, seed=1)
        oh = xs[1] - ws[0] + 1
        dy = tf.random.normal((B, oh, oh, ws[3]), seed=3)
        k = ws[0] * ws[1] * ws[2]

        @tf.function
        def filter_grad(x, dy):
            return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=ws, out_backprop=dy,
                                                   strides=[1, 1, 1, 1], padding="VALID")

        @tf.function
        def patches_filter_grad(x, dy):
            p = tf.image.extract_patches(x, [1, ws[0], ws[1], 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
            g = tf.matmul(tf.reshape(p, [-1, k]), tf.reshape(dy, [-1, ws[3]]), transpose_a=True)
            return tf.reshape(g, ws)

        @tf.function
        def offsets_filter_grad(x, dy):
            d = tf.reshape(dy, [-1, ws[3]])
            rows = [tf.matmul(tf.reshape(x[:, i:i + oh, j:j + oh, :], [-1, ws[2]]), d, transpose_a=True)
                    for i in range(ws[0]) for j in range(ws[1])]
            return tf.reshape(tf.stack(rows), ws)

        reference = filter_grad(x, dy)
        out[name] = {
            "filter_gradient": _best_ms(filter_grad, x, dy, reps=reps),
            "filter_gradient_as_patches_matmul": _best_ms(patches_filter_grad, x, dy, reps=reps),
            "filter_gradient_as_matmul_per_offset": _best_ms(offsets_filter_grad, x, dy, reps=reps),
            "max_abs_difference_of_the_alternatives": max(
                float(tf.reduce_max(tf.abs(reference - f(x, dy)))) for f in (patches_filter_grad, offsets_filter_grad)),
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "filter_gradient_alternatives.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.reps)))
        return 0
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    runs = {}
    for label, value in (("eigen (TF_ENABLE_ONEDNN_OPTS=0)", "0"), ("onednn (TF_ENABLE_ONEDNN_OPTS=1)", "1")):
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=value, TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, __file__, "--worker", "--reps", str(args.reps)], env=env,
                              capture_output=True, text=True, check=True)
        runs[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    result = {"unit": "milliseconds, best of %d calls, batch 128" % args.reps, "load_before": load, "runs": runs}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
