"""The parity report: every figure, the check it feeds, and where to look when one fails."""
from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ground.spec_io import write_atomic


@dataclass
class Check:
    name: str
    value: float
    limit: float
    passed: bool
    detail: str = ""

    def row(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        return f"{mark} {self.name:<26} {_fmt(self.value):>12} {'<= ' + _fmt(self.limit):>14}  {self.detail}"


@dataclass
class LayerFigures:
    coreml: str
    keras: str
    kind: str
    updatable_coreml: bool
    trainable_keras: bool
    initial_max_abs: float = 0.0
    lockstep_rel: float = math.nan        # after the lockstep batches (judged); nan: not trained
    final_rel: float = math.nan           # after the whole run (reported: trajectories drift apart)
    changed_keras: bool = False
    changed_coreml: bool = False


@dataclass
class SideFigures:
    batch_losses: list[list[float]] = field(default_factory=list)
    epoch_mean_losses: list[float] = field(default_factory=list)
    test_accuracy: float = math.nan
    wall_time_s: float = math.nan


@dataclass
class ParityReport:
    """Everything one parity run measured; ``passed`` only when every check holds."""

    source: str
    data: str
    n_train: int
    n_test: int
    settings: dict[str, Any]
    keras_settings: dict[str, Any]
    tolerances: dict[str, float]
    conventions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    layers: list[LayerFigures] = field(default_factory=list)
    keras: SideFigures = field(default_factory=SideFigures)
    coreml: SideFigures = field(default_factory=SideFigures)
    forward_max_abs: float = math.nan
    forward_by_layer: list[dict[str, Any]] = field(default_factory=list)
    first_diverging_batch: dict[str, Any] | None = None
    lockstep: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)
    conversion: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return _clean(d)

    def table(self) -> str:
        """The human summary the CLI prints."""
        lines = [f"parity: {self.source} on {self.data} ({self.n_train} train, {self.n_test} test)",
                 f"settings: {_settings_line(self.settings)}",
                 f"judged (PASSED needs every row within its tolerance):",
                 f"{'':5}{'check':<26} {'measured':>12} {'tolerance':>14}"]
        lines += [c.row() for c in self.checks]
        if not math.isnan(self.keras.test_accuracy):
            lines.append(f"test accuracy: Keras {self.keras.test_accuracy:.4f}, Core ML "
                         f"{self.coreml.test_accuracy:.4f}; wall time: Keras {self.keras.wall_time_s:.1f} s, "
                         f"Core ML (emulator) {self.coreml.wall_time_s:.1f} s")
        if self.layers:
            lines.append(f"  {'layer (Core ML <- Keras)':<42} {'initial':>9} {'lockstep':>9} {'final':>9}  "
                         "trains (Keras/Core ML)")
            for lf in self.layers:
                flags = f"{'yes' if lf.trainable_keras else 'no'}/{'yes' if lf.updatable_coreml else 'no'}"
                lines.append(f"  {lf.coreml + ' <- ' + lf.keras:<42} {_fmt(lf.initial_max_abs):>9} "
                             f"{_fmt(lf.lockstep_rel):>9} {_fmt(lf.final_rel):>9}  {flags}")
        if self.drift:
            lines += textwrap.wrap(self.drift_line(), 110, subsequent_indent="  ")
        for note in self.notes:
            lines.append(f"note: {note}")
        lines.append("PASSED: every judged check is within its tolerance; the Core ML model trains like the Keras "
                     "model" if self.passed else
                     "FAILED: " + ", ".join(self.failed()))
        for d in self.diagnosis:
            lines.append(f"cause: {d}")
        return "\n".join(lines)

    def drift_line(self) -> str:
        """What the per-batch losses did after the lockstep phase: reported, not judged."""
        d, n_lock = self.drift, self.lockstep.get("batches", 0)
        total = sum(len(e) for e in self.keras.batch_losses)
        tol = self.tolerances.get("lockstep_loss_rel", float("nan"))
        within = d["batches_in_lockstep"]
        if within >= total:
            how = f"stay within {tol:g} of each other for all {total} mini-batches"
        else:
            how = f"first differ by more than {tol:g} at mini-batch {within + 1} of {total}"
        return (f"reported, not judged: after the {n_lock} lockstep mini-batches the two runs are independent "
                f"float32 trajectories; per-batch losses {how} (largest relative difference "
                f"{d['max_batch_loss_rel']:.3g}); the whole run is judged by 'epoch mean losses' "
                f"(<= {self.tolerances.get('epoch_loss_rel', float('nan')):g}) and 'test accuracy' instead")

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``report.json`` and ``parity.png`` into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"json": write_atomic(folder / "report.json",
                                      (json.dumps(self.to_dict(), indent=2) + "\n").encode())}
        from .plot import plot
        paths["png"] = plot(self, folder / "parity.png")
        return paths


def _settings_line(s: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items())


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(v)
    return f"{v:.3g}"


def _clean(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to strings."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else str(f)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
