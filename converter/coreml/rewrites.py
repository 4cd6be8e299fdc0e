"""The rewrites, one pattern each, in the order they run (see registry.py for the contract).

``coremltools.convert`` (to NeuralNetwork) writes rank-N networks: ``batchedMatmul`` for a Dense
without bias, ``softmaxND``, ``transpose`` + ``reshapeStatic`` around Keras' channels-last Flatten,
``reduceMean`` for global pooling, ``expandDims`` / ``squeeze`` around 1-D ops, NHWC inputs behind a
``transpose``. Core ML trains none of them; these rewrites write the classic layers it trains instead.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ground import weight_params as WP
from ground.layout import hwc_to_chw_columns

from . import graph as G
from .registry import Rewritten, Shapes, rewrite

TO_NCHW = {4: [0, 3, 1, 2], 3: [2, 0, 1]}
TO_NHWC = [0, 2, 3, 1]
FLATTENING = ("reshapeStatic", "flattenTo2D", "squeeze", "reshapeLike", "flatten")


def _begin(spec: Any) -> tuple[Any, Any, list[Rewritten]]:
    """Every rewrite's start: a copy of ``spec`` (the given one is never changed), its network, no records."""
    spec = G.copy(spec)
    return spec, G.nn_of(spec), []


def _nhwc_transposes(nn: Any, shapes: Shapes, outputs: set[str]) -> Iterator[tuple[Any, tuple[int, int, int]]]:
    """Each transpose [0, 2, 3, 1] of a (1, C, H, W) blob whose output is no model output, with that (C, H, W).

    The layers are listed before the first is yielded (the caller may remove them); each is checked when
    its turn comes, against the shapes as they are then."""
    for layer in list(nn.layers):
        if G.kind(layer) != "transpose" or list(layer.transpose.axes) != TO_NHWC or layer.output[0] in outputs:
            continue
        chw = G.chw_of(shapes.get(layer.input[0]))
        if chw is not None:
            yield layer, chw


@rewrite("nhwc_input", pattern="an NHWC input (1, H, W, C) read only through transpose [0, 3, 1, 2]",
         result="a (C, H, W) input, the transposes dropped")
