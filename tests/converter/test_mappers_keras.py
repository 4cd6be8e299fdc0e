"""Forward parity of every Keras mapper against Keras, through the emulator.

Shapes are chosen so a wrong axis order fails: images (H, W, C) = (5, 7, 3), sequences (T, F) = (6, 4).
"""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import parity, randomize

IMG, SEQ, VEC = (5, 7, 3), (6, 4), (5,)


def _model(shape, body, seed=0, dtype="float32"):
    import keras
    inp = keras.Input(shape, dtype=dtype, name="x")
    out = body(inp)
    return randomize(keras.Model(inp, out), seed)


def _two(layer_cls, **kw):
    """A merge layer over two different branches of the input."""
    def body(x):
        from keras import layers
        a = layers.Conv2D(4, 1, name="a")(x)
        b = layers.Conv2D(4, 3, padding="same", name="b")(x)
        return layer_cls(**kw)([a, b])
    return body


def L(cls_name, *args, **kw):
    def body(x):
        from keras import layers
        return getattr(layers, cls_name)(*args, **kw)(x)
    return body


def chain(*bodies):
    def body(x):
        for b in bodies:
            x = b(x)
        return x
    return body


CASES = {
    # convolutions
    "conv2d_valid": (IMG, L("Conv2D", 4, 3)),
    "conv2d_same_stride_relu": (IMG, L("Conv2D", 4, 3, strides=2, padding="same", activation="relu")),
    "conv2d_dilation_rect": (IMG, L("Conv2D", 4, (2, 3), dilation_rate=2, activation="tanh")),
    "conv2d_groups": (IMG, chain(L("Conv2D", 6, 1), L("Conv2D", 4, 3, groups=2, padding="same"))),
    "conv2d_softmax": (IMG, L("Conv2D", 4, 3, activation="softmax")),
    "depthwise_mult2_same": (IMG, L("DepthwiseConv2D", 3, depth_multiplier=2, padding="same")),
    "depthwise_stride": (IMG, L("DepthwiseConv2D", (3, 2), strides=2, activation="relu")),
    "separable_same_relu": (IMG, L("SeparableConv2D", 5, 3, padding="same", activation="relu", depth_multiplier=2)),
    "conv2d_transpose_valid": (IMG, L("Conv2DTranspose", 4, 3, strides=2)),
    "conv2d_transpose_same": (IMG, L("Conv2DTranspose", 4, (3, 2), strides=(2, 1), padding="same")),
    "conv1d_valid": (SEQ, L("Conv1D", 3, 2)),
    "conv1d_same_stride": (SEQ, L("Conv1D", 3, 3, strides=2, padding="same", activation="sigmoid")),
    "conv1d_causal_dilated": (SEQ, L("Conv1D", 3, 2, padding="causal", dilation_rate=2)),
    "depthwise1d": (SEQ, L("DepthwiseConv1D", 3, depth_multiplier=2)),
    "separable1d": (SEQ, L("SeparableConv1D", 5, 3, padding="same")),
    # pooling
    "maxpool2d": (IMG, L("MaxPooling2D", 2)),
    "maxpool2d_same": (IMG, L("MaxPooling2D", 2, padding="same")),
    "avgpool2d_rect_stride1": (IMG, L("AveragePooling2D", (2, 3), strides=1)),
    "avgpool2d_same": (IMG, L("AveragePooling2D", 3, strides=2, padding="same")),
    "maxpool1d": (SEQ, L("MaxPooling1D", 2)),
    "avgpool1d_same": (SEQ, L("AveragePooling1D", 4, strides=3, padding="same")),
    "gap2d": (IMG, L("GlobalAveragePooling2D")),
    "gmp2d": (IMG, L("GlobalMaxPooling2D")),
    "gap2d_keepdims": (IMG, L("GlobalAveragePooling2D", keepdims=True)),
    "gap1d": (SEQ, L("GlobalAveragePooling1D")),
    "gmp1d": (SEQ, L("GlobalMaxPooling1D")),
    # core
    "flatten_dense": (IMG, chain(L("Flatten"), L("Dense", 6, activation="relu"))),
    "flatten_seq_dense": (SEQ, chain(L("Flatten"), L("Dense", 6))),
    "dense_vec_softmax": (VEC, L("Dense", 4, activation="softmax")),
    "dense_no_bias": (VEC, L("Dense", 4, use_bias=False)),
    "dense_on_image": (IMG, L("Dense", 4, activation="relu")),
    "dense_on_seq": (SEQ, L("Dense", 5)),
    "reshape_img": (IMG, L("Reshape", (7, 5, 3))),
    "reshape_vec": (IMG, L("Reshape", (105,))),
    "reshape_seq": (IMG, L("Reshape", (35, 3))),
    "reshape_vec_to_img": (VEC, chain(L("Dense", 12), L("Reshape", (2, 3, 2)))),
    "permute_hw": (IMG, L("Permute", (2, 1, 3))),
    "permute_chw": (IMG, L("Permute", (3, 1, 2))),
    "permute_seq": (SEQ, L("Permute", (2, 1))),
    "batchnorm_img": (IMG, L("BatchNormalization", epsilon=0.01)),
    "batchnorm_vec_no_scale": (VEC, L("BatchNormalization", scale=False)),
    "batchnorm_seq": (SEQ, L("BatchNormalization")),
    "rescaling": (IMG, L("Rescaling", 1 / 255.0, offset=-0.5)),
    "dropout": (IMG, L("Dropout", 0.5)),
    "spatial_dropout2d": (IMG, L("SpatialDropout2D", 0.5)),
    "spatial_dropout1d": (SEQ, L("SpatialDropout1D", 0.5)),
    "gaussian_noise": (VEC, L("GaussianNoise", 0.5)),
    "gaussian_dropout": (VEC, L("GaussianDropout", 0.5)),
    "alpha_dropout": (VEC, L("AlphaDropout", 0.5)),
    "identity": (IMG, chain(L("Conv2D", 4, 1), L("Identity"))),
    "activity_regularization": (VEC, chain(L("Dense", 3), L("ActivityRegularization", l1=0.01))),
    # activation layers
    "relu6": (IMG, L("ReLU", max_value=6.0)),
    "relu_slope": (IMG, L("ReLU", negative_slope=0.1)),
    "relu_threshold": (IMG, L("ReLU", threshold=0.5)),
    "relu_slope_max": (IMG, L("ReLU", max_value=0.8, negative_slope=0.1)),
    "relu_threshold_max": (IMG, L("ReLU", threshold=0.2, max_value=1.0)),
    "leaky_relu": (IMG, L("LeakyReLU", negative_slope=0.2)),
    "prelu_shared": (IMG, L("PReLU", shared_axes=[1, 2])),
    "prelu_vec": (VEC, L("PReLU")),
    "elu_layer": (IMG, L("ELU", alpha=0.7)),
    "softmax_layer": (IMG, L("Softmax")),
    # spatial
    "zero_padding2d": (IMG, L("ZeroPadding2D", ((1, 2), (0, 1)))),
    "cropping2d": (IMG, L("Cropping2D", ((1, 0), (2, 1)))),
    "upsampling2d": (IMG, L("UpSampling2D", (2, 3))),
    "upsampling2d_bilinear": (IMG, L("UpSampling2D", 2, interpolation="bilinear")),
    "zero_padding1d": (SEQ, L("ZeroPadding1D", (1, 2))),
    "cropping1d": (SEQ, L("Cropping1D", (1, 2))),
    "upsampling1d": (SEQ, L("UpSampling1D", 2)),
}

ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "softplus", "softsign",
               "hard_sigmoid", "swish", "silu", "hard_silu", "mish", "leaky_relu", "gelu", "exponential",
               "log_softmax")
