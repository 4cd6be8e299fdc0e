"""Benchmark: the runtime against a Mac's MLUpdateTask run, under every alternative training convention.

Reads the device's trained weights from ``../shared/device-anchor/trained_on_mac.mlmodelc``, trains
the untrained model in the runtime on the same 405 rows (the app's preprocessing), and reports for each
convention alternative the mean and max |dW| from the device's weights (over all 3,009 weights and
biases) and the test MSE (101 rows), beside the chaos floor: the runtime against itself from starts
perturbed by 1e-6 (N(0, 1) x 1e-6 on every weight, numpy seeds 0..P-1), and the rounding floor: the
same training written independently in numpy (float32 and float64), whose rounding differs from the
runtime's at every step, as a device's kernels' would.

Alternatives: the last partial mini-batch (keep, drop) x MSE factor (1, 1/2) x reshuffle (every epoch,
once), each with the default order; then, for keep and drop, every order variant: the unseeded start
(default-constructed engine, seed_seq{0}, seed_seq{}), seeds 1..S through seed_seq, the reshuffle
variants (a fresh engine each epoch, each epoch from the original order, the first epoch unshuffled),
std::mt19937 instead of minstd_rand, and no shuffle.

    python benchmarks/device_anchor.py [--seeds 8] [--perturbations 4]   # about 40 runs, 5-10 min here
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds 1..S through seed_seq")
    parser.add_argument("--perturbations", type=int, default=4)
    parser.add_argument("--out", default=str(RESULTS / "device_anchor.json"))
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG from the JSON")
    args = parser.parse_args(argv)
    if args.replot:
        plot(json.loads(Path(args.out).read_text()), Path(args.out).with_suffix(".png"))
        return 0

    import numpy as np

    from emulator.conventions import CORE_ML, Conventions
    from emulator.training import batch_orders
    from parity import device_anchor as A

    if not A.available():
        print(f"error: {A.ANCHOR} is missing", file=sys.stderr)
        return 2
    data, spec, device = A.rows(), A.untrained_spec(), A.device_weights()
    base = Conventions()   # the field defaults, whatever CORE_ML chose: every run names what it changed
    runs: list[dict] = []

    def run(group: str, conventions: Conventions, measured: dict | None = None, **kw) -> dict:
        started = time.perf_counter()
        m = measured or A.measure(spec, data, device, conventions, **kw)
        changed = {k: v for k, v in asdict(conventions).items() if v != asdict(base)[k]}
        entry = {"group": group, "conventions": asdict(conventions), "changed": changed,
                 "seed": kw.get("seed"), "shuffle": kw.get("shuffle", True),
                 **{k: m[k] for k in ("mean_abs_dw", "max_abs_dw", "test_mse")},
                 "seconds": time.perf_counter() - started}
        runs.append(entry)
        print(f"{group:10s} {json.dumps(changed):70s} seed={kw.get('seed')} shuffle={kw.get('shuffle', True)}: "
              f"mean {entry['mean_abs_dw']:.4f} max {entry['max_abs_dw']:.3f} test MSE {entry['test_mse']:.2f}",
              file=sys.stderr)
        return entry

    load_before = load_average()
    perturbed = []
    for partial in ("keep", "drop"):
        for mse in ("mean_no_half", "mean_half"):
            for reshuffle in ("every_epoch", "once"):
                c = replace(base, partial_last_batch=partial, mse=mse, reshuffle=reshuffle)
                p = A.perturbed_runs(spec, data, device, c, perturbations=args.perturbations)
                run("factorial", c, p["unperturbed"])
                perturbed.append({"conventions": asdict(c), **p})
                print("  perturbed starts: vs device " + ", ".join(f"{r['vs_device']['mean_abs_dw']:.4f}"
                      for r in p["perturbed"]) + "; chaos floor " + ", ".join(
                      f"{r['vs_unperturbed']['mean_abs_dw']:.4f}" for r in p["perturbed"]), file=sys.stderr)
    for partial in ("keep", "drop"):
        c = replace(base, partial_last_batch=partial)
        for unseeded in ("seed_seq_zero", "seed_seq_empty"):
            run("unseeded", replace(c, unseeded=unseeded))
        for seed in range(1, args.seeds + 1):
            run("seeds", c, seed=seed)
        for reshuffle in ("every_epoch_fresh_engine", "every_epoch_from_identity", "after_each_epoch"):
            run("reshuffle", replace(c, reshuffle=reshuffle))
        run("engine", replace(c, shuffle="libcxx_mt19937"))
        run("no_shuffle", c, shuffle=False)

    rounding = {}
    for partial in ("keep", "drop"):
        c = replace(base, partial_last_batch=partial)
        runtime = A.spec_weights(A.train(spec, data, c))
        orders = batch_orders(len(data.y_train), 500, True, None, c)
        rounding[partial] = {}
        for dtype in (np.float32, np.float64):
            w = A.numpy_train(spec, data, orders, drop_partial=partial == "drop", dtype=dtype)
            rounding[partial][dtype.__name__] = {"vs_runtime": A.distance(w, runtime), "vs_device": A.distance(w, device)}
        print(f"rounding floor ({partial}): numpy vs runtime " + ", ".join(
            f"{k} {v['vs_runtime']['mean_abs_dw']:.4f}" for k, v in rounding[partial].items()), file=sys.stderr)

    result = {
        "benchmark": "device anchor: runtime vs a Mac's MLUpdateTask (13-64-32-1 MLP, MSE, SGD lr 0.001, "
                     "batch 32, 500 epochs, 405 rows, shuffle on, no seed)",
        "definition": "mean/max |dW|: over all 3,009 weights and biases of dense1..3, runtime minus device; "
                      "test MSE on the app's 101 test rows",
        "device": {"test_mse": A.test_mse(A.with_weights(spec, device), data),
                   "untrained_test_mse": A.test_mse(spec, data),
                   "untrained_vs_device": A.distance(A.spec_weights(spec), device)},
        "chosen_conventions": asdict(CORE_ML),
        "runs": runs,
        "perturbed_starts": perturbed,
        "rounding_floor": rounding,
        "load": {"before": load_before, "after": load_average()},
        "notes": "wall times are shared-machine times (8 developers on 2 cores); the figures themselves "
                 "are deterministic given the conventions",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out.with_suffix(".png"))
    print(json.dumps(summary(result), indent=2))
    return 0


def summary(result: dict) -> dict:
    """Mean |dW| by alternative, the chaos floors, the device's test MSE."""
    table = {}
    for r in result["runs"]:
        key = f"{r['group']}: " + (", ".join(f"{k}={v}" for k, v in r["changed"].items()) or "defaults")
        key += (f", seed={r['seed']}" if r["seed"] is not None else "") + ("" if r["shuffle"] else ", no shuffle")
        table[key] = round(r["mean_abs_dw"], 4)
    floors = {_label(p["conventions"]): {
        "vs_device": [round(r["vs_device"]["mean_abs_dw"], 4) for r in p["perturbed"]],
        "chaos_floor": [round(r["vs_unperturbed"]["mean_abs_dw"], 4) for r in p["perturbed"]]}
        for p in result["perturbed_starts"]}
    rounding = {k: {d: round(v["vs_runtime"]["mean_abs_dw"], 4) for d, v in r.items()}
                for k, r in result["rounding_floor"].items()}
    return {"mean_abs_dw": table, "perturbed_starts": floors, "rounding_floor_numpy_vs_runtime": rounding,
            "device_test_mse": result["device"]["test_mse"]}


