"""Where the runtime's time goes when it trains the seeds' LeNet (batch 128, Adam), piece by piece.

Each piece is a compiled graph timed on its own (best of ``--reps`` calls of ``--steps`` mini-batches,
after a warm-up call; wall time and the process' CPU time, the latter less disturbed by other jobs on
shared cores), on random MNIST-shaped data with the LeNet's shapes: the convolutions forward
and backward in NHWC, the poolings, the dense layers, the flatten reorder, Adam as separate ops per
variable or as one fused kernel per variable, gathering each batch from the data set or slicing one
shuffled copy per epoch. Thread settings (intra/inter op) and the kernel choice (the runtime's oneDNN, or Eigen's) need a fresh
TensorFlow, so each runs in a child process (``--child``).

    python benchmarks/profile_lenet.py [--steps 16] [--reps 5]     # writes results/profile_lenet.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
B = 128


def _timer(fn, args, reps: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of the process) of one call."""
    fn(*args)                                     # trace and warm up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        out = fn(*args)
        _ = [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    return best, best_cpu


def training_gflop_per_step() -> float:
    """The LeNet's multiply-add FLOPs of one training step of B examples (as emulator_vs_keras counts)."""
    from emulator_vs_keras import training_flops_per_example

    return training_flops_per_example() * B / 1e9


def pieces(steps: int, reps: int) -> dict[str, dict[str, float]]:
    """Milliseconds per mini-batch of each piece (K = ``steps`` mini-batches per graph call), wall and CPU."""
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(0)
    x_all = rng.uniform((22699, 28, 28, 1))
    idx = tf.random.shuffle(tf.range(22699), seed=1)[:steps * B]
    xb = tf.gather(x_all, idx[:B])
    w = {"c1": tf.Variable(rng.normal((3, 3, 1, 32)) * 0.1), "b1": tf.Variable(tf.zeros(32)),
         "c2": tf.Variable(rng.normal((2, 2, 32, 32)) * 0.1), "b2": tf.Variable(tf.zeros(32)),
         "d1": tf.Variable(rng.normal((1152, 500)) * 0.03), "e1": tf.Variable(tf.zeros(500)),
         "d2": tf.Variable(rng.normal((500, 10)) * 0.05), "e2": tf.Variable(tf.zeros(10))}
    vs = list(w.values())
    y = tf.zeros(B, tf.int32)

    def forward(x, transpose_flatten=False, pool_first=False):
        def relu_pool(h):     # max pooling commutes with ReLU: the same values and the same gradients
            return tf.nn.relu(tf.nn.max_pool2d(h, 2, 2, "VALID")) if pool_first else \
                tf.nn.max_pool2d(tf.nn.relu(h), 2, 2, "VALID")
        h = relu_pool(tf.nn.bias_add(tf.nn.conv2d(x, w["c1"], 1, "VALID"), w["b1"]))
        h = relu_pool(tf.nn.bias_add(tf.nn.conv2d(h, w["c2"], 1, "VALID"), w["b2"]))
        if transpose_flatten:
            h = tf.transpose(h, [0, 3, 1, 2])
        h = tf.reshape(h, [-1, 1152])
        h = tf.nn.relu(tf.matmul(h, w["d1"]) + w["e1"])
        return tf.matmul(h, w["d2"]) + w["e2"]

    def loss(x, **kw):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=forward(x, **kw)))

    def looped(body):
        @tf.function(autograph=False)
        def run(x):
            def step(k, acc):
                return k + 1, acc + body(x)
            return tf.while_loop(lambda k, _: k < steps, step, [tf.constant(0), tf.constant(0.0)])[1]
        return lambda: [t / steps * 1e3 for t in _timer(run, [xb], reps)]

    m = [tf.Variable(tf.zeros_like(v)) for v in vs]
    v2 = [tf.Variable(tf.zeros_like(v)) for v in vs]
    grads = [tf.ones_like(v) * 1e-3 for v in vs]

    def adam_ops(gs):
        for var, g, mm, vv in zip(vs, gs, m, v2):
            m_new = mm.assign(0.9 * mm + 0.1 * g)
            v_new = vv.assign(0.999 * vv + 0.001 * tf.square(g))
            var.assign_sub(1e-3 * m_new / (tf.sqrt(v_new) + 1e-7))
        return tf.constant(0.0)

    def adam_fused(gs):
        for var, g, mm, vv in zip(vs, gs, m, v2):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=mm.handle, v=vv.handle, beta1_power=0.9,
                                         beta2_power=0.999, lr=1e-6, beta1=0.9, beta2=0.999, epsilon=1e-7, grad=g)
        return tf.constant(0.0)

    def grads_of(**kw):
        def body(x):
            with tf.GradientTape() as tape:
                value = loss(x, **kw)
            gs = tape.gradient(value, vs)
            return value + tf.add_n([tf.reduce_sum(g[..., :1]) for g in gs]) * 0.0
        return body

    def step(adam, **kw):
        def body(x):
            with tf.GradientTape() as tape:
                value = loss(x, **kw)
            adam(tape.gradient(value, vs))
            return value
        return body

    def layer_grad(fn, inp, var):
        def body(_):
            with tf.GradientTape() as tape:
                tape.watch(inp)
                out = fn(inp)
            return tf.reduce_sum(tape.gradient(out, var)[..., :1])
        return body

    h1_in = xb
    h2_in = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(xb, w["c1"], 1, "VALID")), 2, 2, "VALID")
    p1_in = tf.nn.relu(tf.nn.conv2d(xb, w["c1"], 1, "VALID"))
    d1_in = tf.random.normal((B, 1152))
    table = {
        "forward": looped(lambda x: tf.reduce_sum(forward(x))),
        "forward+loss+gradients": looped(grads_of()),
        "train step, Adam as separate ops": looped(step(adam_ops)),
        "train step, Adam fused (ResourceApplyAdam)": looped(step(adam_fused)),
        "train step, flatten transposed CHW (no layout plan)": looped(step(adam_fused, transpose_flatten=True)),
        "train step, max pooling before ReLU": looped(step(adam_fused, pool_first=True)),
        "Adam separate ops alone": looped(lambda x: adam_ops(grads)),
        "Adam fused alone": looped(lambda x: adam_fused(grads)),
        "conv1 forward": looped(lambda x: tf.reduce_sum(tf.nn.conv2d(h1_in, w["c1"], 1, "VALID")[..., :1])),
        "conv1 filter gradient": looped(layer_grad(lambda i: tf.nn.conv2d(i, w["c1"], 1, "VALID"), h1_in, w["c1"])),
        "conv2 forward": looped(lambda x: tf.reduce_sum(tf.nn.conv2d(h2_in, w["c2"], 1, "VALID")[..., :1])),
        "conv2 filter gradient": looped(layer_grad(lambda i: tf.nn.conv2d(i, w["c2"], 1, "VALID"), h2_in, w["c2"])),
        "conv2 input gradient": looped(layer_grad(lambda i: tf.nn.conv2d(i, w["c2"], 1, "VALID"), h2_in, h2_in)),
        "pool1 forward+backward": looped(layer_grad(lambda i: tf.nn.max_pool2d(i, 2, 2, "VALID"), p1_in, p1_in)),
        "relu1 backward (ReluGrad on conv1's output)": looped(lambda x: tf.reduce_sum(
            tf.raw_ops.ReluGrad(gradients=p1_in, features=p1_in)[..., :1])),
        "dense1 forward+backward": looped(layer_grad(lambda i: tf.matmul(i, w["d1"]), d1_in, w["d1"])),
        "gather one batch from the data set": looped(lambda x: tf.reduce_sum(tf.gather(x_all, idx[:B])[:, 0, 0, 0])),
        "slice one batch of a shuffled copy": looped(lambda x: tf.reduce_sum(x_all[:B][:, 0, 0, 0])),
    }
    big = tf.random.normal((1024, 1024))
    table["matmul 1024x1024x1024 (GFLOP/s, not ms)"] = looped(lambda x: tf.reduce_sum(tf.matmul(big, big)[:1]))
    out = {}
    for name, f in table.items():
        wall, cpu = f()
        if name.startswith("matmul"):
            wall, cpu = 2 * 1024 ** 3 / wall / 1e6, 2 * 1024 ** 3 / cpu / 1e6
        out[name] = {"wall": round(wall, 3), "cpu": round(cpu, 3)}
    step_ms = out["train step, Adam fused (ResourceApplyAdam)"]
    out["train step GFLOP/s (from its best time)"] = {k: round(training_gflop_per_step() / (v / 1e3), 1)
                                                       for k, v in step_ms.items()}
    return out


