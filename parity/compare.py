"""Turning the two sides' figures into checks, and a failing check into a pointer at its cause."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import forward as FW
from .report import Check, ParityReport
from .tolerances import Tolerances


def rel_diff(a: Any, b: Any, floor: float) -> np.ndarray:
    """``|a - b| / max(|a|, |b|, floor)`` element-wise."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


def layers_before(report: ParityReport, t: Tolerances) -> None:
    """Checks 'initial weights' and 'updatable layers', with their causes."""
    worst = max(report.layers, key=lambda lf: lf.initial_max_abs, default=None)
    value = worst.initial_max_abs if worst else 0.0
    report.checks.append(Check("initial weights", value, t.initial_weights_abs, value <= t.initial_weights_abs,
                               f"worst: {worst.coreml}" if worst else "no mapped layers"))
    for lf in report.layers:
        if lf.initial_max_abs > t.initial_weights_abs:
            report.diagnosis.append(
                f"layer '{lf.coreml}' holds weights that differ from Keras layer '{lf.keras}' before training "
                f"(max |diff| {lf.initial_max_abs:.3g}): a layout bug (transposed kernel, or the order of its "
                "inputs, e.g. a wrong flatten mode)")
    wrong = [lf for lf in report.layers if lf.updatable_coreml != lf.trainable_keras]
    report.checks.append(Check("updatable layers", len(wrong), 0, not wrong,
                               ", ".join(lf.coreml for lf in wrong) or "updatable exactly where the source trains"))
    for lf in wrong:
        report.diagnosis.append(
            f"layer '{lf.coreml}' is {'updatable' if lf.updatable_coreml else 'frozen'} in Core ML but "
            f"{'trainable' if lf.trainable_keras else 'frozen'} in the source (Keras '{lf.keras}')")


def forward_cause(report: ParityReport, network: Any) -> str:
    rows = report.forward_by_layer
    first = next((r for r in rows if not r["agrees"]), None)
    if first is not None:
        return (f"forward outputs first differ at Core ML layer '{first['coreml']}' (Keras '{first['keras']}'): "
                f"max |diff| {first['max_abs']:.3g} on its output")
    if rows:
        after = FW.layers_after(network, rows[-1]["blob"])
        return (f"every mapped layer agrees up to '{rows[-1]['coreml']}'; the outputs differ (max |diff| "
                f"{report.forward_max_abs:.3g}) in the layers after it: {', '.join(after) or 'none'}")
    return f"forward outputs differ (max |diff| {report.forward_max_abs:.3g}); no layer could be compared"


def lockstep_losses(report: ParityReport, k: np.ndarray, c: np.ndarray, t: Tolerances) -> None:
    """Checks 'first batch loss' and 'lockstep losses'; the first diverging batch if any."""
    report.lockstep["keras_losses"], report.lockstep["coreml_losses"] = list(map(float, k)), list(map(float, c))
    if len(k) != len(c) or not len(k):
        report.checks.append(Check("lockstep losses", float("inf"), t.lockstep_loss_rel, False,
                                   f"the sides ran {len(k)} and {len(c)} mini-batches"))
        return
    first = float(rel_diff(k[0], c[0], 1e-12))
    report.checks.append(Check("first batch loss", first, t.first_batch_loss_rel, first <= t.first_batch_loss_rel,
                               f"Keras {k[0]:.6g}, Core ML {c[0]:.6g}"))
    rel = rel_diff(k, c, t.loss_floor)
    worst = float(rel.max())
    report.checks.append(Check("lockstep losses", worst, t.lockstep_loss_rel, worst <= t.lockstep_loss_rel,
                               f"first {len(k)} mini-batches, same batches from the same weights"))
    bad = np.flatnonzero(rel > t.lockstep_loss_rel)
    if bad.size:
        b = int(bad[0])
        report.first_diverging_batch = {"epoch": 1, "batch": b + 1, "keras": float(k[b]), "coreml": float(c[b]),
                                        "relative_diff": float(rel[b])}
        report.diagnosis.append(f"losses first diverge at epoch 1, mini-batch {b + 1}: Keras {k[b]:.6g}, "
                                f"Core ML {c[b]:.6g} (relative diff {rel[b]:.3g})")


