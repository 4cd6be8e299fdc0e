"""Core ML's update parameters: the one name map (Core ML <-> Keras <-> the project's options and CLI)
and the one reader of a NeuralNetwork's ``updateParams``.

Every package spells a parameter through this table: the passes writing ``updateParams``, the runtime
resolving a run's settings, parity comparing against Keras' compile config, and the CLI's flags.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParamName:
    """One update parameter in every spelling."""

    option: str            # UpdateOptions field, run override keyword, emulator setting
    coreml: str            # the field of Core ML's optimizer message / NetworkUpdateParameters
    keras: str | None      # the Keras optimizer config key (None: not an optimizer setting in Keras)
    kind: type             # int | float | bool

    @property
    def cli(self) -> str:
        """The command-line flag."""
        return "--" + self.option.replace("_", "-")


NAMES: tuple[ParamName, ...] = (
    ParamName("learning_rate", "learningRate", "learning_rate", float),
    ParamName("batch_size", "miniBatchSize", None, int),
    ParamName("epochs", "epochs", None, int),
    ParamName("momentum", "momentum", "momentum", float),
    ParamName("beta1", "beta1", "beta_1", float),
    ParamName("beta2", "beta2", "beta_2", float),
    ParamName("eps", "eps", "epsilon", float),
    ParamName("shuffle", "shuffle", None, bool),
    ParamName("seed", "seed", None, int),
)
BY_OPTION = {n.option: n for n in NAMES}
BY_COREML = {n.coreml: n for n in NAMES}
OPTION_OF = {n.coreml: n.option for n in NAMES}
"""Core ML name -> option name."""
COREML_OF = {n.option: n.coreml for n in NAMES}
"""Option name -> Core ML name."""
KERAS_OF = {n.option: n.keras for n in NAMES if n.keras}
"""Option name -> Keras optimizer config key."""
OVERRIDES = tuple(n.option for n in NAMES)
"""The per-run overrides a device (and the runtime) accepts, by option name."""

NUMBER_OF_NEIGHBORS = ParamName("number_of_neighbors", "numberOfNeighbors", "n_neighbors", int)
"""A k-NN classifier's run parameter (Core ML's MLParameterKey.numberOfNeighbors; scikit-learn's n_neighbors).
Not a NeuralNetwork override, so not in :data:`NAMES`."""

OPTIMIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sgd": ("sgdOptimizer", ("learning_rate", "batch_size", "momentum")),
    "adam": ("adamOptimizer", ("learning_rate", "batch_size", "beta1", "beta2", "eps")),
}
"""Optimizer -> (Core ML message field, its parameters by option name, in Core ML's order)."""
OPTIMIZER_OF_MESSAGE = {message: name for name, (message, _) in OPTIMIZERS.items()}
LOSSES = {"categoricalCrossEntropyLossLayer": "cce", "meanSquaredErrorLossLayer": "mse"}
"""Core ML loss layer type -> the project's loss name."""


def canonical(name: str) -> str | None:
    """The option name of a parameter given by its option or Core ML name ('learning_rate', 'learningRate',
    'miniBatchSize', 'batch_size'...), or None for an unknown name (CLI flags: ``flag.replace('-', '_')``)."""
    key = name.strip()
    if key in BY_OPTION:
        return key
    if key in BY_COREML:
        return BY_COREML[key].option
    return None


def kind_of(name: str) -> type:
    """int, float or bool for a parameter in any spelling (float for an unknown one)."""
    option = canonical(name)
    return BY_OPTION[option].kind if option else float


@dataclass(frozen=True)
class Param:
    """One parameter's default and the values a run may pick: ('range', (lo, hi)), ('set', values) or None."""

    default: Any
    allowed: tuple[str, Any] | None = None


@dataclass(frozen=True)
class UpdateParams:
    """What a NeuralNetwork's ``updateParams`` holds, by option name (the one settings type)."""

    loss: str | None = None                  # 'cce' | 'mse' | another Core ML loss type | None (no loss layer)
    loss_layers: tuple[dict, ...] = ()       # each: name, type (Core ML's), input, target
    optimizer: str | None = None             # 'sgd' | 'adam' | None (unset or not recognized)
    optimizer_message: str | None = None     # Core ML's oneof name, as found
    params: dict[str, Param] = field(default_factory=dict)   # present parameters, option name -> Param
    updatable_layers: tuple[str, ...] = ()

    def default(self, option: str, fallback: Any = None) -> Any:
        p = self.params.get(option)
        return p.default if p is not None else fallback


def _allowed(param: Any) -> tuple[str, Any] | None:
    if "AllowedValues" not in param.DESCRIPTOR.oneofs_by_name:
        return None
    which = param.WhichOneof("AllowedValues")
    if which == "range":
        return "range", (param.range.minValue, param.range.maxValue)
    if which == "set":
        return "set", tuple(param.set.values)
    return None


def read_param(param: Any, kind: type) -> Param:
    """One ``Int64Parameter`` / ``DoubleParameter`` / ``BoolParameter`` message as a :class:`Param`."""
    return Param(kind(param.defaultValue), _allowed(param))


def read(nn: Any) -> UpdateParams:
    """Read a NeuralNetwork(-Classifier/-Regressor) message's ``updateParams`` (nothing is validated here:
    :mod:`ground.rules` says what Core ML refuses)."""
    return read_message(nn.updateParams, tuple(layer.name for layer in nn.layers if layer.isUpdatable))


def read_message(up: Any, updatable_layers: tuple[str, ...] = ()) -> UpdateParams:
    """Read a bare ``NetworkUpdateParameters`` message."""
    layers = []
    for loss in up.lossLayers:
        which = loss.WhichOneof("LossLayerType")
        p = getattr(loss, which) if which else None
        layers.append({"name": loss.name, "type": which, "input": p.input if p else "",
                       "target": p.target if p else ""})
    loss = (LOSSES.get(layers[0]["type"], layers[0]["type"]) if layers else None)
    message = up.optimizer.WhichOneof("OptimizerType")
    optimizer = OPTIMIZER_OF_MESSAGE.get(message or "")
    params: dict[str, Param] = {}
    if message:
        msg = getattr(up.optimizer, message)
        for fd in msg.DESCRIPTOR.fields:
            if msg.HasField(fd.name) and fd.name in BY_COREML:
                p = getattr(msg, fd.name)
                params[BY_COREML[fd.name].option] = Param(BY_COREML[fd.name].kind(p.defaultValue), _allowed(p))
    for name in ("epochs", "shuffle", "seed"):
        if up.HasField(name):
            p = getattr(up, name)
            params[name] = Param(BY_OPTION[name].kind(p.defaultValue), _allowed(p))
    return UpdateParams(loss, tuple(layers), optimizer, message, params, updatable_layers)
