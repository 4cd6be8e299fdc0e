"""Personalization: a frozen feature extractor (with batch normalization and dropout) and a trainable
head. Parity must show the frozen part untouched on both sides and the head in step with Keras."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from parity import verify, verify_pair

from .nets import lenet_pair


def _small_personalization(path: Path) -> Path:
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    features = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(4, 3, strides=2, name="conv1"),
        layers.BatchNormalization(name="bn1"),
        layers.Activation("relu", name="relu1"),
        layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2"),
    ], name="features")
    features.trainable = False
    inp = keras.Input((28, 28, 1), name="image")
    x = layers.Flatten(name="flatten")(features(inp))
    x = layers.Dense(16, activation="relu", name="head1")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    out = layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name="small_personalization")
    bn = features.get_layer("bn1")  # non-trivial moving statistics, so inference mode matters
    bn.set_weights([np.full(4, 1.5, np.float32), np.full(4, 0.1, np.float32),
                    np.linspace(-0.2, 0.2, 4).astype(np.float32), np.linspace(0.5, 2.0, 4).astype(np.float32)])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.save(path)
    return path


def test_converted_personalization_model(tmp_path: Path, small) -> None:
    report = verify(_small_personalization(tmp_path / "p.keras"), small, epochs=2)
    assert report.passed, report.table()
    by_name = {lf.keras: lf for lf in report.layers}
    for frozen in ("conv1", "conv2"):
        lf = by_name[frozen]
        assert not lf.updatable_coreml and not lf.trainable_keras
        assert not lf.changed_coreml and not lf.changed_keras and lf.final_rel == 0.0
    for head in ("head1", "probs"):
        lf = by_name[head]
        assert lf.updatable_coreml and lf.trainable_keras and lf.changed_coreml and lf.changed_keras
        assert lf.final_rel < 1e-4  # only the head trains: no chaos upstream, the sides stay in step
    assert report.check("frozen weights (Keras)").value == 0  # batch norm statistics included
    assert report.check("frozen weights (Core ML)").value == 0
    notes = " ".join(report.notes)
    assert "BatchNormalization 'bn1': Core ML keeps it in inference mode" in notes
    assert "Dropout 'dropout'" in notes and "Core ML has no dropout" in notes
    assert report.settings["optimizer"] == "sgd" and report.settings["momentum"] == 0.9


def test_frozen_extractor_builder_pair(small) -> None:
    keras_model, spec = lenet_pair(updatable=("dense1", "dense2"))
    report = verify_pair(keras_model, spec, small, epochs=1)
    assert report.passed, report.table()
    assert [lf.changed_coreml for lf in report.layers] == [False, False, True, True]
    assert report.check("lockstep weights").value < 1e-3
