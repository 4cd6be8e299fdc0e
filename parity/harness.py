"""The parity harness: train a Keras model and a Core ML spec on the same batches, and judge the figures.

A run has three parts (see ``parity/tolerances.py`` for why):

1. before training: settings, updatable layers, initial weights, forward outputs over the test set;
2. lockstep: the run's first mini-batches (the first epoch's order), replayed on both sides from the
   initial weights; per-batch losses and the weights after them must agree tightly;
3. the whole run: both sides train for every epoch on the same batches; epoch mean losses, test
   accuracy and frozen weights are judged, per-batch losses and final weights reported.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import data_loading as D
import emulator
from emulator.settings import resolve
from emulator.training import batch_orders
from ground.errors import UnsupportedModelError
from ground.rules import violations
from transforms.options import UpdateOptions
from transforms.updatable_policy import Candidate, select

from . import compare as C
from . import forward as FW
from . import settings as S
from .coreml_side import target_feature, train_coreml
from .keras_side import KerasSide
from .mapping import coreml_weights, input_order, keras_weighted_layers, keras_weights, max_abs, max_rel, pair_layers
from .report import Check, LayerFigures, ParityReport
from .tolerances import DEFAULT, Tolerances

log = logging.getLogger(__name__)
PROBE_EXAMPLES = 64


def expected_trainable(keras_model: Any, options: Any | None, coreml_names: dict[str, str]) -> set[str]:
    """Keras layer names the conversion options (default: the source's trainable flags) make updatable:
    the ``mark_updatable`` pass's own policy, over the Keras layers (each also known by its Core ML name)."""
    mode = (getattr(options, "updatable", None) or "trainable") if options is not None else "trainable"
    candidates = [Candidate(layer.name, (layer.name, coreml_names.get(layer.name, "")), bool(layer.trainable))
                  for layer in keras_weighted_layers(keras_model)]
    return set(select(mode, candidates))


def verify_pair(keras_model: Any, spec: Any, data: str | Path | D.Dataset, *, options: Any | None = None,
                epochs: int | None = None, batch_size: int | None = None, limit: int | None = None,
                report_dir: str | Path | None = None, tolerances: Tolerances = DEFAULT,
                progress: bool = False, source: str = "", conversion: list[str] | None = None) -> ParityReport:
    """Train ``keras_model`` and the Core ML ``spec`` (any source: e.g. a spec edited after conversion)
    side by side on ``data`` and compare every figure against ``tolerances``."""
    ds = (data if isinstance(data, D.Dataset) else D.load(data)).limit(limit)
    cm = emulator.load(spec)
    t = tolerances
    exp = S.expected_settings(keras_model, cm.nn, options)
    pairs, pair_notes = pair_layers(keras_model, cm.network)
    trainable = expected_trainable(keras_model, options, {p.keras: p.coreml for p in pairs})
    feature = _image_input(cm)
    pixels = _keras_takes_pixels(keras_model)
    xk_train, xk_test = (D.for_keras(x, tuple(keras_model.input_shape[1:]), raw=pixels)
                         for x in (ds.x_train, ds.x_test))
    xc_train, xc_test = (D.for_coreml(x, feature.shape, image=feature.kind == "image") for x in (ds.x_train, ds.x_test))
    run_settings = resolve(cm.nn.updateParams, {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size))
                                                if v is not None})

    report = ParityReport(source=source or getattr(keras_model, "name", "keras model"), data=ds.source,
                          n_train=len(ds.y_train), n_test=len(ds.y_test), settings=run_settings.as_dict(),
                          keras_settings={"loss": exp.loss, "optimizer": exp.optimizer, **exp.values,
                                          "origin": exp.origin},
                          tolerances=t.as_dict(), notes=list(exp.notes) + pair_notes,
                          conversion=list(conversion or []))
    if feature.kind == "image":
        report.notes.append("the Core ML image input takes 0-255 pixels through its preprocessing; Keras gets "
                            + ("the same pixels (its first layer rescales them)" if pixels else "them scaled to [0, 1]"))
    label_input = target_feature(cm)
    if label_input.kind in ("string", "int64"):
        report.notes.append(f"Core ML trains through its declared class-label input '{label_input.name}' "
                            f"({label_input.kind}), as an app's training examples give it; Keras through class "
                            "indices")
    mismatches = S.compare(exp, cm.nn)
    report.checks.append(Check("settings", len(mismatches), 0, not mismatches,
                               "; ".join(map(str, mismatches)) or "loss and optimizer as the source asks"))
    report.diagnosis += [str(m) for m in mismatches]
    refused = [v for v in violations(cm.spec) if v.origin == "apple"]
    report.checks.append(Check("Core ML's rules", len(refused), 0, not refused,
                               "; ".join(f"[rule {v.rule}] {v.message}" for v in refused)
                               or "a device would accept the model for update"))
    report.diagnosis += [f"Core ML would refuse to update the model: {v}" for v in refused]

    # ------------------------------------------------ 1. before training
    shapes = cm.network.blob_shapes(cm.input_shapes)
    orders = {p.coreml: input_order(cm.network, p.coreml, shapes) if p.kind == "innerProduct" else None
              for p in pairs}
    updatable = {layer.name for layer in cm.network.layers if layer.isUpdatable}
    initial = {p.keras: keras_weights(_keras_layer(keras_model, p.keras)) for p in pairs}
    for p in pairs:
        lf = LayerFigures(p.coreml, p.keras, p.kind, p.coreml in updatable, p.keras in trainable)
        lf.initial_max_abs = max_abs(initial[p.keras],
                                     coreml_weights(cm.network.layer_params(p.coreml), p.kind, orders[p.coreml]))
        report.layers.append(lf)
    C.layers_before(report, t)
    k_out = FW.keras_outputs(keras_model, xk_test)
    c_out = FW.as_keras_layout(FW.coreml_outputs(cm, xc_test), k_out)
    report.forward_max_abs = float(np.max(np.abs(k_out - c_out))) if k_out.shape == c_out.shape else float("inf")
    report.checks.append(Check("forward (test set)", report.forward_max_abs, t.forward_abs,
                               report.forward_max_abs <= t.forward_abs, "max |Keras - Core ML| of the outputs"))
    report.forward_by_layer = FW.by_layer(keras_model, cm, pairs, xk_test[:PROBE_EXAMPLES], xc_test[:PROBE_EXAMPLES])
    if report.forward_max_abs > t.forward_abs:
        report.diagnosis.append(C.forward_cause(report, cm.network))

    if refused:   # a device would not train it, so neither does the runtime: nothing to compare
        report.notes.append("training was not compared: Core ML would refuse to update this model "
                            "(see the check 'Core ML's rules')")
        if report_dir is not None:
            report.save(report_dir)
        return report

    n_classes = int(c_out.reshape(len(c_out), -1).shape[1]) if exp.loss == "mse" else ds.num_classes
    y_keras = ds.y_train if exp.loss == "cce" else np.eye(n_classes, dtype=np.float32)[ds.y_train]

    def keras_side() -> KerasSide:
        return KerasSide(keras_model, trainable=trainable, loss=exp.loss, optimizer=exp.optimizer,
                         values=exp.values)

    # ------------------------------------------------ 2. lockstep: the run's first mini-batches
    bsz = run_settings.batch_size
    first_order = batch_orders(len(xc_train), 1, run_settings.shuffle, run_settings.seed)[0]
    idx = first_order[:min(t.lockstep_batches * bsz, len(first_order))]
    probe = train_coreml(cm, xc_train[idx], ds.y_train[idx], feature, exp.loss, n_classes, epochs=1,
                         batch_size=bsz, shuffle=False, progress=False)
    side = keras_side()
    k_lock, _ = side.train(xk_train[idx], y_keras[idx], [np.arange(len(idx))], bsz)
    report.lockstep = {"batches": int(len(k_lock[0])), "examples": int(len(idx))}
    C.lockstep_losses(report, k_lock[0], np.concatenate(probe.batch_losses) if probe.batch_losses else np.zeros(0), t)
    if probe.diverged is not None:
        report.checks.append(Check("lockstep training finished", 1, 0, False, str(probe.diverged)))
        report.diagnosis.append(f"Core ML training diverged: {probe.diverged}")
    else:
        for lf in report.layers:
            lf.lockstep_rel = max_rel(keras_weights(side.layer(lf.keras)),
                                      coreml_weights(probe.model.network.layer_params(lf.coreml), lf.kind, orders[lf.coreml]))
        C.lockstep_weights(report, t)

    # ------------------------------------------------ 3. the whole run
    side = keras_side()
    report.notes += side.notes
    keras_frozen = side.frozen_snapshot()
    run = train_coreml(cm, xc_train, ds.y_train, feature, exp.loss, n_classes, epochs=epochs, batch_size=bsz,
                       progress=progress)
    report.conventions = run.conventions
    report.coreml.batch_losses = [list(map(float, e)) for e in run.batch_losses]
    report.coreml.wall_time_s = run.wall_time_s
    k_losses, report.keras.wall_time_s = side.train(xk_train, y_keras, run.orders, bsz, progress=progress)
    report.keras.batch_losses = [list(map(float, e)) for e in k_losses]
    report.keras.test_accuracy = float(np.mean(np.argmax(side.logits(xk_test).reshape(len(xk_test), -1), 1)
                                               == ds.y_test))
    if run.diverged is not None:
        report.checks.append(Check("Core ML training finished", 1, 0, False, str(run.diverged)))
        report.diagnosis.append(f"Core ML training diverged: {run.diverged}")
    else:
        report.coreml.test_accuracy = _coreml_accuracy(run.model, xc_test, ds.y_test)
        C.whole_run(report, t)
        keras_changed = [name for name, v in keras_frozen.items()
                         if not np.array_equal(v, np.asarray(_variable(side, name)))]
        for lf in report.layers:
            c_now = coreml_weights(run.model.network.layer_params(lf.coreml), lf.kind, orders[lf.coreml])
            c_then = coreml_weights(cm.network.layer_params(lf.coreml), lf.kind, orders[lf.coreml])
            lf.final_rel = max_rel(keras_weights(side.layer(lf.keras)), c_now)
            lf.changed_coreml = max_abs(c_now, c_then) > 0
            lf.changed_keras = max_abs(keras_weights(side.layer(lf.keras)), initial[lf.keras]) > 0
        should_stay = {lf.coreml for lf in report.layers if not lf.trainable_keras and lf.changed_coreml}
        C.frozen(report, keras_changed, sorted(should_stay | set(_coreml_frozen_changes(cm, run.model))))
    if report_dir is not None:
        report.save(report_dir)
    return report


