"""One chart of a parity run: both sides' per-batch loss curves, their epoch means, and how far apart
they are, each mark with its legend entry and each difference drawn against what judges it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FLOOR = 1e-9
"""Differences below this (0 where both sides agree to the bit) are drawn at it, on the log scale."""


def plot(report: Any, path: Path) -> Path:
    """Save :func:`figure` as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return _save(figure(report), path, plt)


def figure(report: Any) -> Any:
    """Draw the loss of every mini-batch on both sides, their epoch means, and (below) their relative
    difference: judged against the lockstep tolerance over the lockstep batches only; after them
    reported, not judged, with the epoch means against their own (looser) tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not report.keras.batch_losses and not report.coreml.batch_losses:
        return _no_training(report, plt)
    k = np.concatenate([np.asarray(e, float) for e in report.keras.batch_losses]) if report.keras.batch_losses \
        else np.zeros(0)
    c = np.concatenate([np.asarray(e, float) for e in report.coreml.batch_losses]) if report.coreml.batch_losses \
        else np.zeros(0)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, height_ratios=(3, 1.6))
    steps = np.arange(1, len(k) + 1)
    per_epoch = len(report.keras.batch_losses[0]) if report.keras.batch_losses else 0
    n_lock = len(report.lockstep.get("keras_losses", []))
    t = report.tolerances
    for ax in (top, bottom):
        if n_lock:
            ax.axvspan(0.5, n_lock + 0.5, color="tab:green", alpha=0.08, lw=0,
                       label=f"lockstep: first {n_lock} batches, judged" if ax is top else None)
        for e in range(1, len(report.keras.batch_losses)):
            ax.axvline(e * per_epoch + 0.5, color="0.8", lw=0.8, zorder=0,
                       label="epoch boundary" if ax is top and e == 1 else None)
    top.plot(steps, k, lw=1.4, color="tab:blue", label=f"Keras (test accuracy {report.keras.test_accuracy:.4f}, "
                                                        f"{report.keras.wall_time_s:.1f} s)")
    top.plot(np.arange(1, len(c) + 1), c, lw=1.0, ls="--", color="tab:orange",
             label=f"Core ML, emulated (test accuracy {report.coreml.test_accuracy:.4f}, "
                   f"{report.coreml.wall_time_s:.1f} s)")
    for side, name, color, marker in ((report.keras, "Keras", "tab:blue", "o"),
                                      (report.coreml, "Core ML", "tab:orange", "D")):
        if side.epoch_mean_losses and per_epoch:
            centers = (np.arange(len(side.epoch_mean_losses)) + 0.5) * per_epoch
            top.plot(centers, side.epoch_mean_losses, marker, ms=6 if marker == "o" else 4, color=color, mec="k",
                     mew=0.5, ls="none", label=f"{name} epoch mean loss")
    top.set_yscale("log")
    top.set_ylabel("mini-batch loss")
    verdict = "PASSED" if report.passed else "FAILED: " + ", ".join(report.failed())
    top.set_title(f"Parity: {Path(str(report.source)).name} ({verdict})\njudged: forward pass, the lockstep batches, "
                  "epoch mean losses, test accuracy, frozen weights", fontsize=9.5)
    top.legend(fontsize=7.5, loc="upper right")
    if len(k) and len(k) == len(c):
        _differences(bottom, report, k, c, steps, per_epoch, n_lock, t)
    bottom.set_ylabel("relative difference")
    bottom.set_xlabel("mini-batch (all epochs)")
    return fig


def _differences(ax: Any, report: Any, k: np.ndarray, c: np.ndarray, steps: np.ndarray, per_epoch: int,
                 n_lock: int, t: dict[str, float]) -> None:
    """The lower panel: per-batch and epoch-mean relative differences, each against what judges it."""
    rel = np.maximum(np.abs(k - c) / np.maximum(np.maximum(np.abs(k), np.abs(c)), t.get("loss_floor", 0.05)), FLOOR)
    lock = min(n_lock, len(rel))
    ax.semilogy(steps[:lock], rel[:lock], lw=0.9, color="tab:red", label="per batch, lockstep (judged)")
    if lock < len(rel):
        ax.semilogy(steps[max(lock - 1, 0):], rel[max(lock - 1, 0):], lw=0.8, color="0.6",
                    label="per batch, after lockstep (reported, not judged)")
    if lock:
        ax.hlines(t.get("lockstep_loss_rel", np.nan), 0.5, lock + 0.5, colors="tab:red", linestyles=":", lw=1.0,
                  label=f"lockstep tolerance {t.get('lockstep_loss_rel', np.nan):g}")
    km, cm = report.keras.epoch_mean_losses, report.coreml.epoch_mean_losses
    if km and len(km) == len(cm) and per_epoch:
        em = np.abs(np.subtract(km, cm)) / np.maximum(np.maximum(km, cm), t.get("epoch_loss_floor", 0.1))
        centers = (np.arange(len(km)) + 0.5) * per_epoch
        ax.semilogy(centers, np.maximum(em, FLOOR), "s", ms=5, color="k", ls="none",
                    label="epoch mean loss (judged)")
        ax.axhline(t.get("epoch_loss_rel", np.nan), color="k", ls="--", lw=0.8,
                   label=f"epoch-mean tolerance {t.get('epoch_loss_rel', np.nan):g}")
    ax.set_ylim(FLOOR / 3, max(ax.get_ylim()[1], 4 * t.get("epoch_loss_rel", 0.1)))
    ax.legend(fontsize=6.5, loc="lower right", ncol=2)


def _no_training(report: Any, plt: Any) -> Any:
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
    return fig


def _save(fig: Any, path: Path, plt: Any) -> Path:
    """Write the figure through a temporary file and a rename (never a half-written PNG)."""
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
