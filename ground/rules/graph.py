"""Core ML's rules 4-11 (the project's numbering of Apple's validator checks): inference structure,
updatable layers, names, back-propagation.

Messages in quotes are Apple's (``NeuralNetworkValidator.cpp``, ``UpdatableNeuralNetworkValidator.cpp``,
``NeuralNetworkValidatorGraph.hpp``), word for word, so a user can search for them.
"""
from __future__ import annotations

from typing import Any

from ..errors import RuleViolation
from .. import weight_params as WP

from .. import nn_spec as S

BACKPROP_TYPES = ("convolution", "innerProduct", "uniDirectionalLSTM", "flatten", "pooling", "batchnorm")
BACKPROP_ACTIVATIONS = ("ReLU", "sigmoid", "tanh")
VALIDATOR_UPDATABLE_TYPES = ("convolution", "innerProduct", "uniDirectionalLSTM")

NO_UPDATABLE_LAYER = "The model is marked as updatable, but none of the layers are updatable."
COREMLTOOLS_FP16 = ("This model has at least one layer with FP16 weights or bias formats. These networks will always "
                    "be optimized to a full FP16 model format which is not supported to be marked updatable.")


def supports_backprop(layer: Any) -> bool:
    """Apple's ``isLayerSupportedForBackprop``."""
    k = S.kind(layer)
    if k in BACKPROP_TYPES:
        return True
    if k == "activation":
        return layer.activation.WhichOneof("NonlinearityType") in BACKPROP_ACTIVATIONS
    return False


def structure(spec: Any) -> list[RuleViolation]:
    """Inference-level checks Core ML runs first (rule 4): layers, blob order, outputs, rank mapping."""
    nn, desc, out = S.nn_of(spec), spec.description, []
    if len(desc.output) == 0:
        out.append(RuleViolation("4", "Neural networks produce at least one output.",
                                 fix="declare the model's outputs in its description"))
    if len(nn.layers) == 0:
        out.append(RuleViolation("4", "Neural networks require at least one layer.", fix="add layers"))
    blobs: dict[str, str] = {i.name: "__input" for i in desc.input}
    for layer in nn.layers:
        for blob in layer.input:
            if blob not in blobs:
                out.append(RuleViolation(
                    "4", f"Layer '{layer.name}' consumes an input named '{blob}' which is not present in this "
                    "network.", where=f"layer '{layer.name}'",
                    fix="order layers so each blob is produced before it is used, or feed it as a model input"))
        for blob in layer.output:
            if blob in blobs and S.kind(layer) != "copy":
                out.append(RuleViolation(
                    "4", f"Layer '{layer.name}' produces an output named '{blob}' which is also an output produced "
                    f"by the layer '{blobs[blob]}'.", where=f"layer '{layer.name}'",
                    fix="give every layer output a distinct blob name"))
            blobs.setdefault(blob, layer.name)
    produced = {b for layer in nn.layers for b in layer.output}
    if S.model_kind(spec) == "neuralNetworkClassifier":
        prob = nn.labelProbabilityLayerName
        if prob and prob not in produced:
            out.append(RuleViolation(
                "4", f"For this neural network classifier, the probabilities are obtained from the layer '{prob}' "
                "which was not found in the network.", fix="set labelProbabilityLayerName to a layer output blob"))
        for o in desc.output:
            if o.name not in produced and o.name not in (desc.predictedFeatureName, desc.predictedProbabilitiesName):
                out.append(RuleViolation(
                    "4", f"Output layer '{o.name}' is not produced by any layer of the neural network.",
                    where=f"output '{o.name}'", fix="name a layer output after the model output"))
    else:
        for o in desc.output:
            if o.name not in produced:
                out.append(RuleViolation(
                    "4", f"Interface specifies output '{o.name}' which is not produced by any layer in the neural "
                    "network.", where=f"output '{o.name}'", fix="name a layer output after the model output"))
    return out + _softmax_rank(spec, nn)


