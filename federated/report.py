"""What a federated run writes into its report folder: ``report.json`` and ``federated.png``."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

THRESHOLDS = (0.97, 0.98, 0.99)


@dataclass
class Dropped:
    partition: int
    reason: str


@dataclass
class Round:
    """One round as the server saw it."""

    round: int
    clients: list[int] = field(default_factory=list)          # partition ids of the devices that trained
    examples: int = 0                                          # examples trained on by the kept devices
    mean_train_loss: float | None = None                       # mean over kept devices of their last epoch's mean loss
    weighted_train_loss: float | None = None                   # the same, weighted by examples
    dropped: list[Dropped] = field(default_factory=list)       # devices left out of the average, and why
    test_accuracy: float | None = None
    test_loss: float | None = None
    train_wall_s: float = 0.0                                  # sampling, local training, aggregation
    eval_wall_s: float = 0.0                                   # global test evaluation and the model write
    wall_s: float = 0.0


@dataclass
class Report:
    config: dict[str, Any]
    clients: list[dict[str, Any]]                              # per device: id, examples, label histogram
    initial: dict[str, float] = field(default_factory=dict)    # test accuracy / loss before round 1
    rounds: list[Round] = field(default_factory=list)
    engine: str = "simulation"
    started: float = 0.0
    finished: bool = False                                     # all rounds done (a deployment launcher waits on it)

    def rounds_to(self, accuracy: float) -> int | None:
        """The first round whose global test accuracy reaches ``accuracy``."""
        return next((r.round for r in self.rounds if r.test_accuracy is not None and r.test_accuracy >= accuracy), None)

    def summary(self) -> dict[str, Any]:
        accs = [r.test_accuracy for r in self.rounds if r.test_accuracy is not None]
        elapsed = 0.0
        reached = {}
        for r in self.rounds:
            elapsed += r.wall_s
            for t in THRESHOLDS:
                if f"{t:.2f}" not in reached and r.test_accuracy is not None and r.test_accuracy >= t:
                    reached[f"{t:.2f}"] = {"round": r.round, "wall_s": round(elapsed, 2)}
        return {"rounds_run": len(self.rounds), "final_test_accuracy": accs[-1] if accs else None,
                "best_test_accuracy": max(accs) if accs else None, "reached": reached,
                "total_wall_s": round(sum(r.wall_s for r in self.rounds), 2),
                "mean_train_round_s": round(float(np.mean([r.train_wall_s for r in self.rounds])), 3)
                if self.rounds else None,
                "devices_dropped": sum(len(r.dropped) for r in self.rounds)}

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "finished": self.finished, "config": self.config, "summary": self.summary(),
                "initial": self.initial, "rounds": [asdict(r) for r in self.rounds], "clients": self.clients}

    def write(self, folder: Path) -> Path:
        from ground.spec_io import write_atomic

        folder.mkdir(parents=True, exist_ok=True)
        return write_atomic(folder / "report.json", json.dumps(self.as_dict(), indent=2).encode())


def client_table(parts: list[np.ndarray], histograms: np.ndarray) -> list[dict[str, Any]]:
    return [{"id": i, "examples": int(len(p)), "labels": [int(c) for c in h]}
            for i, (p, h) in enumerate(zip(parts, histograms))]


def plot(report: Report, path: Path, histograms: np.ndarray | None = None) -> Path:
    """Accuracy and loss per round; for a non-IID split, the devices' label histograms beside them."""
    import io

    import matplotlib

    from ground.spec_io import write_atomic

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if histograms is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2))
    rounds = [0] + [r.round for r in report.rounds]
    acc = [report.initial.get("test_accuracy")] + [r.test_accuracy for r in report.rounds]
    test_loss = [report.initial.get("test_loss")] + [r.test_loss for r in report.rounds]
    train_loss = [r.mean_train_loss for r in report.rounds]
    c = report.config
    title = f"{c.get('strategy', '')} {c.get('partition', '')}, {c.get('clients')} devices, fraction {c.get('fraction')}"
    ax = axes[0]
    ax.plot(rounds, [np.nan if a is None else a for a in acc], marker=".", label="global model")
    for t, color in zip(THRESHOLDS[:2], ("tab:orange", "tab:green")):   # in the legend: 97% and 98% lie close
        hit = report.rounds_to(t)
        ax.axhline(t, color=color, lw=0.7, ls="--", label=f"{t:.0%}: " + (f"round {hit}" if hit else "not reached"))
        if hit:
            ax.axvline(hit, color=color, lw=0.7, ls=":")
    ax.set(xlabel="round", ylabel="test accuracy", title=title)
    ax.set_ylim(max(0.0, min([a for a in acc if a is not None] or [0]) - 0.02), 1.0)
    ax.legend(loc="lower right")
    ax = axes[1]
    ax.plot(rounds, [np.nan if v is None else v for v in test_loss], marker=".", label="global test loss")
    ax.plot([r.round for r in report.rounds], [np.nan if v is None else v for v in train_loss], marker=".",
            label="devices' mean train loss")
    ax.set(xlabel="round", ylabel="cross-entropy", title="loss per round")
    ax.set_yscale("log")
    ax.legend()
    if histograms is not None:
        ax = axes[2]
        shares = histograms / np.maximum(histograms.sum(1, keepdims=True), 1)
        im = ax.imshow(shares.T, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set(xlabel="device", ylabel="label", title="each device's label histogram (share)")
        ax.set_yticks(range(histograms.shape[1]))
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_atomic(path, buf.getvalue())
