"""Pass ``mark_updatable``: choose the layers Core ML will train and set every flag that needs."""
from __future__ import annotations

from typing import Any

from ground import nn_spec as S
from ground import weight_params as WP
from ground.errors import UnsupportedConfigError
from ground.protos import Model_pb2
from ground.rules.graph import COREMLTOOLS_FP16, NO_UPDATABLE_LAYER, backprop_reach, float16_layers

from .attach_loss import log_over_softmax
from .context import PassContext
from .updatable_policy import Candidate, select

NAME = "mark_updatable"
REQUIRES: tuple[str, ...] = ("flatten_for_dense", "restore_biases")


def run(spec: Model_pb2.Model, ctx: PassContext) -> None:
    """Mark the layers chosen by ``options.updatable`` updatable.

    Before::

        convolution c1 ; innerProduct d1 ; innerProduct d2       (isUpdatable false everywhere)

    After (``--updatable last:1``)::

        spec.isUpdatable = true, specificationVersion >= 4
        innerProduct d2: isUpdatable, weights.isUpdatable, bias.isUpdatable = true; others cleared

    Policies: 'trainable' (source-trainable convolution/innerProduct layers; for a source without trainable
    flags (ONNX), those the loss reaches through layers Core ML back-propagates through, judged on this spec
    after ``flatten_for_dense`` with ``ground.rules``), 'all', 'last:N' (N layers
    counted from the output), 'NAME,NAME' (Core ML or source layer names), 're:PATTERN' (regex searched in
    Core ML and source names of convolution/innerProduct layers).
    """
    nn = S.nn_of(spec)
    chosen = _select(spec, nn, ctx)
    fp16 = float16_layers([layer for layer in nn.layers if layer.name in set(chosen)])
    if fp16:
        raise UnsupportedConfigError(
            COREMLTOOLS_FP16 + f" Updatable layers with float16 weights: {', '.join(fp16)}", where="the model",
            fix="keep those layers frozen, or give them float32 weights (frozen layers may stay float16)")
    if not chosen:
        raise UnsupportedConfigError(
            NO_UPDATABLE_LAYER.rstrip(".") + f" (policy '{ctx.options.updatable}' selected no layer)",
            where="option 'updatable'",
            fix="choose layers with --updatable all, --updatable last:1 or --updatable NAME (convolution or "
                "innerProduct layers)")
    by_name = {layer.name: layer for layer in nn.layers}
    for name in chosen:
        _check_capable(by_name[name], ctx)
    for layer in nn.layers:
        _set_flags(layer, layer.name in chosen)
    spec.isUpdatable = True
    spec.specificationVersion = max(4, spec.specificationVersion)
    for name in chosen:
        src = ctx.facts.source_layer_of.get(name)
        ctx.report.add(stage=NAME, action="marked", subject=name,
                       reason=f"updatable ({S.kind(by_name[name])}" + (f", source '{src}'" if src and src != name
                                                                      else "") + f"; policy '{ctx.options.updatable}')")
    frozen = [n for n in ctx.facts.trainable_layers if n in by_name and S.kind(by_name[n]) not in S.UPDATABLE_TYPES]
    for name in sorted(frozen):
        ctx.report.add(stage=NAME, action="note", subject=name,
                       reason=f"trainable in the source but frozen: Core ML cannot update {S.kind(by_name[name])} layers")


def _select(spec: Model_pb2.Model, nn: Any, ctx: PassContext) -> list[str]:
    """Core ML layer names chosen by the policy, in spec order."""
    source_of = ctx.facts.source_layer_of
    trainable = _trainable(spec, nn, ctx)
    candidates = [Candidate(layer.name, (layer.name, source_of.get(layer.name, "")), layer.name in trainable)
                  for layer in nn.layers if S.kind(layer) in S.UPDATABLE_TYPES]
    frozen = [layer for layer in nn.layers if S.kind(layer) not in S.UPDATABLE_TYPES]
    others = {layer.name: S.kind(layer) for layer in frozen}   # a source name: the Core ML layer named so, first
    for layer in frozen:
        if source_of.get(layer.name):
            others.setdefault(source_of[layer.name], S.kind(layer))
    return select(ctx.options.updatable, candidates, others=others)


def _trainable(spec: Model_pb2.Model, nn: Any, ctx: PassContext) -> set[str]:
    """The layers policy 'trainable' may take: the source's trainable layers; without trainable flags in the
    source, only those the loss will reach through back-propagating layers (the loss goes on a model
    output; a log-softmax output becomes the softmax, as ``attach_loss`` does)."""
    trainable = set(ctx.facts.trainable_layers)
    if ctx.facts.trainable_flags:
        return trainable
    heads = []
    for blob in S.network_output_blobs(spec):
        found = log_over_softmax(nn, blob)
        heads.append(nn.layers[found[1]].output[0] if found else blob)
    reached = backprop_reach(nn, heads)
    if ctx.options.updatable.strip() == "trainable":
        for name in sorted(trainable - reached):
            ctx.report.add(stage=NAME, action="note", subject=name,
                           reason="frozen by policy 'trainable': the loss does not reach it through layers Core ML "
                                  "back-propagates through")
    return trainable & reached


def _check_capable(layer: Any, ctx: Any) -> None:
    typed = getattr(layer, S.kind(layer))
    params = [typed.weights] + ([typed.bias] if typed.hasBias else [])
    if any(WP.precision(wp) == "quantized" for wp in params):
        raise UnsupportedConfigError(
            "has quantized weights; Core ML cannot update quantized weights", where=f"layer '{layer.name}'",
            fix="convert without quantization, or leave this layer frozen")
    kinds = {WP.precision(wp) for wp in params} - {"empty"}
    if kinds != {"float32"}:
        raise UnsupportedConfigError(
            f"weights are stored as {', '.join(sorted(kinds)) or 'nothing'}; updatable weights must be float32 values",
            where=f"layer '{layer.name}'", fix="store the weights as float32 (floatValue)")


def _set_flags(layer: Any, on: bool) -> None:
    layer.isUpdatable = on
    if S.kind(layer) in S.UPDATABLE_TYPES:
        typed = getattr(layer, S.kind(layer))
        typed.weights.isUpdatable = on
        if typed.hasBias:
            typed.bias.isUpdatable = on