def op_shares(steps: int = 20) -> dict[str, float]:
    """Per op type, the share of the traced time of one training step (TensorFlow step stats).

    The LeNet training step (NHWC convolutions, max pooling, the flatten, dense layers, cross-entropy,
    gradients, fused Adam) is built as a TF1 graph and run ``steps`` times with a full trace; each
    node's kernel time is summed by op type. Ops run in parallel (2 threads), so the shares are of the
    summed kernel time, not of wall time.
    """
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.default_rng(0)
        x = v1.placeholder(tf.float32, (B, 28, 28, 1))
        y = v1.placeholder(tf.int32, (B,))
        shapes = {"c1": (3, 3, 1, 32), "b1": (32,), "c2": (2, 2, 32, 32), "b2": (32,), "d1": (1152, 500),
                  "e1": (500,), "d2": (500, 10), "e2": (10,)}
        w = {k: v1.get_variable(k, initializer=(rng.normal(size=s) * 0.05).astype(np.float32), use_resource=True)
             for k, s in shapes.items()}
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w["c1"], 1, "VALID"), w["b1"]))
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w["c2"], 1, "VALID"), w["b2"]))
        h = tf.reshape(tf.nn.max_pool2d(h, 2, 2, "VALID"), [-1, 1152])
        h = tf.nn.relu(tf.matmul(h, w["d1"]) + w["e1"])
        logits = tf.matmul(h, w["d2"]) + w["e2"]
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = tf.gradients(loss, list(w.values()))
        updates = []
        for (name, var), g in zip(w.items(), grads):
            m = v1.get_variable(name + "_m", initializer=np.zeros(shapes[name], np.float32), use_resource=True)
            v = v1.get_variable(name + "_v", initializer=np.zeros(shapes[name], np.float32), use_resource=True)
            updates.append(tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=0.9,
                                                        beta2_power=0.999, lr=1e-3, beta1=0.9, beta2=0.999,
                                                        epsilon=1e-7, grad=g))
        train = tf.group(updates, loss)
        init = v1.global_variables_initializer()
    feed = {x: rng.uniform(size=(B, 28, 28, 1)).astype(np.float32), y: rng.integers(0, 10, B).astype(np.int32)}
    totals: dict[str, float] = {}
    with v1.Session(graph=graph) as sess:
        sess.run(init)
        for _ in range(3):
            sess.run(train, feed)
        options = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE)
        for _ in range(steps):
            meta = v1.RunMetadata()
            sess.run(train, feed, options=options, run_metadata=meta)
            for dev in meta.step_stats.dev_stats:
                for node in dev.node_stats:
                    op = node.timeline_label.split("(")[0].split("=")[-1].strip() or node.node_name
                    op = op.split(" ")[0] if op else node.node_name
                    totals[op] = totals.get(op, 0.0) + node.op_end_rel_micros / 1e3 / steps
    total = sum(totals.values())
    top = sorted(totals.items(), key=lambda kv: -kv[1])
    return {"total_kernel_ms_per_step": round(total, 3),
            "share_by_op": {k: round(v / total, 4) for k, v in top if v / total >= 0.005}}