for _act in ACTIVATIONS:
    CASES[f"activation_{_act}"] = (IMG, L("Activation", _act))

for _name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
    def _merge(x, _name=_name):
        from keras import layers
        return _two(getattr(layers, _name))(x)
    CASES[f"merge_{_name.lower()}"] = (IMG, _merge)


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_parity(case):
    shape, body = CASES[case]
    model = _model(shape, body, seed=len(case))
    x = np.random.RandomState(1).normal(0, 1, (3, *shape)).astype(np.float32)
    parity(model, x)


def test_embedding_parity():
    import keras
    from keras import layers
    inp = keras.Input((1,), dtype="int32", name="token")
    out = layers.Flatten()(layers.Embedding(9, 4, name="emb")(inp))
    model = keras.Model(inp, out)
    x = np.array([[0], [3], [8]], dtype=np.int32)
    import emulator
    from converter.convert import to_inference_spec
    spec, _, _ = to_inference_spec(model)
    got = emulator.load(spec).predict(x.astype(np.float32))[spec.description.output[0].name]
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-6)


def test_normalization_parity():
    import keras
    from keras import layers
    rng = np.random.RandomState(0)
    norm = layers.Normalization(axis=-1)
    norm.adapt(rng.normal(2, 3, (50, *IMG)).astype(np.float32))
    inp = keras.Input(IMG)
    model = keras.Model(inp, norm(inp))
    parity(model, rng.normal(0, 1, (3, *IMG)).astype(np.float32))


def test_shared_layer_is_mapped_per_call():
    import keras
    from keras import layers
    inp = keras.Input(VEC)
    shared = layers.Dense(4, name="shared")
    out = layers.Add()([shared(inp), shared(layers.Dense(5)(inp))])
    model = randomize(keras.Model(inp, out))
    spec, facts = parity(model, np.random.RandomState(0).normal(size=(3, *VEC)).astype(np.float32))
    names = [layer.name for layer in spec.neuralNetwork.layers]
    assert "shared" in names and "shared__call1" in names


def test_dense_with_softmax_is_split():
    model = _model(VEC, L("Dense", 3, activation="softmax", name="head"))
    spec, facts = parity(model, np.ones((2, 5), np.float32))
    kinds = [(layer.name, layer.WhichOneof("layer")) for layer in spec.neuralNetwork.layers]
    assert kinds == [("head", "innerProduct"), ("head__softmax", "softmax")]
    assert facts.trainable_layers == {"head"}  # the source layer was trainable
