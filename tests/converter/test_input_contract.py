"""The input contract: every Keras input rank becomes a Core ML input that Apple's validator accepts,
declared in the source's own element order, predicting what Keras predicts and training one epoch."""
from __future__ import annotations

import numpy as np
import pytest

RANK5, EXACT = 0, 1


def _mlp_vector(k):
    x = k.Input((13,), name="x")
    h = k.layers.Dense(16, activation="relu")(x)
    return k.Model(x, k.layers.Dense(3, activation="softmax")(h))


def _mlp_hw(k):                      # an (H, W) input without a channel axis, flattened
    x = k.Input((28, 28), name="x")
    h = k.layers.Dense(8, activation="tanh")(k.layers.Flatten()(x))
    return k.Model(x, k.layers.Dense(10, activation="softmax")(h))


def _conv1d(k):                      # a (T, F) sequence through Conv1D and pooling over time
    x = k.Input((40, 6), name="x")
    h = k.layers.Conv1D(8, 3, activation="relu")(x)
    h = k.layers.MaxPooling1D(2)(h)
    h = k.layers.GlobalAveragePooling1D()(h)
    return k.Model(x, k.layers.Dense(4, activation="softmax")(h))


def _image(k):
    x = k.Input((12, 12, 1), name="x")
    h = k.layers.Conv2D(4, 3, activation="relu")(x)
    h = k.layers.Flatten()(k.layers.MaxPooling2D(2)(h))
    return k.Model(x, k.layers.Dense(5, activation="softmax")(h))


def _mobile(k):                      # SeparableConv2D, DepthwiseConv2D, ReLU6 (a clip: an iOS 13 layer)
    x = k.Input((16, 16, 3), name="x")
    h = k.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    h = k.layers.ReLU(max_value=6.0)(h)
    h = k.layers.DepthwiseConv2D(3, padding="same")(h)
    h = k.layers.BatchNormalization()(h)
    h = k.layers.ReLU(max_value=6.0)(h)
    h = k.layers.SeparableConv2D(12, 3, padding="same", activation="relu")(h)
    h = k.layers.GlobalAveragePooling2D()(h)
    return k.Model(x, k.layers.Dense(4, activation="softmax")(h))


def _vector_relu6(k):
    x = k.Input((13,), name="x")
    h = k.layers.ReLU(max_value=6.0)(k.layers.Dense(16)(x))
    return k.Model(x, k.layers.Dense(3, activation="softmax")(h))


def _sequence_relu6(k):
    x = k.Input((20, 5), name="x")
    h = k.layers.ReLU(max_value=6.0)(k.layers.Conv1D(6, 3)(x))
    h = k.layers.GlobalMaxPooling1D()(h)
    return k.Model(x, k.layers.Dense(3, activation="softmax")(h))


def _embedding_conv1d(k):           # a sequence of 40 token indices: Embedding (embeddingND), Conv1D, pooling
    x = k.Input((40,), name="x", dtype="int32")
    h = k.layers.Embedding(50, 8)(x)
    h = k.layers.Conv1D(6, 3, activation="relu")(h)
    h = k.layers.AveragePooling1D(2)(h)
    h = k.layers.GlobalMaxPooling1D()(h)
    return k.Model(x, k.layers.Dense(3, activation="softmax")(h))


def _embedding_mean(k):
    x = k.Input((12,), name="x", dtype="int32")
    h = k.layers.GlobalAveragePooling1D()(k.layers.Embedding(20, 5)(x))
    return k.Model(x, k.layers.Dense(2, activation="softmax")(h))


def _sequence_lstm(k):               # a (T, F) sequence through an LSTM's every step, then its last through a GRU
    x = k.Input((15, 4), name="x")
    h = k.layers.LSTM(8, return_sequences=True)(x)
    h = k.layers.GRU(6, reset_after=False)(h)
    return k.Model(x, k.layers.Dense(3, activation="softmax")(h))


def _sequence_gru_dense(k):          # every GRU step through a Dense (a 1x1 convolution over time), pooled
    x = k.Input((15, 4), name="x")
    h = k.layers.GRU(8, return_sequences=True, reset_after=False)(x)
    h = k.layers.Dense(5, activation="relu")(h)
    return k.Model(x, k.layers.Dense(3, activation="softmax")(k.layers.GlobalAveragePooling1D()(h)))


