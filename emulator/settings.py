"""A model's update parameters, with per-run overrides checked against its allowed values."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ground.errors import BadInputError, UnsupportedConfigError

# override keyword -> (Core ML field name, kind)
_FIELDS = {
    "learning_rate": ("learningRate", float),
    "batch_size": ("miniBatchSize", int),
    "momentum": ("momentum", float),
    "beta1": ("beta1", float),
    "beta2": ("beta2", float),
    "eps": ("eps", float),
}
OVERRIDES = ("learning_rate", "batch_size", "epochs", "momentum", "beta1", "beta2", "eps", "shuffle", "seed")


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


def _allowed(param: Any) -> tuple[str, Any] | None:
    which = param.WhichOneof("AllowedValues")
    if which == "range":
        return "range", (param.range.minValue, param.range.maxValue)
    if which == "set":
        return "set", tuple(param.set.values)
    return None


def _pick(name: str, param: Any, override: Any, kind: type) -> Any:
    """The default of ``param``, or ``override`` after checking it against the allowed values."""
    if override is None:
        return kind(param.defaultValue)
    try:
        value = kind(override)
    except (TypeError, ValueError):
        raise BadInputError(f"override {name}={override!r} is not a {kind.__name__}") from None
    allowed = _allowed(param)
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
    """Resolve the settings of one run from a ``NetworkUpdateParameters`` message and overrides."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise BadInputError(f"unknown override(s) {unknown}", fix=f"use {', '.join(OVERRIDES)}")
    which = update_params.optimizer.WhichOneof("OptimizerType")
    if which not in ("sgdOptimizer", "adamOptimizer"):
        raise UnsupportedConfigError("Optimizer is not recognized.", where="updateParams",
                                     fix="convert the model with an SGD or Adam optimizer")
    opt = getattr(update_params.optimizer, which)
    name = "sgd" if which == "sgdOptimizer" else "adam"
    present = {"learning_rate", "batch_size"} | ({"momentum"} if name == "sgd" else {"beta1", "beta2", "eps"})
    for key in set(_FIELDS) - present:
        if overrides.get(key) is not None:
            raise BadInputError(f"override {key} does not apply to the model's {name.upper()} optimizer",
                                fix=f"drop {key}; this model's optimizer takes {', '.join(sorted(present))}")
    values = {key: _pick(key, getattr(opt, _FIELDS[key][0]), overrides.get(key), _FIELDS[key][1])
              for key in present}
    if not update_params.HasField("epochs"):
        raise UnsupportedConfigError("Epochs should be included in neural network update parameters.",
                                     where="updateParams", fix="re-convert the model with epochs set")
    epochs = _pick("epochs", update_params.epochs, overrides.get("epochs"), int)
    shuffle = bool(update_params.shuffle.defaultValue) if update_params.HasField("shuffle") else False
    if overrides.get("shuffle") is not None:
        shuffle = bool(overrides["shuffle"])
    seed = int(update_params.seed.defaultValue) if update_params.HasField("seed") else None
    if overrides.get("seed") is not None:
        seed = _pick("seed", update_params.seed, overrides["seed"], int) if update_params.HasField("seed") \
            else int(overrides["seed"])
    settings = UpdateSettings(optimizer=name, epochs=epochs, shuffle=shuffle, seed=seed, **values)
    _check_sane(settings)
    return settings