def child(args) -> int:
    from ground import kernels

    kernels.choose()                 # the runtime's kernel choice (oneDNN on Linux x86-64) unless the env says
    import tensorflow as tf

    if args.intra or args.inter:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra)
        tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    out = pieces(args.steps, args.reps)
    if args.ops:
        out["op_shares"] = op_shares()
    print(json.dumps(out))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--intra", type=int, default=0)
    parser.add_argument("--inter", type=int, default=0)
    parser.add_argument("--ops", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS / "profile_lenet.json"))
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    configs = {"the runtime's kernels (ground.kernels: oneDNN on Linux x86-64), TF picks threads": ({}, ["--ops"]),
               "Eigen's kernels (TF_ENABLE_ONEDNN_OPTS=0, TensorFlow's own choice on this CPU)":
                   ({"TF_ENABLE_ONEDNN_OPTS": "0"}, ["--ops"]),
               "intra 1, inter 1 (one core: least disturbed by other jobs)": ({}, ["--intra", "1", "--inter", "1"]),
               "intra 2, inter 1": ({}, ["--intra", "2", "--inter", "1"]),
               "intra 1, inter 2": ({}, ["--intra", "1", "--inter", "2"]),
               "intra 2, inter 2": ({}, ["--intra", "2", "--inter", "2"])}
    out = {"unit": "milliseconds per mini-batch of 128 (best of reps)", "steps_per_call": args.steps,
           "load_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), "configs": {}}
    for name, (env, extra) in configs.items():
        proc = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps), "--reps", str(args.reps),
                               *extra], capture_output=True, text=True, env={**os.environ, **env})
        if proc.returncode:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        out["configs"][name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, json.dumps(out["configs"][name], indent=1), file=sys.stderr)
    out["load_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out["notes"] = ("absolute times on this VM are noisy (about 20% run to run): compare pieces within one config "
                    "(CPU times are the steadier); TensorFlow turns oneDNN's kernels on by itself only on some CPUs, "
                    "the runtime asks for them on Linux x86-64 (op_shares names _Mkl* kernels where they ran)")
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
