"""Tiny Core ML specs for the runtime's training tests, built with coremltools' NeuralNetworkBuilder."""
from __future__ import annotations

import numpy as np

from ground.protos import coremltools  # noqa: F401  (quiet import first)
from coremltools.models import datatypes
from coremltools.models.neural_network import AdamParams, NeuralNetworkBuilder, SgdParams


def _optimizer(b, optimizer: str, lr: float, batch: int, momentum: float = 0.0,
               beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7, epochs: int = 1,
               lr_range=(0.0, 1.0), batches=None, seed: int | None = None) -> None:
    batches = sorted(set(batches or [1, 2, 3, 4, 6, 8, 16]) | {batch})
    if optimizer == "sgd":
        p = SgdParams(lr=lr, batch=batch, momentum=momentum)
        p.set_momentum(momentum, 0.0, 0.99)
    else:
        p = AdamParams(lr=lr, batch=batch, beta1=beta1, beta2=beta2, eps=eps)
    p.set_lr(lr, *lr_range)
    p.set_batch(batch, batches)
    (b.set_sgd_optimizer if optimizer == "sgd" else b.set_adam_optimizer)(p)
    b.set_epochs(epochs, allowed_set=list(range(1, 11)))
    b.spec.neuralNetwork.updateParams.shuffle.defaultValue = False   # the builder turns it on


def dense_softmax(w: np.ndarray, bias: np.ndarray, *, optimizer="sgd", lr=0.1, batch=4, shuffle=False, **kw):
    """input x [D] -> innerProduct (weights w: (K, D)) -> softmax -> CE loss on target 'label'."""
    k, d = w.shape
    b = NeuralNetworkBuilder([("x", datatypes.Array(d))], [("probs", datatypes.Array(k))])
    b.add_inner_product("fc", w, bias, d, k, True, "x", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    b.make_updatable(["fc"])
    _optimizer(b, optimizer, lr, batch, **kw)
    if shuffle:
        b.set_shuffle(seed=kw.get("seed", 3))
    spec = b.spec
    spec.neuralNetwork.updateParams.shuffle.defaultValue = shuffle
    spec.description.trainingInput[1].name = "label"
    spec.neuralNetwork.updateParams.lossLayers[0].categoricalCrossEntropyLossLayer.target = "label"
    return spec


def dense_mse(w: np.ndarray, bias: np.ndarray, *, optimizer="sgd", lr=0.1, batch=4, **kw):
    """input x [D] -> innerProduct -> output y [K], MSE loss on target 'y_true'."""
    k, d = w.shape
    b = NeuralNetworkBuilder([("x", datatypes.Array(d))], [("y", datatypes.Array(k))])
    b.add_inner_product("fc", w, bias, d, k, True, "x", "y")
    b.set_mean_squared_error_loss(name="loss", input_feature=("y", datatypes.Array(k)))
    b.make_updatable(["fc"])
    _optimizer(b, optimizer, lr, batch, **kw)
    return b.spec


def small_cnn(seed: int = 0, *, updatable=("conv", "fc"), optimizer="sgd", lr=1.0, batch=4, classes=3):
    """x [1, 6, 5] -> conv 2x3x3 (same) -> ReLU -> max-pool 2 (valid) -> flatten -> innerProduct -> softmax."""
    rng = np.random.default_rng(seed)
    b = NeuralNetworkBuilder([("x", datatypes.Array(1, 6, 5))], [("probs", datatypes.Array(classes))])
    b.add_convolution("conv", 1, 2, 3, 3, 1, 1, "same", 1, rng.normal(0, 0.5, (3, 3, 1, 2)).astype(np.float32),
                      rng.normal(0, 0.1, 2).astype(np.float32), True, input_name="x", output_name="c")
    b.add_activation("relu", "RELU", "c", "r")
    b.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "r", "p")    # -> [2, 3, 2]
    b.add_flatten("flatten", 0, "p", "f")                         # -> [12]
    b.add_inner_product("fc", rng.normal(0, 0.5, (classes, 12)).astype(np.float32),
                        rng.normal(0, 0.1, classes).astype(np.float32), 12, classes, True, "f", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    b.make_updatable(list(updatable))
    _optimizer(b, optimizer, lr, batch, lr_range=(0.0, 10.0))
    spec = b.spec
    spec.description.trainingInput[1].name = "label"
    spec.neuralNetwork.updateParams.lossLayers[0].categoricalCrossEntropyLossLayer.target = "label"
    return spec


def weights_of(spec, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(weights, bias) of a layer as stored in the spec (Core ML layout, flat)."""
    for layer in spec.neuralNetwork.layers:
        if layer.name == name:
            p = getattr(layer, layer.WhichOneof("layer"))
            return np.asarray(p.weights.floatValue, np.float32), np.asarray(p.bias.floatValue, np.float32)
    raise KeyError(name)
