"""The flatten order moves into the next innerProduct's weights, and back out when training ends."""
from __future__ import annotations

import numpy as np

import emulator
from emulator.layout_plan import chw_rows_in_hwc_order

from .nets import small_cnn, weights_of


def test_rows_in_hwc_order():
    order = chw_rows_in_hwc_order(2, 1, 3)        # C=2, H=1, W=3; C-major index = c*3 + w
    assert order.tolist() == [0, 3, 1, 4, 2, 5]  # (h, w, c) walks w then c: (0,0),(0,1),(1,0),...


def test_planned_flatten_predicts_as_core_ml_and_writes_back_in_core_ml_layout():
    spec = small_cnn(seed=7, updatable=("fc",), optimizer="sgd", lr=1e-9, batch=4)
    model = emulator.load(spec)
    assert model.network.plan.hwc_flattens == {"flatten"}
    x = np.random.default_rng(8).normal(0, 1, (4, 1, 6, 5)).astype(np.float32)
    # the same model with the flatten as an extra output cannot use the plan: Core ML order is kept
    unplanned = type(spec)()
    unplanned.CopyFrom(spec)
    unplanned.description.output.add().CopyFrom(unplanned.description.output[0])
    unplanned.description.output[1].name = "f"
    unplanned.description.output[1].type.multiArrayType.ClearField("shape")
    reference = emulator.load(unplanned)
    assert reference.network.plan.hwc_flattens == set()
    np.testing.assert_allclose(model.predict(x)["probs"], reference.predict(x)["probs"], atol=1e-6)
    # training writes the weights back in Core ML's (C, H, W) column order
    result = model.update({"x": x, "label": np.array([0, 1, 2, 0])})
    np.testing.assert_allclose(weights_of(result.spec, "fc")[0], weights_of(spec, "fc")[0], atol=1e-6)
    np.testing.assert_array_equal(model.network.layer_params("fc")["weights"],
                                  reference.network.layer_params("fc")["weights"])
