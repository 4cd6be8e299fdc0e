"""Core ML's rules 12-19 (the project's numbering of Apple's validator checks): loss layer, training
inputs, optimizer and update parameters.

Quoted messages are Apple's (``UpdatableNeuralNetworkValidator.cpp``, ``ParameterValidator.cpp``), word
for word; numbers are formatted as C++'s ``std::to_string`` does (``%f`` for doubles).
"""
from __future__ import annotations

from typing import Any

from ..errors import RuleViolation

from .. import nn_spec as S
from ..update_params import NAMES

OPTIMIZER_FIELDS = {
    "sgdOptimizer": ("SGD", ("learningRate", "miniBatchSize")),
    "adamOptimizer": ("ADAM", ("learningRate", "miniBatchSize", "beta1", "beta2", "eps")),
}
INT_PARAMS = tuple(n.coreml for n in NAMES if n.kind is int)


def _missing(family: str, field: str) -> str:
    name = "eps (epslion)" if field == "eps" else field   # Apple's spelling
    return f"{family} optimizer should include {name} parameter."


def loss(spec: Any) -> list[RuleViolation]:
    """Rules 12-14."""
    return loss_layers(S.nn_of(spec))


def loss_layers(nn: Any) -> list[RuleViolation]:
    """Rules 12-14 on a NeuralNetwork message (the runtime asks before it trains)."""
    losses = list(nn.updateParams.lossLayers)
    if not losses:
        return [RuleViolation("12", "the model is marked as updatable but has no loss layer (Core ML's validator "
                                    "crashes on such a model)", fix="attach a loss (cross-entropy or MSE)")]
    out = []
    if len(losses) > 1:
        out.append(RuleViolation("12", "This model has more than one loss layers specified, which is not supported "
                                       "at the moment.", fix="keep exactly one loss layer"))
    prod = S.producers(nn)
    for layer_loss in losses:
        which, where = layer_loss.WhichOneof("LossLayerType"), f"loss layer '{layer_loss.name}'"
        if which == "categoricalCrossEntropyLossLayer":
            p = layer_loss.categoricalCrossEntropyLossLayer
            src = prod.get(p.input)
            if src is None or S.kind(nn.layers[src]) != "softmax":
                out.append(RuleViolation(
                    "13", f"For the categorical cross entropy loss layer named '{layer_loss.name}', input is not "
                    "generated from a softmax output.", where=where,
                    fix="feed the loss from a softmax layer's output (not softmaxND), or use the MSE loss"))
            if p.target in prod:
                out.append(RuleViolation(
                    "13", f"For the cross entropy loss layer named '{layer_loss.name}', target is generated within the "
                    "graph.", where=where, fix="use a training input as the target, produced by no layer"))
        elif which == "meanSquaredErrorLossLayer":
            p = layer_loss.meanSquaredErrorLossLayer
            if p.input not in prod:
                out.append(RuleViolation(
                    "14", f"For the MSE loss layer named '{layer_loss.name}', input is not generated within the graph.",
                    where=where, fix="feed the loss from a layer output"))
            if p.target in prod:
                out.append(RuleViolation(
                    "14", f"For the MSE loss layer named '{layer_loss.name}', target is generated within the graph.",
                    where=where, fix="use a training input as the target, produced by no layer"))
        else:
            out.append(RuleViolation(
                "12", f"Loss function is not recognized in the loss layer named '{layer_loss.name}', only cross "
                "entropy loss and MSE are supported.", where=where, fix="use cross-entropy or MSE"))
    return out


def _equivalent(a: Any, b: Any) -> bool:
    return a.name == b.name and a.type == b.type


def training_inputs(spec: Any) -> list[RuleViolation]:
    """Rule 15 (Apple's ``validateTrainingInputs``)."""
    desc, nn = spec.description, S.nn_of(spec)
    fix = "declare as training inputs the model input(s) the loss depends on and the loss target"
    if len(desc.trainingInput) <= 1:
        return [RuleViolation("15", "Must provide training inputs for updatable neural network (expecting both input "
                                    "and target for loss function).", fix=fix)]
    exclusive = [t for t in desc.trainingInput if not any(_equivalent(t, i) for i in desc.input)]
    if not exclusive:
        return [RuleViolation("15", "Training inputs don't describe required inputs for the loss (needs both the "
                                    "input and the target).", fix=fix)]
    if len(desc.trainingInput) - len(exclusive) <= 0:
        return [RuleViolation("15", "The training inputs must include at least one input from the model itself as "
                                    "required for training (should have at least one input in common with those used "
                                    "for prediction).", fix=fix)]
    target = ""
    if nn.updateParams.lossLayers:
        first = nn.updateParams.lossLayers[0]
        which = first.WhichOneof("LossLayerType")
        target = getattr(first, which).target if which else ""
    classifier = S.model_kind(spec) == "neuralNetworkClassifier"
    for t in exclusive:
        if classifier and t.name == desc.predictedFeatureName:
            for o in desc.output:
                if o.name == t.name:
                    if t.type == o.type:
                        return []
                    found = "Int64" if t.type.HasField("int64Type") else "String"
                    expected = "Int64" if o.type.HasField("int64Type") else "String"
                    return [RuleViolation(
                        "15", f"The type of the training input provided: {t.name} doesn't match the expected type of "
                        f"the classifier. Found: {found}, expected: {expected}.", where=f"training input '{t.name}'",
                        fix="give the target the class labels' type")]
        if t.name == target:
            return []
    if classifier:
        return [RuleViolation("15", f"The training inputs don't include the target of the classifier: "
                                    f"{desc.predictedFeatureName}", fix=fix)]
    return [RuleViolation("15", f"The training inputs don't include the loss layer's target: {target}", fix=fix)]


