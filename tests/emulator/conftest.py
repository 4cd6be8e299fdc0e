"""Shared helpers for the emulator's layer tests: one-layer (or few-layer) specs run through predict."""
from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ground.protos import Model_pb2, NeuralNetwork_pb2  # noqa: E402

FLOAT32 = 65568  # ArrayFeatureType.FLOAT32


def _feature(fd, name: str, shape) -> None:
    fd.name = name
    fd.type.multiArrayType.dataType = FLOAT32
    fd.type.multiArrayType.shape.extend(int(s) for s in shape)


def make_spec(inputs: Mapping[str, tuple[int, ...]], outputs: Mapping[str, tuple[int, ...]],
              layers: list) -> Model_pb2.Model:
    """A NeuralNetwork spec with float32 array inputs/outputs (Core ML shapes, no batch) and ``layers``."""
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    for name, shape in inputs.items():
        _feature(spec.description.input.add(), name, shape)
    for name, shape in outputs.items():
        _feature(spec.description.output.add(), name, shape)
    for layer in layers:
        spec.neuralNetwork.layers.add().CopyFrom(layer)
    return spec


def new_layer(name: str, inputs: list[str], outputs: list[str]) -> NeuralNetwork_pb2.NeuralNetworkLayer:
    layer = NeuralNetwork_pb2.NeuralNetworkLayer(name=name)
    layer.input.extend(inputs)
    layer.output.extend(outputs)
    return layer


def set_weights(wp, values) -> None:
    """Store ``values`` (Core ML layout) into a WeightParams message as float32."""
    wp.floatValue.extend(np.asarray(values, np.float32).ravel().tolist())


def set_border(border, top: int, bottom: int, left: int, right: int) -> None:
    """Fill a BorderAmounts message in proto order [H, W]."""
    h, w = border.borderAmounts.add(), border.borderAmounts.add()
    h.startEdgeSize, h.endEdgeSize = top, bottom
    w.startEdgeSize, w.endEdgeSize = left, right


def run_layers(layers: list, feeds: Mapping[str, np.ndarray], out_shape: tuple[int, ...],
               output: str | None = None) -> np.ndarray:
    """Run ``layers`` on ``feeds`` ((N, C, H, W) arrays) in the emulator; return ``output``, (N, *out_shape)."""
    import emulator

    output = output or layers[-1].output[0]
    spec = make_spec({k: v.shape[1:] for k, v in feeds.items()}, {output: out_shape}, layers)
    return emulator.load(spec).predict(dict(feeds))[output]


def check(layers: list, feeds: Mapping[str, np.ndarray] | np.ndarray, expected: np.ndarray,
          atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Assert the emulator's output of ``layers`` equals ``expected`` (NCHW) in shape and value."""
    if not isinstance(feeds, Mapping):
        feeds = {"x": feeds}
    feeds = {k: np.asarray(v, np.float32) for k, v in feeds.items()}
    got = run_layers(layers, feeds, tuple(expected.shape[1:]))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)


class LayerHarness:
    """The helpers above, handed to tests by the ``nn`` fixture."""

    make_spec = staticmethod(make_spec)
    new_layer = staticmethod(new_layer)
    set_weights = staticmethod(set_weights)
    set_border = staticmethod(set_border)
    run_layers = staticmethod(run_layers)
    check = staticmethod(check)


@pytest.fixture(scope="session")
def nn() -> LayerHarness:
    return LayerHarness()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
