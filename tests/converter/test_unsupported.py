"""Unsupported layers are listed together; unsupported settings name the layer, option and fix."""
from __future__ import annotations

import numpy as np
import pytest

from converter.convert import to_inference_spec
from ground.errors import UnsupportedConfigError, UnsupportedLayerError


def _model(shape, body):
    import keras
    inp = keras.Input(shape, name="x")
    return keras.Model(inp, body(inp))


def test_all_unsupported_layers_listed_once():
    from keras import layers
    model = _model((6,), lambda x: layers.UnitNormalization(name="unit")(
        layers.LayerNormalization(name="ln")(layers.Dense(4, name="ok")(x))))
    with pytest.raises(UnsupportedLayerError) as info:
        to_inference_spec(model)
    text = str(info.value)
    assert "2 unsupported layer(s)" in text
    assert "'ln' (LayerNormalization)" in text and "'unit' (UnitNormalization)" in text
    assert "Supported: Activation, ActivityRegularization, Add" in text and "Fix:" in text
    assert [it.name for it in info.value.items] == ["ln", "unit"]


def _concat_axis1(x):
    from keras import layers
    return layers.Concatenate(axis=1, name="cat")([x, x])


def double_it(x):
    return x * 2.0


CONFIG_CASES = {
    "concat_axis": ((5, 7, 3), _concat_axis1, "'cat'.*option 'axis'.*Fix: concatenate along the last"),
    "relu_slope_threshold": ((4,), lambda x: __import__("keras").layers.ReLU(negative_slope=0.1, threshold=0.5,
                                                                             name="r")(x),
                             "'r' \\(ReLU\\).*negative_slope/threshold.*Fix: use threshold=0"),
    "batchnorm_axis": ((5, 7, 3), lambda x: __import__("keras").layers.BatchNormalization(axis=1, name="bn")(x),
                       "'bn'.*option 'axis'.*not the channels"),
    "softmax_axis": ((5, 7, 3), lambda x: __import__("keras").layers.Softmax(axis=1, name="sm")(x),
                     "'sm'.*option 'axis'.*Core ML's softmax works over C"),
    "custom_activation": ((4,), lambda x: __import__("keras").layers.Dense(2, activation=double_it, name="d")(x),
                          "'d'.*option 'activation'.*no Core ML mapping"),
    "transpose_output_padding": ((5, 7, 3), lambda x: __import__("keras").layers.Conv2DTranspose(
        2, 3, strides=2, output_padding=1, name="up")(x), "'up'.*output_padding"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_unsupported_config(case):
    shape, body, pattern = CONFIG_CASES[case]
    model = _model(shape, body)
    with pytest.raises(UnsupportedConfigError, match=pattern):
        to_inference_spec(model)


def test_embedding_of_a_rank2_index_input_is_refused():
    import keras
    inp = keras.Input((3, 2), dtype="int32", name="tokens")
    model = keras.Model(inp, keras.layers.Embedding(5, 2, name="emb")(inp))
    with pytest.raises(UnsupportedConfigError, match="'emb'.*input shape.*one index or a sequence of indices"):
        to_inference_spec(model)


def test_prelu_varying_over_positions_is_refused():
    import keras
    inp = keras.Input((5, 7, 3))
    layer = keras.layers.PReLU(name="p")
    model = keras.Model(inp, layer(inp))
    layer.set_weights([np.random.RandomState(0).normal(size=(5, 7, 3)).astype(np.float32)])
    with pytest.raises(UnsupportedConfigError, match="'p'.*shared_axes"):
        to_inference_spec(model)


def test_mismatched_merge_shapes_are_refused():
    import keras
    a = keras.Input((4,), name="a")
    b = keras.Input((1,), name="b")
    model = keras.Model([a, b], keras.layers.Add(name="plus")([a, b]))
    with pytest.raises(UnsupportedConfigError, match="'plus'.*broadcasting is not mapped"):
        to_inference_spec(model)
