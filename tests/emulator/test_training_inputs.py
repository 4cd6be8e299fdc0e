"""The runtime trains a model on the training inputs it declares, by name and type, as an app does:
coremltools' builder makes a classifier whose loss target is '<probs>_true' while the declared training
input is the class label ('label', String or Int64)."""
from __future__ import annotations

import numpy as np
import pytest

from ground.protos import coremltools as ct  # noqa: F401  (quiet import first)
from ground.errors import BadInputError


def _builder_classifier(labels):
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder, SgdParams

    rng = np.random.default_rng(0)
    b = NeuralNetworkBuilder([("features", datatypes.Array(4))], [("labelProbs", None)],
                             mode="classifier")
    b.add_inner_product("dense", rng.normal(0, 0.5, (3, 4)).astype(np.float32), np.zeros(3, np.float32), 4, 3,
                        True, "features", "logits")
    b.add_softmax("softmax", "logits", "labelProbs")
    b.set_class_labels(labels, predicted_feature_name="label", prediction_blob="labelProbs")
    b.make_updatable(["dense"])
    b.set_categorical_cross_entropy_loss(name="loss", input="labelProbs")
    b.set_sgd_optimizer(SgdParams(lr=0.1, batch=4))
    b.set_epochs(1)
    return b.spec


@pytest.mark.parametrize("labels", [["cat", "dog", "fish"], [3, 5, 7]], ids=["string", "int64"])
def test_trains_through_the_declared_class_label_input(labels):
    import emulator
    from transforms.validate import violations

    spec = _builder_classifier(labels)
    desc = spec.description
    assert spec.neuralNetworkClassifier.updateParams.lossLayers[0].categoricalCrossEntropyLossLayer.target == \
        "labelProbs_true"
    assert [t.name for t in desc.trainingInput] == ["features", "label"]
    assert [v for v in violations(spec) if v.origin == "apple"] == []
    model = emulator.load(spec)
    rng = np.random.RandomState(0)
    x = rng.rand(8, 4).astype(np.float32)
    y = np.asarray(labels, dtype=object)[rng.randint(0, 3, 8)].tolist()
    by_label = model.update({"features": x, "label": y})
    by_index = model.update({"features": x, "labelProbs_true": [labels.index(v) for v in y]})
    np.testing.assert_array_equal(by_label.batch_losses[0], by_index.batch_losses[0])
    assert by_label.batch_losses[0][0] > by_label.batch_losses[0][-1] or len(by_label.batch_losses[0]) == 2


def test_unknown_label_and_doubled_target_are_refused():
    import emulator

    model = emulator.load(_builder_classifier(["cat", "dog", "fish"]))
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(BadInputError, match=r"target labels \['cow'\] are not among the model's class labels"):
        model.update({"features": x, "label": ["cat", "cow"]})
    with pytest.raises(BadInputError, match=r"gives the target twice, as \['labelProbs_true', 'label'\]"):
        model.update({"features": x, "label": ["cat", "dog"], "labelProbs_true": [0, 1]})
    with pytest.raises(BadInputError, match=r"missing \['labelProbs_true or label'\]"):
        model.update({"features": x})
