"""Pass ``mark_updatable``: choose the layers Core ML will train and set every flag that needs."""
from __future__ import annotations

import re
from typing import Any

from ground.errors import BadInputError, UnsupportedConfigError
from ground import weight_params as WP

from ground import nn_spec as S
from ground.rules.graph import COREMLTOOLS_FP16

NAME = "mark_updatable"
POLICIES = "'trainable', 'all', 'last:N', 'NAME,NAME' or 're:PATTERN'"


def run(spec: Any, ctx: Any) -> None:
    """Mark the layers chosen by ``options.updatable`` updatable.

    Before::

        convolution c1 ; innerProduct d1 ; innerProduct d2       (isUpdatable false everywhere)

    After (``--updatable last:1``)::

        spec.isUpdatable = true, specificationVersion >= 4
        innerProduct d2: isUpdatable, weights.isUpdatable, bias.isUpdatable = true; others cleared

    Policies: 'trainable' (source-trainable convolution/innerProduct layers), 'all', 'last:N' (N layers
    counted from the output), 'NAME,NAME' (Core ML or source layer names), 're:PATTERN' (regex searched in
    Core ML and source names of convolution/innerProduct layers).
    """
    nn = S.nn_of(spec)
    fp16 = [layer.name for layer in nn.layers if any(WP.precision(wp) == "float16" for _, wp in S.weight_params(layer))]
    if fp16:
        raise UnsupportedConfigError(
            COREMLTOOLS_FP16 + f" Layers with float16 weights: {', '.join(fp16)}", where="the model",
            fix="convert with float32 weights (no float16 compression) for an updatable model")
    chosen = _select(nn, ctx)
    if not chosen:
        raise UnsupportedConfigError(
            f"The model is marked as updatable, but none of the layers are updatable (policy "
            f"'{ctx.options.updatable}' selected no layer)", where="option 'updatable'",
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


def _select(nn: Any, ctx: Any) -> list[str]:
    """Core ML layer names chosen by the policy, in spec order."""
    policy = (ctx.options.updatable or "").strip()
    capable = [layer.name for layer in nn.layers if S.kind(layer) in S.UPDATABLE_TYPES]
    if policy == "trainable":
        return [n for n in capable if n in ctx.facts.trainable_layers]
    if policy == "all":
        return capable
    if policy.startswith("last:"):
        text = policy[5:]
        if not text.isdigit() or int(text) < 1:
            raise BadInputError(f"'{policy}' needs a positive whole number after 'last:'", where="option 'updatable'",
                                fix="write e.g. last:2")
        n = int(text)
        if n > len(capable):
            raise BadInputError(f"'{policy}' asks for {n} layers but the model has only {len(capable)} convolution/"
                                f"innerProduct layers ({', '.join(capable)})", where="option 'updatable'",
                                fix=f"use last:{len(capable)} or all")
        return capable[-n:]
    if policy.startswith("re:"):
        try:
            pattern = re.compile(policy[3:])
        except re.error as exc:
            raise BadInputError(f"'{policy[3:]}' is not a valid regular expression ({exc})",
                                where="option 'updatable'", fix="fix the pattern (Python re syntax)") from None
        picked = [n for n in capable if pattern.search(n) or pattern.search(ctx.facts.source_layer_of.get(n, ""))]
        if not picked:
            raise BadInputError(f"the pattern '{policy[3:]}' matches no convolution/innerProduct layer",
                                where="option 'updatable'", fix=f"layers that can be updatable: {', '.join(capable)}")
        return picked
    names = [p.strip() for p in policy.split(",") if p.strip()]
    if not names:
        raise BadInputError("no updatable policy given", where="option 'updatable'", fix=f"use {POLICIES}")
    return _by_names(nn, names, ctx)


def _by_names(nn: Any, names: list[str], ctx: Any) -> list[str]:
    layers = {layer.name: layer for layer in nn.layers}
    from_source: dict[str, list[str]] = {}
    for coreml, source in ctx.facts.source_layer_of.items():
        from_source.setdefault(source, []).append(coreml)
    chosen: set[str] = set()
    for name in names:
        if name in layers:
            candidates = [name]
        elif name in from_source:
            candidates = [n for n in from_source[name] if n in layers]
            capable = [n for n in candidates if S.kind(layers[n]) in S.UPDATABLE_TYPES]
            candidates = capable or candidates
        else:
            raise BadInputError(
                f"no layer named '{name}' (neither a Core ML nor a source layer name)", where="option 'updatable'",
                fix=f"choose among: {', '.join(n for n in layers if S.kind(layers[n]) in S.UPDATABLE_TYPES)}; "
                    f"or use {POLICIES}")
        for n in candidates:
            if S.kind(layers[n]) not in S.UPDATABLE_TYPES:
                raise UnsupportedConfigError(
                    f"layer '{n}' is a {S.kind(layers[n])} layer; only convolution and innerProduct layers can be "
                    "updatable", where="option 'updatable'",
                    fix="leave it out (it stays frozen) and choose convolution/innerProduct layers")
            chosen.add(n)
    return [layer.name for layer in nn.layers if layer.name in chosen]


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
