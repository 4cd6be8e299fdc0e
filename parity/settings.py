"""What the source asks for (Keras' compile config and the conversion options) against what the
Core ML model's ``updateParams`` says.

The Keras side of a parity run trains with the *expected* settings, the Core ML side with its own
update parameters: a converter that writes a wrong learning rate or epsilon is caught here (and in
the loss curves), not copied onto both sides.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from ground.errors import ValidationError
from ground.rules.update import parameters as rule_violations
from ground.update_params import KERAS_OF, OPTIMIZERS, read

log = logging.getLogger(__name__)

OPTIMIZER_FIELDS = {name: tuple(p for p in fields if p != "batch_size") for name, (_, fields) in OPTIMIZERS.items()}
"""The optimizer settings parity compares (the batch size is the run's, on both sides)."""
_CCE = {"categorical_crossentropy", "sparse_categorical_crossentropy", "categoricalcrossentropy",
        "sparsecategoricalcrossentropy"}
_MSE = {"mse", "mean_squared_error", "meansquarederror"}


@dataclass
class Expected:
    """The settings the source asks for; ``origin`` says where each came from."""

    loss: str                                  # 'cce' | 'mse'
    optimizer: str                             # 'adam' | 'sgd'
    values: dict[str, float] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Mismatch:
    name: str
    expected: Any
    actual: Any
    origin: str

    def __str__(self) -> str:
        return (f"updateParams {self.name} = {_show(self.actual)}, but {self.origin} says {_show(self.expected)}: "
                "the converted model would train differently from the source")


def _show(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def keras_compile_facts(model: Any) -> tuple[str | None, str | None, dict[str, float], list[str]]:
    """(loss, optimizer, values, notes) from a compiled Keras model; Nones when it was not compiled."""
    notes: list[str] = []
    loss = _loss_name(getattr(model, "loss", None))
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return loss, None, {}, notes
    name = type(opt).__name__.lower()
    if name not in OPTIMIZER_FIELDS:
        return loss, name, {}, notes
    config = opt.get_config()
    values: dict[str, float] = {}
    for ours in OPTIMIZER_FIELDS[name]:
        raw = config.get(KERAS_OF[ours])
        if isinstance(raw, dict):
            notes.append(f"the source's learning rate is a schedule ({raw.get('class_name')}); Core ML keeps "
                         "one constant rate: the schedule's initial rate is compared")
            raw = raw.get("config", {}).get("initial_learning_rate")
        if raw is not None:
            values[ours] = float(raw)
    for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        if config.get(key):
            notes.append(f"the source optimizer sets {key}={config[key]}; Core ML has no such option, so "
                         "neither side uses it")
    if config.get("nesterov"):
        notes.append("the source uses Nesterov momentum; Core ML has plain momentum, so neither side uses it")
    if config.get("amsgrad"):
        notes.append("the source uses AMSGrad; Core ML has plain Adam, so neither side uses it")
    return loss, name, values, notes


def _loss_name(loss: Any) -> str | None:
    if loss is None:
        return None
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or type(loss).__name__
    name = str(name).lower()
    if name in _CCE:
        return "cce"
    if name in _MSE:
        return "mse"
    return name


def coreml_settings(nn: Any) -> tuple[str, str, dict[str, float]]:
    """(loss, optimizer, values) from a NeuralNetwork message's ``updateParams``; an optimizer Core ML
    would refuse raises :class:`ValidationError` with Apple's message (as ``validate`` does)."""
    params = read(nn)
    if params.optimizer is None:
        refused = [v for v in rule_violations(nn.updateParams) if v.rule == "16" and v.origin == "apple"]
        raise ValidationError(refused, context="the Core ML model's updateParams")
    optimizer = params.optimizer
    values = {k: float(params.default(k, 0.0)) for k in OPTIMIZER_FIELDS[optimizer]}
    return params.loss if params.loss in ("cce", "mse") else "none", optimizer, values


def expected_settings(keras_model: Any, nn: Any, options: Any | None) -> Expected:
    """Options first, then the Keras compile config; a field neither gives is taken from Core ML (noted)."""
    c_loss, c_opt, c_values = coreml_settings(nn)
    k_loss, k_opt, k_values, notes = keras_compile_facts(keras_model)
    exp = Expected(loss=c_loss, optimizer=c_opt, notes=notes)
    opt_loss = getattr(options, "loss", "auto") if options is not None else "auto"
    if opt_loss in ("cce", "mse"):
        exp.loss, exp.origin["loss"] = opt_loss, "the conversion options"
    elif k_loss in ("cce", "mse"):
        exp.loss, exp.origin["loss"] = k_loss, "the Keras compile config"
    else:
        exp.origin["loss"] = "the Core ML model (the source names no loss)"
    opt_name = getattr(options, "optimizer", None) if options is not None else None
    if opt_name:
        exp.optimizer, exp.origin["optimizer"] = opt_name, "the conversion options"
    elif k_opt in OPTIMIZER_FIELDS:
        exp.optimizer, exp.origin["optimizer"] = k_opt, "the Keras compile config"
    else:
        exp.origin["optimizer"] = "the Core ML model (the source names no supported optimizer)"
    same_optimizer = k_opt == exp.optimizer
    for name in OPTIMIZER_FIELDS.get(exp.optimizer, ()):
        given = getattr(options, name, None) if options is not None else None
        if given is not None:
            exp.values[name], exp.origin[name] = float(given), "the conversion options"
        elif same_optimizer and name in k_values:
            exp.values[name], exp.origin[name] = k_values[name], "the Keras compile config"
        elif name in c_values:
            exp.values[name], exp.origin[name] = c_values[name], "the Core ML model (the source gives none)"
    return exp


def compare(exp: Expected, nn: Any, rel: float = 1e-6) -> list[Mismatch]:
    """Every setting where the Core ML model differs from what the source asks for."""
    c_loss, c_opt, c_values = coreml_settings(nn)
    out = []
    if c_loss != exp.loss:
        out.append(Mismatch("loss", exp.loss, c_loss, exp.origin["loss"]))
    if c_opt != exp.optimizer:
        out.append(Mismatch("optimizer", exp.optimizer, c_opt, exp.origin["optimizer"]))
        return out
    for name, want in exp.values.items():
        got = c_values.get(name)
        if got is None or not math.isclose(got, want, rel_tol=rel, abs_tol=1e-12):
            out.append(Mismatch(name, want, got, exp.origin[name]))
    return out
