"""A federated round against the same training in one process, and the memory of a 100-device run.

- Speed: 10 devices a round, 600 MNIST examples each, 1 local epoch, batch 32, the seeds' LeNet, on
  Flower's simulation engine (Ray). Ratio: the round's wall time (sampling, messages, ten local runs,
  aggregation; rounds 2.. so Ray's start-up and the one graph compilation are left out) over the
  runtime's time to train the same 6,000 examples in one process (``Model.update``, batch 32, one
  epoch): against a warm run (graph compiled, the strict ratio) and a cold one (load and compile
  included, as ``coreml-updatable train`` pays). Target <= 1.3. The baseline runs before and after the
  federated run and the median of all its runs counts, so drifting load hits both sides.
- Memory: a 100-device run (fraction 0.1, full MNIST, 3 rounds): the peak, over the run, of the summed
  RSS and of the summed PSS (shared pages split between processes) of the whole process tree, Ray's
  processes and workers included (read from /proc: Linux only). Target <= 4 GB.

    python benchmarks/federated_speed.py [--rounds 6] [--data PATH]

Writes benchmarks/results/federated_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def baseline(model: str, data: str, runs: int) -> dict:
    """Train 6,000 examples in this process: one cold run (fresh model), then warm runs."""
    sys.path.insert(0, str(ROOT))
    import emulator
    import data_loading as D

    ds = D.load(data)
    x, y = D.for_coreml(ds.x_train[:6000], (1, 28, 28)), ds.y_train[:6000]
    t = time.perf_counter()
    m = emulator.load(model)
    m.update({"image": x, "probs_true": y}, batch_size=32, epochs=1, seed=1)
    cold = time.perf_counter() - t
    warm = []
    for i in range(runs):
        t = time.perf_counter()
        m.update({"image": x, "probs_true": y}, batch_size=32, epochs=1, seed=2 + i)
        warm.append(time.perf_counter() - t)
    return {"cold_s": cold, "warm_s": warm}


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def _memory(pids: list[int]) -> tuple[int, int, int]:
    rss = pss = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss, len(pids)


def federate(args: list[str], sample: bool) -> tuple[dict, dict]:
    """Run ``coreml-updatable federate`` as a child; sample its process tree's memory meanwhile."""
    proc = subprocess.Popen([sys.executable, "-m", "coreml_updatable.cli", "federate", *args, "--json",
                             "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"rss_bytes": 0, "pss_bytes": 0, "processes": 0}

    def watch():
        while proc.poll() is None:
            rss, pss, n = _memory(_tree(proc.pid))
            if pss > peak["pss_bytes"]:
                peak.update(pss_bytes=pss, processes=n)
            peak["rss_bytes"] = max(peak["rss_bytes"], rss)
            time.sleep(1.0)

    thread = threading.Thread(target=watch, daemon=True)
    if sample:
        thread.start()
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"federate failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(out), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist" / "mnist.npz"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--baseline", nargs=2, metavar=("MODEL", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(baseline(*args.baseline, runs=3)))
        return
    sys.path.insert(0, str(ROOT))
    folder = RESULTS / "federated_speed"
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "lenet.mlmodel"
    from converter.convert import convert

    convert(str(ROOT / "fixtures" / "lenet.keras")).save(model, force=True)

    def run_baseline():
        out = subprocess.run([sys.executable, __file__, "--baseline", str(model), args.data], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    load = [os.getloadavg()]
    before = run_baseline()
    speed_args = [str(model), "--data", args.data, "--clients", "10", "--fraction", "1", "--limit", "6000",
                  "--rounds", str(args.rounds), "--local-epochs", "1", "--batch-size", "32", "--partition", "iid",
                  "--report", str(folder / "round")]
    summary, _ = federate(speed_args, sample=False)
    after = run_baseline()
    load.append(os.getloadavg())
    report = json.loads((folder / "round" / "report.json").read_text())
    rounds = report["rounds"][1:]
    per_round = statistics.median(r["train_wall_s"] for r in rounds)
    warm = statistics.median(before["warm_s"] + after["warm_s"])
    cold = statistics.median([before["cold_s"], after["cold_s"]])
    result = {
        "speed": {"command": "python benchmarks/federated_speed.py", "federate_args": speed_args,
                  "examples_per_device": [c["examples"] for c in report["clients"]],
                  "round_train_wall_s": [r["train_wall_s"] for r in report["rounds"]],
                  "round_eval_wall_s": [r["eval_wall_s"] for r in report["rounds"]],
                  "median_round_s (rounds 2..)": round(per_round, 3),
                  "one_process_6000_warm_s": [round(v, 3) for v in before["warm_s"] + after["warm_s"]],
                  "one_process_6000_cold_s": [round(before["cold_s"], 3), round(after["cold_s"], 3)],
                  "ratio_vs_warm": round(per_round / warm, 3), "ratio_vs_cold": round(per_round / cold, 3),
                  "target": 1.3, "load_average": [[round(v, 2) for v in la] for la in load]},
    }
    if not args.skip_memory:
        mem_args = [str(model), "--data", args.data, "--clients", "100", "--fraction", "0.1", "--rounds", "3",
                    "--report", str(folder / "memory")]
        summary, peak = federate(mem_args, sample=True)
        result["memory_100_devices"] = {"federate_args": mem_args, "peak_rss_sum_gb": round(peak["rss_bytes"] / 1e9, 3),
                                        "peak_pss_sum_gb": round(peak["pss_bytes"] / 1e9, 3),
                                        "processes_at_peak": peak["processes"], "target_gb": 4.0,
                                        "final_test_accuracy": summary["final_test_accuracy"]}
    (RESULTS / "federated_speed.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
