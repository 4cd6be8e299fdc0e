"""Small Core ML specs for the transforms (and CLI) tests, built with coremltools' NeuralNetworkBuilder."""
from __future__ import annotations

import functools

import numpy as np

from ground.protos import coremltools as ct  # noqa: F401  (quiet import first)
from coremltools.models import datatypes
from coremltools.models.neural_network import AdamParams, NeuralNetworkBuilder

from transforms.options import SourceFacts, UpdateOptions
from transforms.report import ConversionReport


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0, 0.1, shape).astype(np.float32)


def lenet_builder(seed: int = 0, softmax: bool = True) -> NeuralNetworkBuilder:
    """The seeds' LeNet: conv 32 3x3, relu, maxpool2, conv 32 2x2, relu, maxpool2, flatten, dense 500 relu, dense 10."""
    rng = np.random.default_rng(seed)
    out = "probs" if softmax else "logits"
    b = NeuralNetworkBuilder([("image", datatypes.Array(1, 28, 28))], [(out, datatypes.Array(10))])
    b.add_convolution("conv1", 1, 32, 3, 3, 1, 1, "valid", 1, _w(rng, 3, 3, 1, 32), np.zeros(32, np.float32), True,
                      input_name="image", output_name="c1")
    b.add_activation("relu1", "RELU", "c1", "r1")
    b.add_pooling("pool1", 2, 2, 2, 2, "MAX", "VALID", "r1", "p1")
    b.add_convolution("conv2", 32, 32, 2, 2, 1, 1, "valid", 1, _w(rng, 2, 2, 32, 32), np.zeros(32, np.float32), True,
                      input_name="p1", output_name="c2")
    b.add_activation("relu2", "RELU", "c2", "r2")
    b.add_pooling("pool2", 2, 2, 2, 2, "MAX", "VALID", "r2", "p2")
    b.add_flatten("flat", 0, "p2", "f")
    b.add_inner_product("dense1", _w(rng, 500, 1152), np.zeros(500, np.float32), 1152, 500, True, "f", "d1")
    b.add_activation("relu3", "RELU", "d1", "r3")
    b.add_inner_product("dense2", _w(rng, 10, 500), np.zeros(10, np.float32), 500, 10, True, "r3", "logits")
    if softmax:
        b.add_softmax("sm", "logits", "probs")
    return b


@functools.lru_cache(maxsize=2)
def _lenet_bytes(softmax: bool) -> bytes:
    return lenet_builder(softmax=softmax).spec.SerializeToString()


def lenet_spec(softmax: bool = True):
    """A fresh copy of the LeNet inference spec (built once per session)."""
    from ground.protos import Model_pb2

    spec = Model_pb2.Model()
    spec.ParseFromString(_lenet_bytes(softmax))
    return spec


LENET_SHAPES = {"image": (1, 28, 28), "c1": (32, 26, 26), "r1": (32, 26, 26), "p1": (32, 13, 13),
                "c2": (32, 12, 12), "r2": (32, 12, 12), "p2": (32, 6, 6), "f": (1152,), "d1": (500,),
                "r3": (500,), "logits": (10,), "probs": (10,)}


def lenet_facts(**kw) -> SourceFacts:
    facts = SourceFacts(trainable_layers={"conv1", "conv2", "dense1", "dense2"}, blob_shapes=dict(LENET_SHAPES),
                        updatable_candidates_order=["conv1", "conv2", "dense1", "dense2"])
    for k, v in kw.items():
        setattr(facts, k, v)
    return facts


def mlp_builder(*, softmax: bool = True, hidden_act: str = "RELU", seed: int = 0,
                mode: str | None = None) -> NeuralNetworkBuilder:
    """A tiny MLP: x[4] -> dense h 8 -> activation -> dense out 3 (-> softmax)."""
    rng = np.random.default_rng(seed)
    out = "probs" if softmax else "y"
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [(out, datatypes.Array(3))], mode=mode)
    b.add_inner_product("h", _w(rng, 8, 4), np.zeros(8, np.float32), 4, 8, True, "x", "h_out")
    b.add_activation("act", hidden_act, "h_out", "a_out", params=[0.1] if hidden_act == "LEAKYRELU" else None)
    b.add_inner_product("out", _w(rng, 3, 8), np.zeros(3, np.float32), 8, 3, True, "a_out", "y")
    if softmax:
        b.add_softmax("sm", "y", "probs")
    return b


def updatable_mlp():
    """A valid updatable MLP spec (CCE on softmax, Adam), built the coremltools way."""
    b = mlp_builder()
    b.make_updatable(["h", "out"])
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    b.set_adam_optimizer(AdamParams(lr=0.01, batch=8, beta1=0.9, beta2=0.999, eps=1e-7))
    b.set_epochs(2)
    return b.spec


def run_pass(module, spec, options: UpdateOptions | None = None, facts: SourceFacts | None = None):
    """Run one pass on a copy of ``spec``; return (new spec, report, context)."""
    from ground.protos import Model_pb2
    from transforms.pipeline import PassContext

    work = Model_pb2.Model()
    work.CopyFrom(spec)
    facts = facts or SourceFacts()
    ctx = PassContext(options or UpdateOptions(), facts, ConversionReport(), dict(facts.blob_shapes))
    module.run(work, ctx)
    return work, ctx.report, ctx


def make(spec, *, facts: SourceFacts | None = None, **options):
    """make_updatable with the given options; return (spec, report)."""
    from transforms.pipeline import make_updatable

    report = ConversionReport()
    return make_updatable(spec, facts or SourceFacts(), UpdateOptions(**options), report), report
