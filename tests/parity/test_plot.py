"""parity.png says what was judged: every mark has a legend entry, and only the lockstep batches are drawn
against the lockstep tolerance (the rest against the epoch means' own, looser one)."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba

from parity.plot import figure
from parity.report import Check, ParityReport
from parity.tolerances import DEFAULT


def _report(drift_after: float = 0.05) -> ParityReport:
    """Two epochs of 40 batches; per-batch losses drift apart by ``drift_after`` after 30 batches."""
    rng = np.random.default_rng(0)
    k = np.exp(-np.linspace(0, 2, 80)) + 0.1 * rng.random(80)
    c = k * (1 + np.where(np.arange(80) < 30, 1e-5, drift_after))
    r = ParityReport(source="lenet.keras", data="mnist.npz", n_train=40 * 32, n_test=100, settings={},
                     keras_settings={}, tolerances=DEFAULT.as_dict())
    r.keras.batch_losses, r.coreml.batch_losses = [list(k[:40]), list(k[40:])], [list(c[:40]), list(c[40:])]
    r.keras.epoch_mean_losses = [float(np.mean(e)) for e in r.keras.batch_losses]
    r.coreml.epoch_mean_losses = [float(np.mean(e)) for e in r.coreml.batch_losses]
    r.keras.test_accuracy = r.coreml.test_accuracy = 0.9
    r.lockstep = {"keras_losses": list(k[:30]), "coreml_losses": list(c[:30]), "batches": 30}
    r.checks = [Check("lockstep losses", 1e-5, 1e-2, True)]
    return r


def _style(artist) -> tuple:
    kind = type(artist).__name__
    if hasattr(artist, "get_marker"):
        return kind, to_rgba(artist.get_color()), artist.get_linestyle(), artist.get_marker()
    color = artist.get_facecolor() if kind == "Rectangle" or kind == "Polygon" else artist.get_edgecolor()
    return kind, tuple(np.round(np.asarray(color, float).ravel()[:4], 3))


def test_every_mark_has_a_legend_entry():
    fig = figure(_report())
    labelled, drawn = set(), []
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.patches]:
            label = artist.get_label() or "_"
            (drawn.append(_style(artist)) if label.startswith("_") else labelled.add(_style(artist)))
    missing = [s for s in drawn if s not in labelled]
    assert not missing, f"marks without a legend entry: {missing}"
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("epoch mean loss" in t for t in labels) and any("reported, not judged" in t for t in labels)
    assert "PASSED" in fig.axes[0].get_title()


def test_the_lockstep_tolerance_is_drawn_over_the_lockstep_batches_only():
    fig = figure(_report(drift_after=0.05))        # after the lockstep: 5 % apart, above the lockstep bound
    bottom = fig.axes[1]
    lockstep_line = next(c for c in bottom.collections if (c.get_label() or "").startswith("lockstep tolerance"))
    (x0, y0), (x1, _) = lockstep_line.get_segments()[0]
    assert (x0, x1) == (0.5, 30.5) and y0 == DEFAULT.lockstep_loss_rel
    judged = next(line for line in bottom.lines if line.get_label() == "per batch, lockstep (judged)")
    assert len(judged.get_xdata()) == 30 and max(judged.get_ydata()) <= DEFAULT.lockstep_loss_rel
    epoch_bound = next(line for line in bottom.lines if line.get_label().startswith("epoch-mean tolerance"))
    assert epoch_bound.get_ydata()[0] == DEFAULT.epoch_loss_rel
    assert bottom.get_ylim()[1] > DEFAULT.epoch_loss_rel          # the looser bound is inside the panel
