"""A model's update parameters, with per-run overrides checked against its allowed values."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ground.errors import BadInputError, ValidationError
from ground.rules.update import parameters as rule_violations
from ground.update_params import BY_OPTION, OPTIMIZERS, OVERRIDES, Param, read_message


@dataclass(frozen=True)
class UpdateSettings:
    """Everything one training run uses, resolved from the spec and the run's overrides."""

    optimizer: str               # 'sgd' | 'adam'
    learning_rate: float
    batch_size: int
    epochs: int
    shuffle: bool
    seed: int | None
    momentum: float = 0.0        # SGD
    beta1: float = 0.9           # Adam
    beta2: float = 0.999
    eps: float = 1e-8

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in (("momentum",) if self.optimizer == "adam" else ("beta1", "beta2", "eps")):
            d.pop(k)
        return d


def _pick(name: str, param: Param, override: Any, kind: type | None = None) -> Any:
    """The default of ``param``, or ``override`` after checking it against the allowed values."""
    kind = kind or BY_OPTION[name].kind
    if override is None:
        return kind(param.default)
    try:
        value = kind(override)
    except (TypeError, ValueError):
        raise BadInputError(f"override {name}={override!r} is not a {kind.__name__}") from None
    allowed = param.allowed
    if allowed and allowed[0] == "range":
        lo, hi = allowed[1]
        if not lo <= value <= hi:
            raise BadInputError(
                f"override {name}={value} is outside the model's allowed range [{lo}, {hi}]",
                fix=f"pass a value in [{lo}, {hi}], or re-convert the model with a wider allowed range")
    if allowed and allowed[0] == "set" and value not in allowed[1]:
        raise BadInputError(
            f"override {name}={value} is not in the model's allowed set {list(allowed[1])}",
            fix=f"pass one of {list(allowed[1])}, or re-convert the model allowing it")
    return value


def _check_sane(s: UpdateSettings) -> None:
    problems = []
    if not s.learning_rate > 0:
        problems.append(f"learning rate {s.learning_rate} must be > 0")
    if s.batch_size < 1:
        problems.append(f"mini-batch size {s.batch_size} must be >= 1")
    if s.epochs < 1:
        problems.append(f"epochs {s.epochs} must be >= 1")
    if s.optimizer == "sgd" and not 0 <= s.momentum < 1:
        problems.append(f"momentum {s.momentum} must be in [0, 1)")
    if s.optimizer == "adam":
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(s, name) < 1:
                problems.append(f"{name} {getattr(s, name)} must be in [0, 1)")
        if not s.eps > 0:
            problems.append(f"eps {s.eps} must be > 0")
    if problems:
        raise BadInputError("invalid training settings: " + "; ".join(problems),
                            fix="pass valid overrides, or fix the model's update parameters")


def resolve(update_params: Any, overrides: dict[str, Any]) -> UpdateSettings:
    """Resolve the settings of one run from a ``NetworkUpdateParameters`` message and overrides.

    A message Core ML's rules 16-19 refuse raises :class:`ValidationError` with Apple's messages (as
    ``validate`` does).
    """
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise BadInputError(f"unknown override(s) {unknown}", fix=f"use {', '.join(OVERRIDES)}")
    refused = [v for v in rule_violations(update_params) if v.origin == "apple"]
    if refused:
        raise ValidationError(refused, context="the model's update parameters")
    params = read_message(update_params)
    name = params.optimizer
    present = set(OPTIMIZERS[name][1])
    for key in {"learning_rate", "batch_size", "momentum", "beta1", "beta2", "eps"} - present:
        if overrides.get(key) is not None:
            raise BadInputError(f"override {key} does not apply to the model's {name.upper()} optimizer",
                                fix=f"drop {key}; this model's optimizer takes {', '.join(sorted(present))}")
    defaults = {"momentum": Param(0.0)}           # SGD's momentum is optional in Core ML
    values = {key: _pick(key, params.params.get(key) or defaults[key], overrides.get(key)) for key in present}
    epochs = _pick("epochs", params.params["epochs"], overrides.get("epochs"))
    shuffle = bool(params.default("shuffle", False))
    if overrides.get("shuffle") is not None:
        shuffle = bool(overrides["shuffle"])
    seed = params.default("seed")
    if overrides.get("seed") is not None:
        seed = _pick("seed", params.params["seed"], overrides["seed"]) if "seed" in params.params \
            else int(overrides["seed"])
    settings = UpdateSettings(optimizer=name, epochs=epochs, shuffle=shuffle, seed=seed, **values)
    _check_sane(settings)
    return settings