def nhwc_input(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    for fd in spec.description.input:
        if fd.type.WhichOneof("Type") != "multiArrayType" or nn.arrayInputShapeMapping != 1:
            continue
        shape = [int(s) for s in fd.type.multiArrayType.shape]
        readers = G.readers(nn, fd.name)
        perm = TO_NCHW.get(len(shape))
        if not readers or perm is None or any(G.kind(r) != "transpose" or list(r.transpose.axes) != perm
                                             for r in readers):
            continue
        del fd.type.multiArrayType.shape[:]
        fd.type.multiArrayType.shape.extend([shape[a] for a in perm])
        shapes[fd.name] = tuple(shape[a] for a in perm)
        fd.type.multiArrayType.ClearField("ShapeFlexibility")
        names = [r.name for r in readers]
        for r in readers:
            G.bypass(spec, r)
        nhwc = "(N, H, W, C)" if len(shape) == 3 else "(N, 1, H, W, C)"
        records.append(Rewritten("nhwc_input", (fd.name, *names), f"input '{fd.name}' channels first",
                                 f"the network converted its {nhwc} input to channels first itself; feed "
                                 "channels-first images (x.transpose(0, 3, 1, 2) of an NHWC batch)"))
    return spec, records


@rewrite("batched_matmul_to_inner_product",
         pattern="batchedMatmul with one input (constant weights) on a blob of rank 1 to 3",
         result="innerProduct with the same weights", rank_n_safe=True)
def batched_matmul_to_inner_product(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    for layer in list(nn.layers):
        if G.kind(layer) != "batchedMatmul" or len(layer.input) != 1 or layer.batchedMatmul.int8DynamicQuantize:
            continue
        shape = shapes.get(layer.input[0])
        if shape is None or not 1 <= len(shape) <= 3:   # innerProduct: ranks 1-3 on the last axis, as here
            continue
        p = layer.batchedMatmul
        x1, x2 = int(p.weightMatrixFirstDimension), int(p.weightMatrixSecondDimension)
        weights = WP.read_floats(p.weights).reshape(x2, x1)  # [X1, X2] column-major = [C_out, C_in] row-major
        bias = WP.read_floats(p.bias) if p.hasBias else None
        layer.ClearField("batchedMatmul")
        ip = layer.innerProduct
        ip.inputChannels, ip.outputChannels = x1, x2
        WP.write(ip.weights, weights)
        if bias is not None:
            ip.hasBias = True
            WP.write(ip.bias, bias)
        records.append(Rewritten("batched_matmul_to_inner_product", (layer.name,), "innerProduct",
                                 "Core ML updates innerProduct and convolution layers only; on ranks 1 to 3 "
                                 "an innerProduct is the same product on the last axis"))
    return spec, records


@rewrite("bias_add_into_inner_product",
         pattern="innerProduct without bias, then addBroadcastable of a constant [C_out]",
         result="innerProduct with that bias", rank_n_safe=True)
def bias_add_into_inner_product(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    for layer in list(nn.layers):
        if G.kind(layer) != "innerProduct" or layer.innerProduct.hasBias:
            continue
        readers = G.readers(nn, layer.output[0])
        if len(readers) != 1 or G.kind(readers[0]) not in ("addBroadcastable", "add") or len(readers[0].input) != 2 \
                or layer.output[0] in G.output_blobs(spec):
            continue
        add = readers[0]
        other = [b for b in add.input if b != layer.output[0]]
        const = G.producer(nn, other[0]) if len(other) == 1 else None
        if const is None or G.kind(const) != "loadConstantND":
            continue
        values = WP.read_floats(const.loadConstantND.data)
        if values.size != int(layer.innerProduct.outputChannels):
            continue
        layer.innerProduct.hasBias = True
        WP.write(layer.innerProduct.bias, values)
        names = (layer.name, add.name, const.name)
        G.bypass(spec, add, keep=layer.output[0])
        if not G.readers(nn, const.output[0]):
            G.remove(nn, const)
        records.append(Rewritten("bias_add_into_inner_product", names, f"innerProduct '{layer.name}' with bias",
                                 "an updatable innerProduct trains its bias; a separate constant add would stay "
                                 "frozen and blocks back-propagation"))
    return spec, records


@rewrite("flatten_nhwc_before_dense",
         pattern="transpose [0, 2, 3, 1] of a (1, C, H, W) blob, then reshapeStatic to a vector, read by "
                 "innerProduct layers (Keras' channels-last Flatten)",
         result="flatten (CHANNEL_FIRST), the innerProducts' weight columns reordered from H, W, C to C, H, W")
def flatten_nhwc_before_dense(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    outputs = set(G.output_blobs(spec))
    for layer, chw in _nhwc_transposes(nn, shapes, outputs):
        after = G.readers(nn, layer.output[0])
        if len(after) != 1 or G.kind(after[0]) not in FLATTENING:
            continue
        flat = after[0]
        dense = G.readers(nn, flat.output[0])
        if not G.is_vector(shapes.get(flat.output[0])) or not dense or flat.output[0] in outputs \
                or any(G.kind(d) != "innerProduct" for d in dense):
            continue
        for d in dense:
            ip = d.innerProduct
            w = WP.read_floats(ip.weights).reshape(int(ip.outputChannels), int(ip.inputChannels))
            WP.write(ip.weights, hwc_to_chw_columns(w, chw))
        names = (layer.name, flat.name)
        G.make_flatten(flat, layer.input[0])
        G.remove(nn, layer)
        records.append(Rewritten("flatten_nhwc_before_dense", names, f"flatten '{flat.name}' (CHANNEL_FIRST); "
                                 f"weights of {', '.join(d.name for d in dense)} reordered",
                                 "Core ML cannot back-propagate through transpose or reshapeStatic; its flatten "
                                 "orders C, H, W, so the dense weights' columns move from H, W, C order"))
    return spec, records


@rewrite("reshape_chw_to_flatten",
         pattern="reshapeStatic / flattenTo2D of a (1, C, H, W) blob to a vector (PyTorch's flatten)",
         result="flatten (CHANNEL_FIRST); same order, no weights change")
def reshape_chw_to_flatten(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    for layer in list(nn.layers):
        if G.kind(layer) not in ("reshapeStatic", "flattenTo2D", "reshapeLike"):
            continue
        chw = G.chw_of(shapes.get(layer.input[0]))
        if chw is None or chw[1] * chw[2] == 1 or not G.is_vector(shapes.get(layer.output[0])):
            continue
        G.make_flatten(layer, layer.input[0])
        records.append(Rewritten("reshape_chw_to_flatten", (layer.name,), "flatten (CHANNEL_FIRST)",
                                 "Core ML cannot back-propagate through reshapeStatic; flatten has the same C, H, W "
                                 "order"))
    return spec, records


ELEMENTWISE = ("activation", "unary", "clip")


def _channel_constant(nn: Any, layer: Any, blob: str, channels: int) -> np.ndarray | None:
    """The values of the per-channel constant ``layer`` combines ``blob`` with, or None."""
    if G.kind(layer) not in ("multiplyBroadcastable", "addBroadcastable") or len(layer.input) != 2:
        return None
    other = [b for b in layer.input if b != blob]
    const = G.producer(nn, other[0]) if len(other) == 1 else None
    if const is None or G.kind(const) != "loadConstantND":
        return None
    shape = [int(d) for d in const.loadConstantND.shape]
    if not shape or shape[-1] != channels or any(d != 1 for d in shape[:-1]):
        return None
    return WP.read_floats(const.loadConstantND.data)


@rewrite("nhwc_tail_to_global_pool",
         pattern="transpose [0, 2, 3, 1] of a (1, C, H, W) blob, element-wise layers and per-channel constant "
                 "multiply/add (a BatchNormalization), then reduceMean / reduceMax over H and W",
         result="the same layers on (C, H, W): batchnorm (or scale / bias) for the constants, pooling (global) for "
                "the reduce")
def nhwc_tail_to_global_pool(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    outputs = set(G.output_blobs(spec))
    for t, chw in _nhwc_transposes(nn, shapes, outputs):
        if len(shapes[t.input[0]]) != 4:
            continue
        chain, blob, end = [], t.output[0], None
        while blob not in outputs:
            after = G.readers(nn, blob)
            if len(after) != 1:
                break
            nxt = after[0]
            k = G.kind(nxt)
            if k in ("reduceMean", "reduceMax"):
                p = getattr(nxt, k)
                if not p.reduceAll and sorted(int(a) % 4 for a in p.axes) == [1, 2]:
                    end = nxt
                break
            params = (k == "activation" and nxt.activation.WhichOneof("NonlinearityType") in ("PReLU",
                                                                                               "parametricSoftplus"))
            if (k in ELEMENTWISE and not params) or _channel_constant(nn, nxt, blob, chw[0]) is not None:
                chain.append(nxt)
                blob = nxt.output[0]
                continue
            break
        if end is None:
            continue
        names = (t.name, *(c.name for c in chain), end.name)
        data_in = t.output[0]
        for layer in chain:
            if G.kind(layer) not in ELEMENTWISE:
                values = _channel_constant(nn, layer, data_in, chw[0])
                const = G.producer(nn, next(b for b in layer.input if b != data_in))
                mul = G.kind(layer) == "multiplyBroadcastable"
                layer.ClearField(G.kind(layer))
                del layer.input[:]
                layer.input.append(data_in)
                if mul:
                    layer.scale.shapeScale.append(chw[0])
                    WP.write(layer.scale.scale, values)
                else:
                    layer.bias.shape.append(chw[0])
                    WP.write(layer.bias.bias, values)
                if not G.readers(nn, const.output[0]):
                    G.remove(nn, const)
            data_in = layer.output[0]
            shapes[data_in] = (1, *chw)
        _merge_scale_bias(nn, chain, chw[0])
        G.bypass(spec, t)
        kind = G.kind(end)
        end.ClearField(kind)
        end.pooling.type = 1 if kind == "reduceMean" else 0
        end.pooling.globalPooling = True
        end.pooling.valid.SetInParent()
        records.append(Rewritten("nhwc_tail_to_global_pool", names, "the same layers on (C, H, W), "
                                 f"pooling (global) '{end.name}'",
                                 "element-wise layers do not care about the layout; without the transpose to NHWC the "
                                 "per-channel constants are a batchnorm (or scale / bias) and the reduce a global "
                                 "pooling, which Core ML back-propagates through"))
    return spec, records


def _merge_scale_bias(nn: Any, chain: list, channels: int) -> None:
    """A scale followed by a bias (BatchNormalization in inference) becomes one batchnorm layer, which Core
    ML back-propagates through: gamma = scale, beta = bias, mean 0, variance 1 (epsilon 1e-10)."""
    for first, second in zip(chain, chain[1:]):
        if G.kind(first) != "scale" or G.kind(second) != "bias" or list(second.input) != list(first.output) \
                or len(G.readers(nn, first.output[0])) != 1:
            continue
        gamma = WP.read_floats(first.scale.scale)
        beta = WP.read_floats(second.bias.bias)
        first.ClearField("scale")
        bn = first.batchnorm
        bn.channels, bn.epsilon = channels, 1e-10
        WP.write(bn.gamma, gamma)
        WP.write(bn.beta, beta)
        WP.write(bn.mean, np.zeros(channels, np.float32))
        WP.write(bn.variance, np.ones(channels, np.float32))
        del first.output[:]
        first.output.extend(second.output)
        G.remove(nn, second)


@rewrite("global_pool_from_reduce",
         pattern="reduceMean / reduceMax over the two last axes of a (1, C, H, W) blob",
         result="pooling (global average / max)")
def global_pool_from_reduce(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    for layer in nn.layers:
        kind = G.kind(layer)
        if kind not in ("reduceMean", "reduceMax"):
            continue
        shape = shapes.get(layer.input[0])
        p = getattr(layer, kind)
        if G.chw_of(shape) is None or p.reduceAll or sorted(int(a) % len(shape) for a in p.axes) != \
                [len(shape) - 2, len(shape) - 1]:
            continue
        layer.ClearField(kind)
        pool = layer.pooling
        pool.type = 1 if kind == "reduceMean" else 0    # AVERAGE | MAX
        pool.globalPooling = True
        pool.valid.SetInParent()
        records.append(Rewritten("global_pool_from_reduce", (layer.name,), "pooling (global)",
                                 f"{kind} over H and W is global pooling, which Core ML back-propagates through"))
    return spec, records


@rewrite("softmax_nd_to_softmax", pattern="softmaxND on the axis of a vector's values",
         result="softmax")
def softmax_nd_to_softmax(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    for layer in nn.layers:
        if G.kind(layer) != "softmaxND":
            continue
        shape = shapes.get(layer.input[0])
        if not G.is_vector(shape) or shape[int(layer.softmaxND.axis) % len(shape)] != max(shape):
            continue
        layer.ClearField("softmaxND")
        layer.softmax.SetInParent()
        records.append(Rewritten("softmax_nd_to_softmax", (layer.name,), "softmax",
                                 "Core ML's cross-entropy loss must read a softmax layer (softmaxND is refused)"))
    return spec, records


SINGLETON_MOVES = ("expandDims", "squeeze", "reshapeStatic", "transpose", "flattenTo2D", "reshapeLike")


@rewrite("drop_singleton_moves",
         pattern="expandDims / squeeze / reshapeStatic / transpose that only add, drop or move axes of size 1",
         result="dropped (the data and its order are unchanged)")
def drop_singleton_moves(spec: Any, shapes: Shapes) -> tuple[Any, list[Rewritten]]:
    spec, nn, records = _begin(spec)
    for layer in list(nn.layers):
        if G.kind(layer) not in SINGLETON_MOVES or len(layer.output) != 1:
            continue
        before, after = shapes.get(layer.input[0]), shapes.get(layer.output[0])
        if before is None or after is None or not G.same_data(layer, before, after):
            continue
        if not G.bypass(spec, layer):
            continue
        records.append(Rewritten("drop_singleton_moves", (layer.name,), "dropped",
                                 f"{G.kind(layer)} {list(before)} -> {list(after)} only moves axes of size 1; "
                                 "Core ML cannot back-propagate through it"))
    return spec, records