def _embedding_lstm(k):              # token indices: Embedding (embeddingND), LSTM (last step), Dense head
    x = k.Input((20,), name="x", dtype="int32")
    h = k.layers.LSTM(10)(k.layers.Embedding(50, 8)(x))
    return k.Model(x, k.layers.Dense(4, activation="softmax")(h))


def _embedding_gru(k):
    x = k.Input((20,), name="x", dtype="int32")
    h = k.layers.GRU(10, reset_after=False)(k.layers.Embedding(50, 8)(x))
    return k.Model(x, k.layers.Dense(4, activation="softmax")(h))


def _sequence_bilstm_rnn(k):         # Bidirectional(LSTM) over every step, then a SimpleRNN's last step
    x = k.Input((15, 4), name="x")
    h = k.layers.Bidirectional(k.layers.LSTM(5, return_sequences=True))(x)
    h = k.layers.SimpleRNN(6)(h)
    return k.Model(x, k.layers.Dense(3, activation="softmax")(h))


CASES = {  # name: (builder, declared input shape, arrayInputShapeMapping)
    "vector": (_mlp_vector, [13], RANK5),
    "hw-no-channels": (_mlp_hw, [1, 28, 28], RANK5),
    "sequence-conv1d": (_conv1d, [1, 40, 6], RANK5),
    "image": (_image, [1, 12, 12], RANK5),
    "image-mobile-relu6": (_mobile, [1, 3, 16, 16], EXACT),
    "vector-relu6": (_vector_relu6, [1, 13, 1, 1], EXACT),
    "sequence-relu6": (_sequence_relu6, [1, 1, 20, 5], EXACT),
    "embedding-conv1d": (_embedding_conv1d, [1, 40, 1, 1], EXACT),
    "embedding-mean": (_embedding_mean, [1, 12, 1, 1], EXACT),
    "sequence-lstm-gru": (_sequence_lstm, [1, 1, 15, 4], EXACT),
    "sequence-gru-dense": (_sequence_gru_dense, [1, 1, 15, 4], EXACT),
    "sequence-bilstm-simplernn": (_sequence_bilstm_rnn, [1, 1, 15, 4], EXACT),
    "embedding-lstm": (_embedding_lstm, [1, 20, 1, 1], EXACT),
    "embedding-gru": (_embedding_gru, [1, 20, 1, 1], EXACT),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_input_contract(case, keras_mod):
    import emulator
    from converter.convert import convert
    from ground.layout import source_batch_to_input
    from transforms.options import UpdateOptions
    from transforms.validate import violations

    from .conftest import randomize

    build, shape, mapping = CASES[case]
    keras_mod.utils.set_random_seed(0)
    model = randomize(build(keras_mod))
    model.layers[-1].trainable = True
    result = convert(model, options=UpdateOptions(updatable="last:1", batch_size=8, epochs=1))
    spec = result.spec
    nn = spec.neuralNetwork
    assert list(spec.description.input[0].type.multiArrayType.shape) == shape
    assert nn.arrayInputShapeMapping == mapping
    assert violations(spec) == []

    rng = np.random.RandomState(1)
    x = rng.rand(16, *model.input_shape[1:]).astype(np.float32)
    if case.startswith("embedding"):                                # token indices
        x = rng.randint(0, model.layers[1].input_dim, size=x.shape).astype(np.float32)
    cm = emulator.load(spec)
    fed = source_batch_to_input(x, shape)
    if x.ndim < 4:                                                 # not an image: the app's element order
        np.testing.assert_array_equal(fed.reshape(x.shape), x)
    out = spec.description.output[0].name
    got = cm.predict(fed)[out].reshape(len(x), -1)
    diff = float(np.abs(got - model.predict(x, verbose=0)).max())
    assert diff <= 1e-5, diff

    labels = rng.randint(0, model.output_shape[-1], size=16)
    run = cm.update({"x": fed, f"{out}_true": labels}, epochs=1)
    assert len(run.batch_losses[0]) == 2 and np.all(np.isfinite(run.batch_losses[0]))
    before, after = cm.network.params, run.model.network.params
    head = [layer.name for layer in nn.layers if layer.isUpdatable]
    assert any(not np.array_equal(before[h]["weights"], after[h]["weights"]) for h in head)