def _label(conventions: dict) -> str:
    return ", ".join(f"{k}={conventions[k]}" for k in ("partial_last_batch", "mse", "reshuffle"))


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(result["runs"], key=lambda r: r["mean_abs_dw"])
    labels = [(", ".join(f"{k}={v}" for k, v in r["changed"].items()) or "the field defaults (chosen)")
              + (f", seed {r['seed']}" if r["seed"] is not None else "") + ("" if r["shuffle"] else ", no shuffle")
              for r in runs]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(runs) + 1.5))
    colours = ["tab:green" if r["conventions"]["partial_last_batch"] == "drop" else "tab:blue" for r in runs]
    ax.barh(range(len(runs)), [r["mean_abs_dw"] for r in runs], color=colours)
    ax.set_yticks(range(len(runs)), labels, fontsize=7)
    ax.invert_yaxis()
    floor = max(r["vs_unperturbed"]["mean_abs_dw"] for p in result["perturbed_starts"] for r in p["perturbed"])
    ax.axvline(floor, color="k", linestyle=":", label="chaos floor (runtime vs itself, start moved 1e-6): worst")
    ax.set_xlabel("mean |W_runtime - W_device| over 3,009 parameters (green: partial batch dropped)")
    ax.set_title("Runtime vs a Mac's MLUpdateTask run, by training convention")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
