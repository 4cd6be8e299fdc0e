"""One chart of a parity run: both sides' per-batch loss curves, with each side's test accuracy."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot(report: Any, path: Path) -> Path:
    """Draw the loss of every mini-batch on both sides (dots: epoch means) and their relative
    difference; save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not report.keras.batch_losses and not report.coreml.batch_losses:
        return _no_training(report, path, plt)
    k = np.concatenate([np.asarray(e, float) for e in report.keras.batch_losses]) if report.keras.batch_losses \
        else np.zeros(0)
    c = np.concatenate([np.asarray(e, float) for e in report.coreml.batch_losses]) if report.coreml.batch_losses \
        else np.zeros(0)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(3, 1))
    steps = np.arange(1, len(k) + 1)
    per_epoch = len(report.keras.batch_losses[0]) if report.keras.batch_losses else 0
    top.plot(steps, k, lw=1.4, label=f"Keras (test accuracy {report.keras.test_accuracy:.4f}, "
                                      f"{report.keras.wall_time_s:.1f} s)")
    top.plot(np.arange(1, len(c) + 1), c, lw=1.0, ls="--",
             label=f"Core ML, emulated (test accuracy {report.coreml.test_accuracy:.4f}, "
                   f"{report.coreml.wall_time_s:.1f} s)")
    for e in range(1, len(report.keras.batch_losses)):
        top.axvline(e * per_epoch + 0.5, color="0.85", lw=0.8, zorder=0)
    for side, color in ((report.keras, "tab:blue"), (report.coreml, "tab:orange")):
        if side.epoch_mean_losses and per_epoch:
            centers = (np.arange(len(side.epoch_mean_losses)) + 0.5) * per_epoch
            top.plot(centers, side.epoch_mean_losses, "o", ms=4, color=color, mec="k", mew=0.5)
    n_lock = len(report.lockstep.get("keras_losses", []))
    if n_lock:
        top.axvspan(0.5, n_lock + 0.5, color="tab:green", alpha=0.08, lw=0, label=f"lockstep ({n_lock} batches)")
    top.set_yscale("log")
    top.set_ylabel("mini-batch loss")
    verdict = "PASSED" if report.passed else "FAILED: " + ", ".join(report.failed())
    top.set_title(f"Parity: {Path(str(report.source)).name} ({verdict})", fontsize=10)
    top.legend(fontsize=8)
    if len(k) and len(k) == len(c):
        floor = report.tolerances.get("loss_floor", 0.05)
        rel = np.abs(k - c) / np.maximum(np.maximum(np.abs(k), np.abs(c)), floor)
        bottom.semilogy(steps, np.maximum(rel, 1e-12), lw=0.8, color="tab:red")
        bottom.axhline(report.tolerances.get("lockstep_loss_rel", np.nan), color="k", ls=":", lw=0.8,
                       label="lockstep tolerance")
        bottom.legend(fontsize=7)
    bottom.set_ylabel("relative diff")
    bottom.set_xlabel("mini-batch (all epochs)")
    return _save(fig, path, plt)


def _no_training(report: Any, path: Path, plt: Any) -> Path:
    """No training was compared (the model failed a check that rules it out): say why, in the picture."""
    import textwrap

    failed = ", ".join(report.failed()) or "none"
    lines = [f"Parity: {report.source}", "", f"FAILED checks: {failed}", ""]
    for text in [note for note in report.notes if "not compared" in note] + report.diagnosis[:4]:
        lines += textwrap.wrap(text, 105, subsequent_indent="    ") + [""]
    fig, ax = plt.subplots(figsize=(9, 0.5 + 0.17 * len(lines)))
    ax.axis("off")
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8.5,
            transform=ax.transAxes)
    return _save(fig, path, plt)


def _save(fig: Any, path: Path, plt: Any) -> Path:
    """Write the figure through a temporary file and a rename (never a half-written PNG)."""
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