def _softmax_rank(spec: Any, nn: Any) -> list[RuleViolation]:
    """Rule 4: with an N-d array interpretation, softmax needs rank >= 3 (ranks known from the interface).

    Apple also switches to the N-d interpretation when a layer newer than iOS 12 is present; that list of
    layer types is not replicated here, only the shape-mapping flags and explicit ``inputTensor`` ranks.
    """
    if nn.arrayInputShapeMapping == 0 and nn.imageInputShapeMapping == 0:
        return []
    ranks: dict[str, int] = {}
    for f in spec.description.input:
        if f.type.WhichOneof("Type") == "multiArrayType":
            ranks[f.name] = 5 if nn.arrayInputShapeMapping == 0 else len(f.type.multiArrayType.shape)
        elif f.type.WhichOneof("Type") == "imageType":
            ranks[f.name] = 5 if nn.imageInputShapeMapping == 0 else 4
    for f in spec.description.output:
        if f.type.WhichOneof("Type") == "multiArrayType" and len(f.type.multiArrayType.shape):
            ranks[f.name] = len(f.type.multiArrayType.shape)
    out = []
    for layer in nn.layers:
        for blob, tensor in zip(layer.input, layer.inputTensor):
            ranks.setdefault(blob, int(tensor.rank))
        for blob, tensor in zip(layer.output, layer.outputTensor):
            ranks.setdefault(blob, int(tensor.rank))
        if S.kind(layer) != "softmax" or not layer.input or not layer.output:
            continue
        for side, blob in (("input", layer.input[0]), ("output", layer.output[0])):
            if blob in ranks and ranks[blob] < 3:
                out.append(RuleViolation(
                    "4", f"Layer '{layer.name}' of type 'Softmax' has {side} rank {ranks[blob]} but expects rank "
                    "at least 3.", where=f"layer '{layer.name}'",
                    fix="keep the default RANK5_ARRAY_MAPPING, or use softmaxND (which cannot be under the loss)"))
                break
    return out


def layers(spec: Any) -> list[RuleViolation]:
    """Rules 5-9 for an updatable NeuralNetwork."""
    nn, out = S.nn_of(spec), []
    marked = [layer for layer in nn.layers if layer.isUpdatable]
    if not marked:
        out.append(RuleViolation("5", NO_UPDATABLE_LAYER,
                                 fix="mark at least one convolution or innerProduct layer updatable "
                                     "(e.g. --updatable all or --updatable last:1)"))
    for layer in marked:
        where = f"layer '{layer.name}'"
        if S.kind(layer) not in VALIDATOR_UPDATABLE_TYPES:
            out.append(RuleViolation(
                "6", f"The layer named '{layer.name}' is marked as updatable, however it is not supported as the type "
                "of this layer is neither convolution nor inner-product.", where=where,
                fix="clear isUpdatable on this layer; only convolution and innerProduct layers can be updated"))
            continue
        if S.kind(layer) == "uniDirectionalLSTM":
            continue
        typed = getattr(layer, S.kind(layer))
        params = [("weights", typed.weights)] + ([("bias", typed.bias)] if typed.hasBias else [])
        precisions = {name: WP.precision(wp) for name, wp in params}
        if "quantized" in precisions.values():
            out.append(RuleViolation(
                "8", f"An updatable layer, named '{layer.name}', has quantized weights/bias param. Quantized "
                "weights/bias not supported for update.", where=where,
                fix="convert without quantization, or keep this layer frozen"))
        elif len({p for p in precisions.values() if p != "empty"}) > 1:
            out.append(RuleViolation(
                "8", f"weights and bias of updatable layer '{layer.name}' have different precisions "
                f"({', '.join(f'{k}: {v}' for k, v in precisions.items())})", where=where,
                fix="store weights and bias both as float32", origin="project"))
        if not all(wp.isUpdatable for _, wp in params):
            out.append(RuleViolation(
                "7", f"An updatable layer, named '{layer.name}', has a weight/bias param which is not marked as "
                "updatable.", where=where, fix="set weights.isUpdatable and bias.isUpdatable on this layer"))
    fp16 = [layer.name for layer in nn.layers if any(WP.precision(wp) == "float16" for _, wp in S.weight_params(layer))]
    if fp16:
        out.append(RuleViolation("8", COREMLTOOLS_FP16 + f" (coremltools; layers: {', '.join(fp16)})",
                                 fix="store the weights as float32, or split the model into a pipeline whose last, "
                                     "updatable model has float32 weights", origin="coremltools"))
    seen: set[str] = set()
    for name in [layer.name for layer in nn.layers] + [loss.name for loss in nn.updateParams.lossLayers]:
        if name in seen:
            out.append(RuleViolation(
                "9", f"The updatable model has a name collision for: '{name}', i.e., there are more than one layers "
                "or loss layers with this name.", where=f"layer '{name}'", fix="give every layer a distinct name"))
        seen.add(name)
    return out