def lockstep_weights(report: ParityReport, t: Tolerances) -> None:
    trained = [lf for lf in report.layers if lf.trainable_keras or lf.updatable_coreml]
    worst = max(trained, key=lambda lf: lf.lockstep_rel, default=None)
    value = worst.lockstep_rel if worst else 0.0
    report.checks.append(Check("lockstep weights", value, t.lockstep_weights_rel, value <= t.lockstep_weights_rel,
                               f"worst: {worst.coreml}" if worst else "no updatable layers mapped"))
    if worst is not None and value > t.lockstep_weights_rel:
        report.diagnosis.append(f"the layer whose weights differ most after the lockstep batches: "
                                f"'{worst.coreml}' (Keras '{worst.keras}'), relative diff {value:.3g}")


def whole_run(report: ParityReport, t: Tolerances) -> None:
    """Checks 'epoch mean losses' and 'test accuracy'; records where per-batch losses drift apart."""
    k, c = report.keras.batch_losses, report.coreml.batch_losses
    if [len(e) for e in k] != [len(e) for e in c]:
        report.checks.append(Check("epoch mean losses", float("inf"), t.epoch_loss_rel, False,
                                   "the two sides ran different numbers of mini-batches"))
        return
    km, cm = [float(np.mean(e)) for e in k], [float(np.mean(e)) for e in c]
    report.keras.epoch_mean_losses, report.coreml.epoch_mean_losses = km, cm
    rel = rel_diff(km, cm, t.epoch_loss_floor)
    worst = int(np.argmax(rel))
    report.checks.append(Check("epoch mean losses", float(rel[worst]), t.epoch_loss_rel,
                               float(rel[worst]) <= t.epoch_loss_rel,
                               f"worst: epoch {worst + 1} (Keras {km[worst]:.4g}, Core ML {cm[worst]:.4g})"))
    if rel[worst] > t.epoch_loss_rel:
        report.diagnosis.append(f"epoch {worst + 1}'s mean loss differs: Keras {km[worst]:.4g}, Core ML "
                                f"{cm[worst]:.4g}")
    per_batch = rel_diff(np.concatenate(k), np.concatenate(c), t.loss_floor)
    onset = np.flatnonzero(per_batch > t.lockstep_loss_rel)
    report.drift = {"max_batch_loss_rel": float(per_batch.max()),
                    "batches_in_lockstep": int(onset[0]) if onset.size else int(per_batch.size),
                    "note": "after the lockstep phase the runs are independent float32 trajectories of a chaotic "
                            "process; per-batch losses and final weights drift apart by design and are reported, "
                            "not judged"}
    acc = abs(report.keras.test_accuracy - report.coreml.test_accuracy)
    report.checks.append(Check("test accuracy", acc, t.accuracy_abs, acc <= t.accuracy_abs,
                               f"Keras {report.keras.test_accuracy:.4f}, Core ML {report.coreml.test_accuracy:.4f}"))


def frozen(report: ParityReport, keras_changed: list[str], coreml_changed: list[str]) -> None:
    report.checks.append(Check("frozen weights (Keras)", len(keras_changed), 0, not keras_changed,
                               ", ".join(keras_changed) or "none changed"))
    report.checks.append(Check("frozen weights (Core ML)", len(coreml_changed), 0, not coreml_changed,
                               ", ".join(coreml_changed) or "none changed"))
    for name in coreml_changed:
        report.diagnosis.append(f"Core ML changed the weights of layer '{name}', which the source keeps frozen")
    for name in keras_changed:
        report.diagnosis.append(f"the Keras side changed frozen weight '{name}' (a parity harness bug)")