def _int_param(name: str, p: Any, positive: bool, rule: str) -> list[RuleViolation]:
    """Apple's ``validateInt64Parameter``."""
    d, where = int(p.defaultValue), f"update parameter '{name}'"
    if positive and d <= 0:
        return [RuleViolation(rule, f"Default Value ({d}) for '{name}' expected to be a positive value.", where=where,
                              fix=f"set {name} to 1 or more")]
    kind = p.WhichOneof("AllowedValues")
    if kind == "set":
        for v in p.set.values:
            if v == d:
                return []
            if v <= 0 and positive:
                return [RuleViolation(rule, f"Non-positive value ({v}) in Allowed Values Set for '{name}' is not "
                                            "allowed.", where=where, fix="allow only positive values")]
        return [RuleViolation(rule, f"Specified Default Value ({d}) not found in Allowed Values Set for '{name}'",
                              where=where, fix="include the default in the allowed set")]
    if kind == "range":
        lo, hi = int(p.range.minValue), int(p.range.maxValue)
        if lo <= 0 and positive:
            return [RuleViolation(rule, f"Non-positive min value ({lo}) in Allowed Value Range for '{name}' is not "
                                        "allowed.", where=where, fix="use a minimum of 1 or more")]
        if hi <= 0 and positive:
            return [RuleViolation(rule, f"Non-positive max value ({hi}) in Allowed Value Range for '{name}' is not "
                                        "allowed.", where=where, fix="use a maximum of 1 or more")]
        if d < lo or d > hi:
            return [RuleViolation(rule, f"Specified Default Value ({d}) out of Allowed Value Range for '{name}'",
                                  where=where, fix="widen the allowed range or change the default")]
    return []


def _double_param(name: str, p: Any) -> list[RuleViolation]:
    """Apple's ``validateDoubleParameter`` plus the project's own range checks (marked 'project')."""
    d, where, out = float(p.defaultValue), f"update parameter '{name}'", []
    if p.HasField("range") and not (p.range.minValue <= d <= p.range.maxValue):
        out.append(RuleViolation("18", f"Specified Default Value ({d:f}) out of Allowed Value Range for '{name}'",
                                 where=where, fix="widen the allowed range or change the default"))
    bad = {"learningRate": d <= 0, "eps": d <= 0, "beta1": not 0 <= d < 1, "beta2": not 0 <= d < 1,
           "momentum": not 0 <= d < 1}.get(name, False)
    if bad:
        need = {"learningRate": "> 0", "eps": "> 0"}.get(name, "in [0, 1)")
        out.append(RuleViolation("16", f"project rule: '{name}' is {d:g}, it must be {need}", where=where,
                                 fix=f"set {name} {need}", origin="project"))
    return out


def update_params(spec: Any) -> list[RuleViolation]:
    """Rules 16-19: optimizer, epochs, shuffle and seed."""
    return parameters(S.nn_of(spec).updateParams)


def parameters(up: Any) -> list[RuleViolation]:
    """Rules 16-19 on a ``NetworkUpdateParameters`` message (the runtime asks before it resolves a run)."""
    which = up.optimizer.WhichOneof("OptimizerType")
    out = []
    if which not in OPTIMIZER_FIELDS:
        out.append(RuleViolation("16", "Optimizer is not recognized.", fix="set an SGD or Adam optimizer"))
    else:
        family, fields = OPTIMIZER_FIELDS[which]
        opt = getattr(up.optimizer, which)
        for field in fields:
            if not opt.HasField(field):
                out.append(RuleViolation("16", _missing(family, field), fix=f"set the optimizer's {field}"))
            elif field in INT_PARAMS:
                out += _int_param(field, getattr(opt, field), True, "18")
            else:
                out += _double_param(field, getattr(opt, field))
        if which == "sgdOptimizer" and opt.HasField("momentum"):
            out += _double_param("momentum", opt.momentum)
    if not up.HasField("epochs"):
        out.append(RuleViolation("17", "Epochs should be included in neural network update parameters.",
                                 fix="set epochs (1 or more)"))
    else:
        out += _int_param("epochs", up.epochs, True, "17")
    if up.HasField("seed"):
        out += _int_param("seed", up.seed, False, "19")
    return out
