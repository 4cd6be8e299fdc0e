"""Pass ``attach_optimizer``: optimizer, epochs, shuffle, seed, and the ranges a device may override.

Each value comes from the options, else from the source's compile config (Keras' optimizer), else the
project default in :data:`DEFAULTS`, and the report says which.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

from ground import nn_spec as S
from ground.errors import BadInputError, UnsupportedConfigError
from ground.protos import Model_pb2
from ground.update_params import COREML_OF, KERAS_OF, OPTIMIZERS, OPTION_OF, canonical

from .context import PassContext

NAME = "attach_optimizer"
REQUIRES: tuple[str, ...] = ("mark_updatable",)

DEFAULTS: dict[str, Any] = {
    "optimizer": "adam",
    "learningRate": 0.001,   # Keras' Adam default (SGD: see SGD_LEARNING_RATE)
    "miniBatchSize": 32,     # Keras' fit() default
    "epochs": 1,             # Keras' fit() default
    "momentum": 0.0,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-7,             # Keras' Adam epsilon (coremltools' default is 1e-8)
    "shuffle": True,         # Keras' fit() default
}
"""Project defaults, used when neither the options nor the source give a value."""
SGD_LEARNING_RATE = 0.01
"""Default learning rate with SGD (Keras' SGD default)."""

DEFAULT_RANGES = {"learningRate": (0.0, 1.0), "momentum": (0.0, 1.0), "beta1": (0.0, 1.0), "beta2": (0.0, 1.0),
                  "eps": (0.0, 1.0)}
"""Default allowed ranges for per-run overrides (coremltools' RangeParam uses [0, 1]); widened to hold the value."""
BATCH_SET = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Default allowed mini-batch sizes (plus the default value itself)."""
EPOCHS_RANGE = (1, 1000)
"""Default allowed epochs (widened to hold the default)."""

FIELDS = {name: tuple(COREML_OF[p] for p in params) for name, (_, params) in OPTIMIZERS.items()}
"""Optimizer -> its Core ML fields."""
NEAREST = {"adamw": "adam", "adamax": "adam", "nadam": "adam", "amsgrad": "adam", "rmsprop": "adam",
           "adagrad": "adam", "adadelta": "adam", "adafactor": "adam", "lion": "adam", "lamb": "adam",
           "ftrl": "sgd", "sgd": "sgd", "adam": "adam"}
UNSUPPORTED_KEYS = {  # Keras optimizer config key -> (is it in use?, the nearest Core ML setting)
    "decay": (lambda v: bool(v), "a constant learning rate"),
    "weight_decay": (lambda v: bool(v), "no weight decay"),
    "nesterov": (lambda v: bool(v), "plain momentum"),
    "amsgrad": (lambda v: bool(v), "plain Adam"),
    "clipnorm": (lambda v: v is not None, "no gradient clipping"),
    "clipvalue": (lambda v: v is not None, "no gradient clipping"),
    "global_clipnorm": (lambda v: v is not None, "no gradient clipping"),
    "use_ema": (lambda v: bool(v), "no moving average of the weights"),
    "gradient_accumulation_steps": (lambda v: v is not None and v != 1, "one update per mini-batch"),
    "loss_scale_factor": (lambda v: v is not None and v != 1, "no loss scaling"),
    "loss_scale": (lambda v: v is not None and v != 1, "no loss scaling"),
}


def run(spec: Model_pb2.Model, ctx: PassContext) -> None:
    """Set the optimizer and the other update parameters.

    Before: ``updateParams`` with a loss layer only.  After (defaults)::

        optimizer.adamOptimizer: learningRate 0.001 [0, 1], miniBatchSize 32 {1,2,4,...,1024},
                                 beta1 0.9 [0, 1], beta2 0.999 [0, 1], eps 1e-07 [0, 1]
        epochs 1 [1, 1000] ; shuffle true ; seed (only when given)
    """
    opts, facts = ctx.options, ctx.facts
    up = S.nn_of(spec).updateParams
    name, name_origin = _optimizer(opts, facts, ctx)
    config = facts.optimizer_config if facts.optimizer and NEAREST.get(facts.optimizer.lower()) == name else {}
    _check_config(config, ctx)
    up.ClearField("optimizer")
    opt = getattr(up.optimizer, f"{name}Optimizer")
    ctx.report.add(stage=NAME, action="set", subject="optimizer", reason=f"{name} ({name_origin})")
    for field in FIELDS[name]:
        value, origin = _value(field, opts, config)
        if field == "learningRate" and name == "sgd" and origin == "project default":
            value = SGD_LEARNING_RATE
        _check_value(field, value, origin)
        if field == "miniBatchSize":
            _set_int(getattr(opt, field), field, int(value), opts)
        else:
            _set_double(getattr(opt, field), field, float(value), opts)
        ctx.report.add(stage=NAME, action="set", subject=field, reason=f"{value:g} ({origin})")
    epochs, origin = _value("epochs", opts, {})
    _check_value("epochs", epochs, origin)
    _set_int(up.epochs, "epochs", int(epochs), opts)
    ctx.report.add(stage=NAME, action="set", subject="epochs", reason=f"{epochs} ({origin})")
    shuffle = DEFAULTS["shuffle"] if opts.shuffle is None else bool(opts.shuffle)
    up.shuffle.defaultValue = shuffle
    ctx.report.add(stage=NAME, action="set", subject="shuffle",
                   reason=f"{shuffle} ({'project default' if opts.shuffle is None else 'option'})")
    up.ClearField("seed")
    if opts.seed is not None:
        if isinstance(opts.seed, bool) or not isinstance(opts.seed, int):
            raise BadInputError(f"seed must be a whole number, got {opts.seed!r}", where="option 'seed'",
                                fix="pass an integer seed")
        up.seed.defaultValue = opts.seed
        ctx.report.add(stage=NAME, action="set", subject="seed", reason=f"{opts.seed} (option)")
    unknown = sorted(set(opts.allowed_ranges) | set(opts.allowed_sets))
    unknown = [k for k in unknown if canonical(k) is None
               or (COREML_OF[canonical(k)] not in FIELDS[name] and canonical(k) != "epochs")]
    if unknown:
        raise BadInputError(f"allowed values given for {', '.join(unknown)}, which the {name} optimizer does not have",
                            where="option 'allowed_ranges'/'allowed_sets'",
                            fix=f"use names among {', '.join(FIELDS[name] + ('epochs',))}")


def _optimizer(opts: Any, facts: Any, ctx: Any) -> tuple[str, str]:
    if opts.optimizer is not None:
        name = opts.optimizer.lower()
        if name not in FIELDS:
            raise BadInputError(f"unknown optimizer '{opts.optimizer}'", where="option 'optimizer'",
                                fix="use adam or sgd")
        return name, "option"
    if facts.optimizer is None:
        return DEFAULTS["optimizer"], "project default"
    source = facts.optimizer.lower()
    if source in FIELDS:
        return source, "compile config"
    nearest = NEAREST.get(source, "adam")
    if not opts.override_unsupported:
        raise UnsupportedConfigError(
            f"the source's optimizer '{facts.optimizer}' has no Core ML equivalent (Core ML trains with SGD or Adam)",
            where="the compile config's optimizer",
            fix=f"pass --optimizer {nearest} (nearest supported), or --override-unsupported to use {nearest}")
    ctx.report.add(stage=NAME, action="note", subject="optimizer",
                   reason=f"the source's '{facts.optimizer}' replaced by {nearest} (override)")
    return nearest, f"nearest to the source's '{facts.optimizer}' (override)"


def _check_config(config: dict, ctx: Any) -> None:
    lr = config.get("learning_rate")
    if lr is not None and not isinstance(lr, Real):
        _unsupported(ctx, "learning_rate", f"a learning-rate schedule ({_schedule_name(lr)})",
                     "a constant learning rate (pass --learning-rate)")
    for key, (in_use, nearest) in UNSUPPORTED_KEYS.items():
        if key in config and in_use(config[key]):
            _unsupported(ctx, key, f"{key}={config[key]!r}", nearest)


def _schedule_name(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("class_name", "schedule"))
    return type(value).__name__


def _unsupported(ctx: Any, key: str, what: str, nearest: str) -> None:
    if not ctx.options.override_unsupported:
        raise UnsupportedConfigError(f"Core ML's optimizers cannot express {what}",
                                     where=f"the compile config's optimizer option '{key}'",
                                     fix=f"compile with {nearest}, or pass --override-unsupported to train with it")
    ctx.report.add(stage=NAME, action="note", subject=key, reason=f"ignored {what}: trains with {nearest} (override)")


def _value(field: str, opts: Any, config: dict) -> tuple[Any, str]:
    given = getattr(opts, OPTION_OF[field])
    if given is not None:
        return given, "option"
    key = KERAS_OF.get(OPTION_OF[field])
    if key in config and isinstance(config[key], Real):
        return float(config[key]), "compile config"
    if field == "learningRate" and key in config and not isinstance(config[key], Real):
        initial = config[key].get("config", {}).get("initial_learning_rate") if isinstance(config[key], dict) else None
        if isinstance(initial, Real):
            return float(initial), "compile config (schedule's initial rate)"
    return DEFAULTS[field], "project default"


def _check_value(field: str, value: Any, origin: str) -> None:
    where = f"option '{OPTION_OF[field]}'" if origin == "option" else f"{field} from the {origin}"
    err = BadInputError if origin == "option" else UnsupportedConfigError
    if field in ("miniBatchSize", "epochs"):
        if isinstance(value, bool) or not isinstance(value, Real) or value != int(value) or value < 1:
            raise err(f"{field} must be a whole number >= 1, got {value!r}", where=where, fix=f"set {field} to 1 or more")
        return
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise err(f"{field} must be a finite number, got {value!r}", where=where, fix=f"set a numeric {field}")
    if field in ("learningRate", "eps") and value <= 0:
        raise err(f"{field} must be > 0, got {value:g}", where=where, fix=f"set {field} > 0 (e.g. {DEFAULTS[field]:g})")
    if field in ("momentum", "beta1", "beta2") and not 0 <= value < 1:
        raise err(f"{field} must be in [0, 1), got {value:g}", where=where,
                  fix=f"set {field} in [0, 1) (e.g. {DEFAULTS[field] if field != 'momentum' else 0.9:g})")


def _allowed(field: str, opts: Any) -> tuple[Any, Any]:
    keys = [k for k in (field, OPTION_OF[field]) if k in opts.allowed_ranges or k in opts.allowed_sets]
    rng = next((opts.allowed_ranges[k] for k in keys if k in opts.allowed_ranges), None)
    values = next((opts.allowed_sets[k] for k in keys if k in opts.allowed_sets), None)
    if rng is not None and values is not None:
        raise BadInputError(f"both an allowed range and an allowed set given for {field}",
                            where="option 'allowed_ranges'/'allowed_sets'", fix="give one of them")
    return rng, values


def _set_double(param: Any, field: str, value: float, opts: Any) -> None:
    param.defaultValue = value
    rng, values = _allowed(field, opts)
    if values is not None:
        raise BadInputError(f"{field} takes an allowed range, not a set", where="option 'allowed_sets'",
                            fix=f"give allowed_ranges['{field}'] = (min, max)")
    lo, hi = rng if rng is not None else DEFAULT_RANGES[field]
    if rng is None:
        lo, hi = min(lo, value), max(hi, value)
    if not lo <= value <= hi:
        raise BadInputError(f"{field} = {value:g} lies outside its allowed range [{lo:g}, {hi:g}]",
                            where="option 'allowed_ranges'", fix=f"widen the range to hold {value:g}")
    param.range.minValue, param.range.maxValue = float(lo), float(hi)


def _set_int(param: Any, field: str, value: int, opts: Any) -> None:
    param.defaultValue = value
    rng, values = _allowed(field, opts)
    if values is not None:
        values = sorted({int(v) for v in values})
        if value not in values or values[0] < 1:
            raise BadInputError(f"the allowed set {values} for {field} must hold only positive values, "
                                f"including {value}", where="option 'allowed_sets'", fix=f"add {value} to the set")
        param.set.values.extend(values)
        return
    if rng is not None:
        lo, hi = int(rng[0]), int(rng[1])
        if not 1 <= lo <= value <= hi:
            raise BadInputError(f"the allowed range [{lo}, {hi}] for {field} must satisfy 1 <= min <= {value} <= max",
                                where="option 'allowed_ranges'", fix=f"widen the range to hold {value}")
        param.range.minValue, param.range.maxValue = lo, hi
        return
    if field == "miniBatchSize":
        param.set.values.extend(sorted(set(BATCH_SET) | {value}))
    else:
        param.range.minValue, param.range.maxValue = EPOCHS_RANGE[0], max(EPOCHS_RANGE[1], value)