# ---------------------------------------------------------------- helpers

def with_run_settings(options: UpdateOptions | None, epochs: int | None, batch_size: int | None) -> UpdateOptions:
    """The conversion options, with the run's epochs / batch size as the converted model's defaults."""
    options = options if options is not None else UpdateOptions()
    changes = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size))
               if v is not None and getattr(options, k) is None}
    return replace(options, **changes) if changes else options


def _keras_takes_pixels(model: Any) -> bool:
    """Whether the Keras model rescales its own input (a leading Rescaling / Normalization): then it is fed
    0-255 pixels, as the Core ML image input is; otherwise data sets give it [0, 1] values."""
    import keras

    first = next((layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)), None)
    return type(first).__name__ in ("Rescaling", "Normalization")


def _image_input(cm: Any) -> Any:
    tensors = [f for f in cm.inputs if f.is_tensor]
    if len(tensors) != 1:
        raise UnsupportedModelError(f"verify handles models with one image input; this one has {len(tensors)}",
                                    fix="verify a single-input image classifier")
    return tensors[0]


def _keras_layer(model: Any, name: str) -> Any:
    return next(layer for layer in keras_weighted_layers(model) if layer.name == name)


def _variable(side: KerasSide, path: str) -> Any:
    return next(v for v in side.model.weights if v.path == path)


def _coreml_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    probs = FW.coreml_outputs(model, x).reshape(len(x), -1)
    pred = np.argmax(probs, axis=1)
    labels = model.class_labels
    if labels is not None and all(isinstance(v, (int, np.integer)) for v in labels):
        pred = np.asarray(labels)[pred]
    return float(np.mean(pred == y))


def _coreml_frozen_changes(before: Any, after: Any) -> list[str]:
    """Core ML layers not marked updatable whose stored weights changed in training."""
    old = {layer.name: layer for layer in before.network.layers}
    return [layer.name for layer in after.network.layers
            if not layer.isUpdatable and layer.SerializeToString(deterministic=True)
            != old[layer.name].SerializeToString(deterministic=True)]