def backprop(spec: Any) -> list[RuleViolation]:
    """Rules 10-11: Apple's breadth-first walk from each loss layer back through the graph.

    As on device, the 'blocking layer seen' flag is kept for the whole walk (not per path), and a softmax
    is let through only when its child is a categorical cross-entropy loss layer.
    """
    nn = S.nn_of(spec)
    nodes: dict[str, dict] = {}
    producer: dict[str, str] = {}

    def insert(name: str, inputs: list[str], outputs: list[str], info: dict) -> None:
        info["parents"] = [producer[b] for b in inputs if b in producer]
        for b in outputs:
            producer[b] = name
        nodes[name] = info

    for layer in nn.layers:
        insert(layer.name, list(layer.input), list(layer.output),
               {"kind": S.kind(layer), "updatable": layer.isUpdatable, "backprop": supports_backprop(layer)})
    out = []
    for loss in nn.updateParams.lossLayers:
        which = loss.WhichOneof("LossLayerType")
        inputs = [getattr(loss, which).input] if which else []
        insert(loss.name, inputs, [], {"kind": "loss", "loss": which, "updatable": False, "backprop": False})
    visited: set[str] = set()
    for loss in nn.updateParams.lossLayers:
        queue, blocked, first = [loss.name], False, ""
        while queue:
            current = nodes[queue.pop(0)]
            for parent in current["parents"]:
                if parent in visited:
                    continue
                visited.add(parent)
                queue.append(parent)
                node = nodes[parent]
                if node["updatable"] and blocked:
                    out.append(RuleViolation(
                        "10", f"There is a layer ({first}), which does not support backpropagation, between an "
                        "updatable marked layer and the loss function.", where=f"layer '{first}'",
                        fix=f"freeze the layers before '{first}' (mark only layers between it and the loss "
                            "updatable), or replace it by a layer that supports back-propagation (convolution, "
                            "innerProduct, flatten, pooling, batchnorm, ReLU/sigmoid/tanh activation)"))
                    return out
                if not node["backprop"]:
                    if node["kind"] == "softmax" and current.get("loss") == "categoricalCrossEntropyLossLayer":
                        continue
                    blocked, first = True, parent
    return out


def backprop_reach(nn: Any, loss_inputs: list[str]) -> set[str]:
    """Names of the layers whose outputs gradients from ``loss_inputs`` reach through layers that support
    back-propagation only: the layers rule 10 lets be updatable for a loss on those blobs.

    A softmax producing a loss input is let through, as :func:`backprop` does under a categorical
    cross-entropy loss. Layers are walked from the output back, in spec order.
    """
    reach, out = set(loss_inputs), set()
    for layer in reversed(nn.layers):
        if not any(b in reach for b in layer.output):
            continue
        loss_softmax = S.kind(layer) == "softmax" and any(b in loss_inputs for b in layer.output)
        if supports_backprop(layer) or loss_softmax:
            out.add(layer.name)
            reach.update(layer.input)
    return out


def backprop_path(spec: Any) -> set[str]:
    """Names of the layers gradients flow through: ancestors of a loss input that lie on or after an updatable layer."""
    nn = S.nn_of(spec)
    loss_inputs = []
    for loss in nn.updateParams.lossLayers:
        which = loss.WhichOneof("LossLayerType")
        if which:
            loss_inputs.append(getattr(loss, which).input)
    anc = S.ancestors(nn, loss_inputs)
    reach: set[int] = set()          # layers downstream of (or equal to) an updatable layer
    live: set[str] = set()
    for i, layer in enumerate(nn.layers):
        if layer.isUpdatable or any(b in live for b in layer.input):
            reach.add(i)
            live.update(layer.output)
    return {nn.layers[i].name for i in sorted(anc & reach)}
