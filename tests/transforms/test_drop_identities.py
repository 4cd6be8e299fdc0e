"""Pass drop_identities."""
from __future__ import annotations

import numpy as np
from tests.transforms.specs import run_pass
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from transforms import drop_identities


def _net(identity_at_output: bool):
    out = "y" if identity_at_output else "z"
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [(out, datatypes.Array(3))])
    w = np.ones((3, 4), np.float32)
    b.add_activation("drop1", "LINEAR", "x", "x_d", params=[1.0, 0.0])
    b.add_inner_product("d", w, np.zeros(3, np.float32), 4, 3, True, "x_d", "d_out")
    b.add_activation("scale", "LINEAR", "d_out", "s_out", params=[2.0, 0.0])   # not an identity
    b.add_activation("drop2", "LINEAR", "s_out", "y", params=[1.0, 0.0])
    if not identity_at_output:
        b.add_activation("relu", "RELU", "y", "z")
    return b.spec


def test_drops_identities_and_rewires_consumers():
    spec, report, _ = run_pass(drop_identities, _net(identity_at_output=False))
    layers = spec.neuralNetwork.layers
    assert [x.name for x in layers] == ["d", "scale", "relu"]
    assert list(layers[0].input) == ["x"]          # drop1's consumer reads the model input
    assert list(layers[2].input) == ["s_out"]      # drop2's consumer reads drop2's input
    assert [(e.action, e.subject) for e in report.entries] == [("dropped", "drop1"), ("dropped", "drop2")]


def test_identity_producing_a_model_output_renames_the_producer():
    spec, report, _ = run_pass(drop_identities, _net(identity_at_output=True))
    layers = spec.neuralNetwork.layers
    assert [x.name for x in layers] == ["d", "scale"]
    assert list(layers[1].output) == ["y"]
    assert "renamed to the model output 'y'" in report.entries[-1].reason


def test_identity_from_input_to_output_is_kept():
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", datatypes.Array(4))])
    b.add_activation("copy", "LINEAR", "x", "y", params=[1.0, 0.0])
    spec, report, _ = run_pass(drop_identities, b.spec)
    assert [x.name for x in spec.neuralNetwork.layers] == ["copy"]
    assert report.entries[0].action == "note"
