"""Pass ``drop_identities``: remove identity activations (what front ends emit for Dropout & co.)."""
from __future__ import annotations

from typing import Any

from ground import nn_spec as S
from ground.protos import Model_pb2

from .context import PassContext

NAME = "drop_identities"
REQUIRES: tuple[str, ...] = ()


def is_identity(layer: Any) -> bool:
    """An ``activation`` of type linear with alpha 1 and beta 0 (y = x)."""
    if S.kind(layer) != "activation" or layer.activation.WhichOneof("NonlinearityType") != "linear":
        return False
    lin = layer.activation.linear
    return lin.alpha == 1.0 and lin.beta == 0.0 and len(layer.input) == 1 and len(layer.output) == 1


def run(spec: Model_pb2.Model, ctx: PassContext) -> None:
    """Drop every identity activation, rewiring its consumers to its input.

    Before::

        innerProduct d1 (x -> a) ; activation linear(1, 0) drop (a -> b) ; activation ReLU r (b -> c)

    After::

        innerProduct d1 (x -> a) ; activation ReLU r (a -> c)

    When the identity's output ``b`` is a model output, the producer of ``a`` is renamed to output ``b``
    instead (so the model's interface is unchanged). An identity that copies a model input straight to
    a model output, or whose input is itself a model output, is kept (and reported).
    """
    nn = S.nn_of(spec)
    outputs = set(S.network_output_blobs(spec))
    inputs = {f.name for f in spec.description.input}
    i = 0
    while i < len(nn.layers):
        layer = nn.layers[i]
        if not is_identity(layer):
            i += 1
            continue
        src, dst, name = layer.input[0], layer.output[0], layer.name
        if dst in outputs and (src in inputs or src in outputs):
            ctx.report.add(stage=NAME, action="note", subject=name,
                           reason=f"identity kept: it copies '{src}' to the model output '{dst}'")
            i += 1
            continue
        del nn.layers[i]
        if dst in outputs:
            S.rename_blob_everywhere(nn, src, dst)
            if S.model_kind(spec) == "neuralNetworkClassifier" and nn.labelProbabilityLayerName == src:
                nn.labelProbabilityLayerName = dst
            ctx.rename_blob(src, dst)
            how = f"its input '{src}' renamed to the model output '{dst}'"
        else:
            S.rename_blob_everywhere(nn, dst, src, start=i)
            how = f"consumers of '{dst}' now read '{src}'"
        ctx.report.add(stage=NAME, action="dropped", subject=name,
                       reason=f"identity activation (linear, alpha 1, beta 0; e.g. Dropout at inference): {how}")
