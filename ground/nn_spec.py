"""Small read/write helpers over Core ML NeuralNetwork specs, shared by the passes and the validator.

Only protobuf messages here: no Keras, ONNX, converter or emulator imports.
"""
from __future__ import annotations

from typing import Any, Iterator


from .protos import NeuralNetwork_pb2
from .errors import UnsupportedModelError
from .weight_params import value_count

NN_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")
PIPELINE_TYPES = ("pipeline", "pipelineClassifier", "pipelineRegressor")
UPDATABLE_TYPES = ("convolution", "innerProduct")


def model_kind(spec: Any) -> str:
    """The spec's model type (the ``Type`` oneof), '' when unset."""
    return spec.WhichOneof("Type") or ""


def nn_of(spec: Any) -> Any:
    """The NeuralNetwork(-Classifier/-Regressor) message of ``spec``, or UnsupportedModelError."""
    kind = model_kind(spec)
    if kind not in NN_TYPES:
        raise UnsupportedModelError(
            f"model type '{kind or 'unset'}' is not a NeuralNetwork; only {', '.join(NN_TYPES)} can be made "
            "updatable by this project", fix="convert the source model to a NeuralNetwork .mlmodel first")
    return getattr(spec, kind)


def sub_models(spec: Any) -> list[Any]:
    """The sub-models of a pipeline spec (empty for other model types)."""
    kind = model_kind(spec)
    if kind == "pipeline":
        return list(spec.pipeline.models)
    if kind in ("pipelineClassifier", "pipelineRegressor"):
        return list(getattr(spec, kind).pipeline.models)
    return []


def kind(layer: Any) -> str:
    """A layer's Core ML type (the ``layer`` oneof name), '<empty>' when unset."""
    return layer.WhichOneof("layer") or "<empty>"


def producers(nn: Any) -> dict[str, int]:
    """Blob name -> index of the (last) layer producing it."""
    out: dict[str, int] = {}
    for i, layer in enumerate(nn.layers):
        for blob in layer.output:
            out[blob] = i
    return out


def consumers(nn: Any) -> dict[str, list[int]]:
    """Blob name -> indices of the layers reading it, in spec order."""
    out: dict[str, list[int]] = {}
    for i, layer in enumerate(nn.layers):
        for blob in layer.input:
            out.setdefault(blob, []).append(i)
    return out


def network_output_blobs(spec: Any) -> list[str]:
    """The blobs the network must produce for the model's outputs.

    A classifier's label output (``predictedFeatureName``) is made by Core ML, not by a layer; its
    probability output comes from ``labelProbabilityLayerName`` when that is set.
    """
    desc = spec.description
    if model_kind(spec) == "neuralNetworkClassifier":
        blobs = [o.name for o in desc.output if o.name != desc.predictedFeatureName]
        prob_layer = spec.neuralNetworkClassifier.labelProbabilityLayerName
        if prob_layer:
            blobs = [prob_layer if b == desc.predictedProbabilitiesName else b for b in blobs]
        return blobs
    return [o.name for o in desc.output]


def ancestors(nn: Any, blobs: list[str]) -> set[int]:
    """Indices of the layers the given blobs depend on (walking producers backwards)."""
    prod = producers(nn)
    seen: set[int] = set()
    stack = list(blobs)
    while stack:
        i = prod.get(stack.pop())
        if i is None or i in seen:
            continue
        seen.add(i)
        stack.extend(nn.layers[i].input)
    return seen


def weight_params(layer: Any) -> Iterator[tuple[str, Any]]:
    """(field name, WeightParams) pairs of a layer's typed parameters that hold values."""
    typed = getattr(layer, kind(layer), None)
    if typed is None or not hasattr(typed, "DESCRIPTOR"):
        return
    yield from _weight_fields(typed, "")


def _weight_fields(msg: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """WeightParams fields of ``msg``, and of its LSTM weight messages (``weightParams``, one per direction)."""
    for fd in msg.DESCRIPTOR.fields:
        if fd.message_type is None:
            continue
        if fd.message_type.name == "WeightParams" and not _repeated(fd):
            wp = getattr(msg, fd.name)
            if value_count(wp):
                yield prefix + fd.name, wp
        elif fd.message_type.name == "LSTMWeightParams":
            value = getattr(msg, fd.name)
            for i, inner in enumerate(value if _repeated(fd) else [value]):
                yield from _weight_fields(inner, f"{prefix}{fd.name}{f'[{i}]' if _repeated(fd) else ''}.")


def _repeated(fd: Any) -> bool:
    """Whether a field descriptor is repeated (protobuf 5 and 6 spell it differently)."""
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    return fd.label == fd.LABEL_REPEATED


def param_count(layer: Any) -> int:
    """Number of stored parameters (weights, biases, statistics) of one layer."""
    return sum(value_count(wp) for _, wp in weight_params(layer))


def rename_blob_everywhere(nn: Any, old: str, new: str, *, start: int = 0) -> None:
    """Replace blob name ``old`` by ``new`` in every layer input and output from layer ``start`` on."""
    for layer in list(nn.layers)[start:]:
        for field in (layer.input, layer.output):
            for j, name in enumerate(field):
                if name == old:
                    field[j] = new


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``... the first not in ``taken``."""
    if base not in taken:
        return base
    n = 1
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def all_names(spec: Any) -> set[str]:
    """Every layer, loss layer, blob and feature name of a NeuralNetwork spec."""
    nn = nn_of(spec)
    names = {layer.name for layer in nn.layers}
    names |= {b for layer in nn.layers for b in (*layer.input, *layer.output)}
    names |= {loss.name for loss in nn.updateParams.lossLayers}
    d = spec.description
    names |= {f.name for f in (*d.input, *d.output, *d.trainingInput)}
    return names


def new_layer_after(nn: Any, index: int) -> Any:
    """Insert an empty layer right after layer ``index`` (``-1``: at the front) and return it."""
    layers = list(nn.layers)
    new = NeuralNetwork_pb2.NeuralNetworkLayer()
    copies = [NeuralNetwork_pb2.NeuralNetworkLayer() for _ in layers]
    for c, layer in zip(copies, layers):
        c.CopyFrom(layer)
    del nn.layers[:]
    for i, c in enumerate(copies):
        if i == index + 1:
            nn.layers.append(new)
        nn.layers.append(c)
    if index + 1 >= len(copies):
        nn.layers.append(new)
    return nn.layers[index + 1]
