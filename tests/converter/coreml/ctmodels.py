"""NeuralNetwork models written by ``coremltools.convert`` inside the tests (from TensorFlow and PyTorch)."""
from __future__ import annotations

import importlib.util

import numpy as np

from coreml_updatable._coremltools import coremltools as ct


def _from_tf(model, shape: tuple[int, ...]):
    import tensorflow as tf

    fn = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec(shape, tf.float32)])
    return ct.convert([fn.get_concrete_function()], source="tensorflow", convert_to="neuralnetwork")


def keras_mlp(seed: int = 0):
    """(Keras model, MLModel): Dense(64, relu, no bias) -> batchedMatmul; Dense(10, softmax) -> softmaxND."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu", use_bias=False),
                              keras.layers.Dense(10, activation="softmax")])
    rng = np.random.default_rng(seed)
    model.layers[1].set_weights([w + rng.normal(0, 0.1, w.shape).astype("float32")
                                 for w in model.layers[1].get_weights()])
    return model, _from_tf(model, (1, 784))


def keras_lenet(seed: int = 0):
    """(Keras model, MLModel) of the seeds' LeNet (585,958 parameters), through a tf.function."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 2, activation="relu"), keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
        keras.layers.Dense(500, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    rng = np.random.default_rng(seed)
    for layer in model.layers:   # non-zero biases, so that ct.convert writes them
        if layer.get_weights():
            w, b = layer.get_weights()
            layer.set_weights([w, rng.normal(0, 0.01, b.shape).astype("float32")])
    return model, _from_tf(model, (1, 28, 28, 1))


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def torch_cnn(seed: int = 0):
    """(torch module, MLModel): conv, BatchNorm (fused by ct), pooling, flatten, Linear, softmax(dim=1)."""
    import torch

    torch.manual_seed(seed)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 8, 3)
            self.c2 = torch.nn.Conv2d(8, 16, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(16)
            self.fc1 = torch.nn.Linear(16 * 6 * 6, 32)
            self.fc2 = torch.nn.Linear(32, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.bn(self.c2(x))), 2)
            return torch.softmax(self.fc2(torch.relu(self.fc1(torch.flatten(x, 1)))), dim=1)

    net = Net().eval()
    traced = torch.jit.trace(net, torch.rand(1, 1, 28, 28))
    return net, ct.convert(traced, inputs=[ct.TensorType(name="image", shape=(1, 1, 28, 28))],
                           convert_to="neuralnetwork")


def keras_gap_cnn(seed: int = 0):
    """(Keras model, MLModel): Conv2D(relu6), BatchNormalization, GlobalAveragePooling2D, Dense(4, softmax) -
    ct.convert writes the ReLU6 as ReLU / linear / unary threshold, the BatchNormalization (which it cannot
    fold into the convolution past the ReLU6) as multiply/add of constants after a transpose back to NHWC,
    and the pooling as reduceMean over [1, 2]."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((12, 12, 2)), keras.layers.Conv2D(6, 3, padding="same", activation="relu6"),
                              keras.layers.BatchNormalization(), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(4, activation="softmax")])
    rng = np.random.default_rng(seed)
    bn = model.layers[1]
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.5, beta.shape),
                    rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    return model, _from_tf(model, (1, 12, 12, 2))


def keras_row_dense(seed: int = 0):
    """(Keras model, MLModel): a Dense applied to each row of a Reshape((4, 5)) - a rank-3 product with no
    rank-5 form, so the network stays N-dimensional."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(20, activation="relu"),
                              keras.layers.Reshape((4, 5)), keras.layers.Dense(3), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    return model, _from_tf(model, (1, 20))
