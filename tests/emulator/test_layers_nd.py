"""The rank-N layers (specification 4+) against numpy references written from NeuralNetwork.proto.

Each spec uses EXACT_ARRAY_MAPPING: a blob has exactly its Core ML shape; inputs are ``(N, *shape)``.
The references work one example at a time (a loop over N), in plain numpy, sharing nothing with the
runtime's code path.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ground.protos import Model_pb2, NeuralNetwork_pb2
from tests.emulator.conftest import FLOAT32, new_layer, set_weights

N = 3


def _spec(inputs: dict, outputs: list[str], layers: list, *, exact: bool = True) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    for name, shape in inputs.items():
        fd = spec.description.input.add()
        fd.name = name
        fd.type.multiArrayType.dataType = FLOAT32
        fd.type.multiArrayType.shape.extend(int(s) for s in shape)
    for name in outputs:
        fd = spec.description.output.add()
        fd.name = name
        fd.type.multiArrayType.dataType = FLOAT32
    spec.neuralNetwork.arrayInputShapeMapping = 1 if exact else 0
    for layer in layers:
        spec.neuralNetwork.layers.add().CopyFrom(layer)
    return spec


def run(layers: list, feeds: dict[str, np.ndarray], outputs: list[str] | None = None, **kw) -> list[np.ndarray]:
    import emulator

    outputs = outputs or list(layers[-1].output)
    spec = _spec({k: v.shape[1:] for k, v in feeds.items()}, outputs, layers, **kw)
    got = emulator.load(spec).predict({k: v.astype(np.float32) for k, v in feeds.items()})
    return [got[o] for o in outputs]


def per_example(fn, *arrays):
    return np.stack([fn(*(a[i] for a in arrays)) for i in range(len(arrays[0]))])


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# ---------------------------------------------------------------- batchedMatmul


@pytest.mark.parametrize("shape", [(5,), (1, 5), (2, 3, 5)])
@pytest.mark.parametrize("bias", [False, True])
def test_batched_matmul_with_weights(rng, shape, bias):
    w = rng.normal(size=(5, 4)).astype(np.float32)   # [X1, X2]
    b = rng.normal(size=4).astype(np.float32)
    layer = new_layer("bmm", ["x"], ["y"])
    p = layer.batchedMatmul
    p.weightMatrixFirstDimension, p.weightMatrixSecondDimension = 5, 4
    p.weights.floatValue.extend(w.flatten(order="F").tolist())    # "stored in column major order"
    if bias:
        p.hasBias = True
        set_weights(p.bias, b)
    x = rng.normal(size=(N, *shape))
    expected = per_example(lambda e: e @ w + (b if bias else 0), x)
    np.testing.assert_allclose(run([layer], {"x": x})[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_batched_matmul_of_two_inputs(rng, ta, tb):
    a = rng.normal(size=(N, 2, 4, 3) if ta else (N, 2, 3, 4))
    b = rng.normal(size=(N, 5, 4) if tb else (N, 4, 5))
    layer = new_layer("bmm", ["a", "b"], ["y"])
    layer.batchedMatmul.transposeA, layer.batchedMatmul.transposeB = ta, tb
    expected = per_example(lambda x, y: np.matmul(np.swapaxes(x, -1, -2) if ta else x,
                                                  np.swapaxes(y, -1, -2) if tb else y), a, b)
    np.testing.assert_allclose(run([layer], {"a": a, "b": b})[0], expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- softmaxND, reductions, broadcastable


@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
def test_softmax_nd(rng, axis):
    x = rng.normal(size=(N, 2, 3, 4))
    layer = new_layer("sm", ["x"], ["y"])
    layer.softmaxND.axis = axis

    def ref(e):
        z = np.exp(e - e.max(axis=axis, keepdims=True))
        return z / z.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(run([layer], {"x": x})[0], per_example(ref, x), rtol=1e-5, atol=1e-6)


REDUCE = {"reduceSum": np.sum, "reduceMean": np.mean, "reduceMax": np.max, "reduceMin": np.min,
          "reduceProd": np.prod, "reduceL1": lambda e, axis, keepdims: np.sum(np.abs(e), axis=axis, keepdims=keepdims),
          "reduceL2": lambda e, axis, keepdims: np.sqrt(np.sum(e * e, axis=axis, keepdims=keepdims)),
          "reduceLogSum": lambda e, axis, keepdims: np.log(np.sum(e, axis=axis, keepdims=keepdims)),
          "reduceSumSquare": lambda e, axis, keepdims: np.sum(e * e, axis=axis, keepdims=keepdims),
          "reduceLogSumExp": lambda e, axis, keepdims: np.log(np.sum(np.exp(e), axis=axis, keepdims=keepdims))}


@pytest.mark.parametrize("kind", sorted(REDUCE))
@pytest.mark.parametrize("axes,keep,everything", [((1,), False, False), ((-1, 0), True, False), ((), False, True)])
def test_reduce(rng, kind, axes, keep, everything):
    x = rng.uniform(0.5, 1.5, size=(N, 2, 3, 4))
    layer = new_layer("r", ["x"], ["y"])
    p = getattr(layer, kind)
    p.axes.extend(axes)
    p.keepDims, p.reduceAll = keep, everything
    axis = None if everything else tuple(a % 3 for a in axes)

    def ref(e):
        y = np.asarray(REDUCE[kind](e, axis=axis, keepdims=keep))
        return y.reshape(1) if y.ndim == 0 else y
    np.testing.assert_allclose(run([layer], {"x": x})[0], per_example(ref, x), rtol=1e-5, atol=1e-5)


BROADCAST = {"addBroadcastable": np.add, "multiplyBroadcastable": np.multiply,
             "subtractBroadcastable": np.subtract, "divideBroadcastable": np.divide,
             "maxBroadcastable": np.maximum, "minBroadcastable": np.minimum}


@pytest.mark.parametrize("kind", sorted(BROADCAST))
@pytest.mark.parametrize("shape_b", [(4,), (3, 1), (2, 1, 4)])
def test_broadcastable(rng, kind, shape_b):
    a = rng.uniform(0.5, 2, size=(N, 2, 3, 4))
    b = rng.uniform(0.5, 2, size=(N, *shape_b))
    layer = new_layer("op", ["a", "b"], ["y"])
    getattr(layer, kind).SetInParent()
    expected = per_example(BROADCAST[kind], a, b)            # numpy's rules: axes aligned from the end
    np.testing.assert_allclose(run([layer], {"a": a, "b": b})[0], expected, rtol=1e-5, atol=1e-6)


def test_load_constant_nd_broadcasts_over_examples(rng):
    c = rng.normal(size=(3, 4)).astype(np.float32)
    const = new_layer("c", [], ["c"])
    const.loadConstantND.shape.extend([3, 4])
    set_weights(const.loadConstantND.data, c)
    add = new_layer("add", ["x", "c"], ["y"])
    add.addBroadcastable.SetInParent()
    x = rng.normal(size=(N, 2, 3, 4))
    np.testing.assert_allclose(run([const, add], {"x": x})[0], x + c, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- shapes


# layer kind: (its field that takes the argument, the reference on one example)
MOVES = {"transpose": ("axes", np.transpose), "reshapeStatic": ("targetShape", np.reshape)}


@pytest.mark.parametrize("kind, arg", [("transpose", axes) for axes in itertools.permutations(range(3))]
                         + [("reshapeStatic", target) for target in [(6, 4), (24,), (4, -1, 2), (1, 2, 12)]],
                         ids=lambda v: "_".join(map(str, v)) if isinstance(v, tuple) else v)
def test_transpose_and_reshape_static(rng, kind, arg):
    x = rng.normal(size=(N, 2, 3, 4))
    layer = new_layer("move", ["x"], ["y"])
    field, reference = MOVES[kind]
    getattr(getattr(layer, kind), field).extend(arg)
    np.testing.assert_array_equal(run([layer], {"x": x})[0], per_example(lambda e: reference(e, arg), x)
                                  .astype(np.float32))


def test_reshape_like_and_dynamic(rng):
    x = rng.normal(size=(N, 2, 3, 4))
    like = rng.normal(size=(N, 4, 6))
    shape = np.tile(np.array([[8, 3]], np.float32), (N, 1))
    a = new_layer("like", ["x", "ref"], ["y1"])
    a.reshapeLike.SetInParent()
    b = new_layer("dyn", ["x", "shape"], ["y2"])
    b.reshapeDynamic.SetInParent()
    y1, y2 = run([a, b], {"x": x, "ref": like, "shape": shape}, ["y1", "y2"])
    np.testing.assert_array_equal(y1, x.reshape(N, 4, 6).astype(np.float32))
    np.testing.assert_array_equal(y2, x.reshape(N, 8, 3).astype(np.float32))


@pytest.mark.parametrize("axes,expected", [((0, 1), (1, 1, 10, 5)), ((0, 2), (1, 10, 1, 5)), ((-2, -1), (10, 5, 1, 1))])
def test_expand_dims_examples_of_the_proto(rng, axes, expected):
    x = rng.normal(size=(N, 10, 5))
    layer = new_layer("e", ["x"], ["y"])
    layer.expandDims.axes.extend(axes)
    got = run([layer], {"x": x})[0]
    assert got.shape == (N, *expected)
    np.testing.assert_array_equal(got.reshape(N, -1), x.reshape(N, -1).astype(np.float32))


@pytest.mark.parametrize("shape,axes,every,expected", [((1, 1, 10, 5), (0, 1), False, (10, 5)),
                                                         ((1, 10, 5, 1), (0, 3), False, (10, 5)),
                                                         ((10, 5, 1, 1), (-2, -1), False, (10, 5)),
                                                         ((1,), (0,), False, (1,)),
                                                         ((1, 4, 1), (), True, (4,))])
def test_squeeze_examples_of_the_proto(rng, shape, axes, every, expected):
    x = rng.normal(size=(N, *shape))
    layer = new_layer("s", ["x"], ["y"])
    layer.squeeze.axes.extend(axes)
    layer.squeeze.squeezeAll = every
    got = run([layer], {"x": x})[0]
    assert got.shape == (N, *expected)


@pytest.mark.parametrize("axis", [0, -1, 1])
@pytest.mark.parametrize("interleave", [False, True])
def test_concat_nd(rng, axis, interleave):
    a, b = rng.normal(size=(N, 3, 2)), rng.normal(size=(N, 3, 2))
    layer = new_layer("c", ["a", "b"], ["y"])
    layer.concatND.axis, layer.concatND.interleave = axis, interleave

    def ref(x, y):
        if not interleave:
            return np.concatenate([x, y], axis=axis)
        ax = axis % 2
        out = np.zeros(tuple(d * 2 if i == ax else d for i, d in enumerate(x.shape)))
        index = [slice(None)] * 2
        index[ax] = slice(0, None, 2)
        out[tuple(index)] = x
        index[ax] = slice(1, None, 2)
        out[tuple(index)] = y
        return out
    np.testing.assert_array_equal(run([layer], {"a": a, "b": b})[0], per_example(ref, a, b).astype(np.float32))


@pytest.mark.parametrize("sizes,num", [((3, 2), 0), ((), 5)])
def test_split_nd(rng, sizes, num):
    x = rng.normal(size=(N, 5, 3, 4)) if num == 0 else rng.normal(size=(N, 3, 4, 5))
    axis = -3 if num == 0 else -1
    layer = new_layer("sp", ["x"], [f"y{i}" for i in range(len(sizes) or num)])
    layer.splitND.axis = axis
    layer.splitND.splitSizes.extend(sizes)
    layer.splitND.numSplits = num or len(sizes)
    got = run([layer], {"x": x})
    bounds = np.cumsum(sizes)[:-1] if sizes else num
    for g, e in zip(got, np.split(x, bounds, axis=axis)):
        np.testing.assert_array_equal(g, e.astype(np.float32))


def test_slice_static_example_of_the_proto(rng):
    x = rng.normal(size=(N, 5, 5, 5))
    layer = new_layer("sl", ["x"], ["y"])
    p = layer.sliceStatic
    p.beginIds.extend([1, 2, 3])
    p.beginMasks.extend([True, False, True])
    p.endIds.extend([3, -3, 2])
    p.endMasks.extend([False, True, True])
    p.strides.extend([2, 2, 2])
    got = run([layer], {"x": x})[0]
    assert got.shape == (N, 2, 2, 3)
    np.testing.assert_array_equal(got, x[:, :3:2, 2::2, ::2].astype(np.float32))
    p.squeezeMasks.extend([False, True, False])
    got = run([layer], {"x": x})[0]
    np.testing.assert_array_equal(got, x[:, :3:2, 2, ::2].astype(np.float32))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_of_inputs(rng, axis):
    data = rng.normal(size=(N, 4, 3, 5))
    size = data.shape[1:][axis]
    idx = rng.integers(-size, size, size=(N, 2, 3)).astype(np.float32)
    layer = new_layer("g", ["data", "idx"], ["y"])
    layer.gather.axis = axis
    expected = per_example(lambda d, i: np.take(d, i.astype(int), axis=axis), data, idx)
    np.testing.assert_array_equal(run([layer], {"data": data, "idx": idx})[0], expected.astype(np.float32))


def test_gather_from_a_constant_table(rng):
    table = rng.normal(size=(6, 4)).astype(np.float32)
    const = new_layer("table", [], ["t"])
    const.loadConstantND.shape.extend([6, 4])
    set_weights(const.loadConstantND.data, table)
    layer = new_layer("g", ["t", "idx"], ["y"])
    layer.gather.SetInParent()
    idx = rng.integers(0, 6, size=(N, 3)).astype(np.float32)
    got = run([const, layer], {"idx": idx})[0]
    np.testing.assert_array_equal(got, table[idx.astype(int)])


# ---------------------------------------------------------------- classic layers on rank-N blobs


@pytest.mark.parametrize("shape", [(7,), (2, 7), (2, 3, 7), (1, 7, 1, 1), (2, 1, 7, 1, 1)])
def test_inner_product_on_any_rank(rng, shape):
    w = rng.normal(size=(3, 7)).astype(np.float32)   # [C_out, C_in]
    layer = new_layer("ip", ["x"], ["y"])
    p = layer.innerProduct
    p.inputChannels, p.outputChannels = 7, 3
    set_weights(p.weights, w)
    x = rng.normal(size=(N, *shape))

    def ref(e):   # proto: ranks 1-3 on the last axis; rank 4/5 flatten [C, H, W] -> [..., C_out, 1, 1]
        if e.ndim <= 3:
            return e @ w.T
        lead = e.shape[:-3]
        return (e.reshape(*lead, -1) @ w.T).reshape(*lead, 3, 1, 1)
    np.testing.assert_allclose(run([layer], {"x": x})[0], per_example(ref, x), rtol=1e-5, atol=1e-5)


def test_inner_product_of_the_wrong_width_is_refused_with_the_layer(rng):
    from ground.errors import UnsupportedConfigError

    layer = new_layer("ip", ["x"], ["y"])
    layer.innerProduct.inputChannels, layer.innerProduct.outputChannels = 7, 3
    set_weights(layer.innerProduct.weights, np.zeros((3, 7)))
    with pytest.raises(UnsupportedConfigError, match=r"layer 'ip': innerProduct expects 7 input values"):
        run([layer], {"x": rng.normal(size=(N, 2, 5))})


@pytest.mark.parametrize("kind", ["ReLU", "sigmoid", "tanh"])
def test_activation_on_rank_2(rng, kind):
    x = rng.normal(size=(N, 3, 4))
    layer = new_layer("a", ["x"], ["y"])
    getattr(layer.activation, kind).SetInParent()
    ref = {"ReLU": lambda e: np.maximum(e, 0), "sigmoid": lambda e: 1 / (1 + np.exp(-e)), "tanh": np.tanh}[kind]
    np.testing.assert_allclose(run([layer], {"x": x})[0], ref(x), rtol=1e-5, atol=1e-6)


def test_convolution_on_a_rank_4_blob_treats_leading_axes_as_batch(rng):
    from tests.emulator import reference as Ref

    w = rng.normal(size=(4, 2, 3, 3)).astype(np.float32)
    layer = new_layer("conv", ["x"], ["y"])
    p = layer.convolution
    p.outputChannels, p.kernelChannels = 4, 2
    p.kernelSize.extend([3, 3])
    p.valid.SetInParent()
    set_weights(p.weights, w)
    x = rng.normal(size=(N, 1, 2, 6, 6))
    expected = Ref.conv2d(x[:, 0], w, np.zeros(4))[:, None]
    np.testing.assert_allclose(run([layer], {"x": x})[0], expected, rtol=1e-4, atol=1e-4)


PERMUTES = list(itertools.permutations(range(4)))


@pytest.mark.parametrize("axis", PERMUTES[::3] + [(2, 1, 0, 3)])
def test_permute_any_order_in_a_rank_5_network(rng, axis):
    """permute over [Seq, B, C, H, W] (rank-5 mapping): axis permutes (Seq, C, H, W), B stays."""
    x = rng.normal(size=(N, 2, 3, 4))   # [C, H, W] -> blob [1, 1, C, H, W]
    rs = new_layer("rs", ["x"], ["s"])
    rs.reshape.targetShape.extend([2, 3, 1, 4])  # Seq 2: blob [2, 1, 3, 1, 4]
    perm = new_layer("perm", ["s"], ["y"])
    perm.permute.axis.extend(axis)
    got = run([rs, perm], {"x": x}, exact=False)[0]

    def ref(e):
        blob = e.reshape(2, 1, 3, 1, 4)                     # CHANNEL_FIRST reshape: same order
        four = blob[:, 0]                                   # (Seq, C, H, W)
        return np.transpose(four, axis)[:, None]
    expected = per_example(ref, x)
    np.testing.assert_array_equal(got.reshape(expected.shape), expected.astype(np.float32))


def test_embedding_then_a_permute_of_the_sequence_axis_as_swiftcoremltools_writes_them(rng):
    """Rank-5 mapping: an index [1] -> embedding [C, 1, 1] -> permute [2, 1, 0, 3] (Seq <-> H) -> innerProduct."""
    table = rng.normal(size=(4, 6)).astype(np.float32)      # [outputChannels, inputDim]
    emb = new_layer("emb", ["x"], ["e"])
    emb.embedding.inputDim, emb.embedding.outputChannels = 6, 4
    set_weights(emb.embedding.weights, table)
    perm = new_layer("perm", ["e"], ["p"])
    perm.permute.axis.extend([2, 1, 0, 3])
    w = rng.normal(size=(3, 4)).astype(np.float32)
    ip = new_layer("ip", ["p"], ["y"])
    ip.innerProduct.inputChannels, ip.innerProduct.outputChannels = 4, 3
    set_weights(ip.innerProduct.weights, w)
    idx = rng.integers(0, 6, size=(N, 1)).astype(np.float32)
    got = run([emb, perm, ip], {"x": idx}, exact=False)[0]
    expected = table[:, idx[:, 0].astype(int)].T @ w.T       # the [C, 1, 1] column, Seq and H both 1
    np.testing.assert_allclose(got.reshape(N, 3), expected, rtol=1e-5, atol=1e-5)
