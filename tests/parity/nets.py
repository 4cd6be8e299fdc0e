"""Keras twins of the fixtures' builder models: the same layers, names and initial weights."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tests.shared_data import MNIST  # noqa: F401  (re-exported for the parity tests)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def keras_lenet(weights: dict | None = None, *, seed: int = 0, learning_rate: float = 1e-3,
                dropout: float = 0.0, frozen: tuple[str, ...] = ()):
    """The seeds' LeNet in Keras (conv1, conv2, dense1, dense2), compiled with Adam (eps 1e-7)."""
    import keras
    from keras import layers

    from fixtures.coreml_lenet import he_weights

    w = weights or he_weights(seed)
    stack = [keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu", name="conv1"),
             layers.MaxPooling2D(2), layers.Conv2D(32, 2, activation="relu", name="conv2"),
             layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(500, activation="relu", name="dense1")]
    if dropout:
        stack.append(layers.Dropout(dropout, name="dropout"))
    stack.append(layers.Dense(10, activation="softmax", name="dense2"))
    model = keras.Sequential(stack, name="lenet")
    for name in ("conv1", "conv2", "dense1", "dense2"):
        model.get_layer(name).set_weights([np.asarray(a) for a in w[name]])
        model.get_layer(name).trainable = name not in frozen
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-7),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def lenet_pair(seed: int = 0, **spec_kwargs):
    """(Keras LeNet, builder spec) with identical initial weights."""
    from fixtures.coreml_lenet import build_spec, he_weights

    w = he_weights(seed)
    frozen = tuple(n for n in ("conv1", "conv2", "dense1", "dense2")
                   if n not in spec_kwargs.get("updatable", ("conv1", "conv2", "dense1", "dense2")))
    return keras_lenet(w, frozen=frozen), build_spec(w, **spec_kwargs)
