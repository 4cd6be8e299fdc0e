"""Pass ``restore_biases``: give back the zero biases an exporter dropped, where the source trains them."""
from __future__ import annotations

import numpy as np

from ground import nn_spec as S
from ground import weight_params as WP
from ground.protos import Model_pb2

from .context import PassContext

NAME = "restore_biases"
REQUIRES: tuple[str, ...] = ()


def run(spec: Model_pb2.Model, ctx: PassContext) -> None:
    """Add an all-zero bias to each layer in ``facts.dropped_zero_biases`` that has none.

    Before::

        innerProduct d1 (hasBias false)      facts.dropped_zero_biases = {'d1'}

    After::

        innerProduct d1 (hasBias true, bias = zeros(outputChannels), float32)

    tf2onnx drops a bias that is all zeros (an untrained model's), but the training reference (the Keras
    model, ``convert(..., reference=...)``) trains it: without it the two would not train alike. A
    no-op when the front end reports no such layer.
    """
    wanted = ctx.facts.dropped_zero_biases
    if not wanted:
        return
    for layer in S.nn_of(spec).layers:
        if layer.name not in wanted or S.kind(layer) not in S.UPDATABLE_TYPES:
            continue
        typed = getattr(layer, S.kind(layer))
        if typed.hasBias:
            continue
        typed.hasBias = True
        WP.write(typed.bias, np.zeros(int(typed.outputChannels), np.float32))
        ctx.report.add(stage=NAME, action="added", subject=layer.name,
                       reason="zero bias: the training reference's layer has a bias the exporter dropped (all zeros)")
