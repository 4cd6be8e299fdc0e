"""Every rule of coreml-update-rules.md: a spec that breaks it, and Apple's message."""
from __future__ import annotations

import re

import pytest
from tests.transforms.specs import mlp_builder, updatable_mlp

from ground.protos import Model_pb2
from ground.errors import BackpropRuleError, ValidationError
from ground.rules import check, violations


def messages(spec) -> list[str]:
    return [v.message for v in violations(spec)]


def rules(spec) -> set[str]:
    return {v.rule for v in violations(spec)}


def layer(spec, name):
    return next(x for x in spec.neuralNetwork.layers if x.name == name)


def test_valid_updatable_model_has_no_violation():
    assert violations(updatable_mlp()) == []
    check(updatable_mlp())


def test_inference_model_gets_inference_checks_only():
    spec = mlp_builder().spec
    assert violations(spec) == []
    del spec.neuralNetwork.layers[-1]           # the softmax producing the output
    assert messages(spec) == ["Interface specifies output 'probs' which is not produced by any layer in the "
                              "neural network."]


def test_rule1_spec_version():
    spec = updatable_mlp()
    spec.specificationVersion = 3
    assert "Model specification version for an updatable model must be '4' or above." in messages(spec)


def test_rule2_model_type():
    spec = Model_pb2.Model(specificationVersion=4, isUpdatable=True)
    spec.glmRegressor.SetInParent()
    assert [v.message for v in violations(spec) if v.rule == "2"] == [
        "This model type is not supported for on-device update."]


def _pipeline(*updatable: bool, top: bool) -> Model_pb2.Model:
    spec = Model_pb2.Model(specificationVersion=4, isUpdatable=top)
    for flag in updatable:
        m = spec.pipeline.models.add()
        m.CopyFrom(updatable_mlp() if flag else mlp_builder().spec)
        m.isUpdatable = flag
    spec.description.input.extend(spec.pipeline.models[0].description.input)
    spec.description.output.extend(spec.pipeline.models[-1].description.output)
    spec.description.trainingInput.extend(updatable_mlp().description.trainingInput)
    return spec


def test_rule3_pipelines():
    assert violations(_pipeline(False, True, top=True)) == []
    assert "Only the last model in the pipeline can be updatable. Model at position '0' is marked as updatable." \
        in messages(_pipeline(True, True, top=True))
    assert "Last model in an updatable pipeline model should be marked as updatable." \
        in messages(_pipeline(False, False, top=True))
    assert messages(_pipeline(False, True, top=False)) == [
        "Found an updatable model at '1' inside a non-updatable pipeline."]


def test_rule3_checks_sub_models():
    spec = _pipeline(False, True, top=True)
    spec.pipeline.models[1].neuralNetwork.updateParams.ClearField("epochs")
    found = violations(spec)
    assert [(v.rule, v.message, v.where) for v in found] == [
        ("17", "Epochs should be included in neural network update parameters.", "pipeline model 1")]


def test_rule4_structure_messages():
    spec = updatable_mlp()
    layer(spec, "out").input[0] = "nowhere"
    layer(spec, "act").output[0] = "h_out"
    found = messages(spec)
    assert "Layer 'out' consumes an input named 'nowhere' which is not present in this network." in found
    assert "Layer 'act' produces an output named 'h_out' which is also an output produced by the layer 'h'." in found


def test_rule4_softmax_rank_with_exact_mapping():
    spec = updatable_mlp()
    spec.neuralNetwork.arrayInputShapeMapping = 1          # EXACT_ARRAY_MAPPING
    assert "Layer 'sm' of type 'Softmax' has output rank 1 but expects rank at least 3." in messages(spec)


def _with_clip(spec):
    """Turn the first ReLU into a clip (ReLU6): a layer added in specification version 4 (iOS 13)."""
    relu = next(x for x in spec.neuralNetwork.layers if x.WhichOneof("layer") == "activation")
    relu.clip.minVal, relu.clip.maxVal = 0.0, 6.0
    return spec, relu.name


def test_rule4_rank5_mapping_with_an_ios13_layer():
    spec, name = _with_clip(updatable_mlp())
    found = [v for v in violations(spec) if v.rule == "4"]
    assert found[0].message == (
        "Neural Network Multi-Array input shape mapping cannot be 'RANK5_ARRAY_MAPPING' if the network contains a "
        "layer added in version 4 (iOS 13) or later. Use 'EXACT_ARRAY_MAPPING' instead.")
    assert found[0].where == f"layer '{name}'" and "EXACT_ARRAY_MAPPING" in found[0].fix


def test_rule4_exact_mapping_ranks_at_the_model_edges():
    spec, _ = _with_clip(updatable_mlp())
    nn, desc = spec.neuralNetwork, spec.description
    nn.arrayInputShapeMapping = 1
    shape = list(desc.input[0].type.multiArrayType.shape)
    assert "Layer 'sm' of type 'Softmax' has output rank 1 but expects rank at least 3." in messages(spec)
    for f in (desc.input[0], desc.trainingInput[0]):
        del f.type.multiArrayType.shape[:]
        f.type.multiArrayType.shape.extend([1, shape[0], 1, 1])
    del desc.output[0].type.multiArrayType.shape[:]
    desc.output[0].type.multiArrayType.shape.extend([1, 10, 1, 1])
    assert [v for v in violations(spec) if v.rule == "4"] == []
    conv = nn.layers[0]                                  # a rank-4 input suits innerProduct; a convolution needs 4+
    del desc.input[0].type.multiArrayType.shape[:]
    desc.input[0].type.multiArrayType.shape.extend(shape)
    assert f"Layer '{conv.name}' of type 'InnerProduct' has input rank 1" not in " ".join(messages(spec))


def test_rule4_rank5_input_rank_and_feature_descriptions():
    spec = updatable_mlp()
    f = spec.description.input[0].type.multiArrayType
    f.shape.append(2)                                    # rank 2 under RANK5_ARRAY_MAPPING
    assert ("Input MLMultiArray to neural networks must have dimension 1 (vector) or 3 (image-like arrays)."
            in messages(spec))
    spec = updatable_mlp()
    spec.description.input[0].type.multiArrayType.shape[0] = -1   # Apple refuses < 0 only
    spec.description.output[0].type.multiArrayType.dataType = 0
    found = messages(spec)
    name, out = spec.description.input[0].name, spec.description.output[0].name
    assert f"Description of multiarray feature '{name}' has an invalid shape. Element 0 has non-positive value -1." \
        in found
    assert (f"Description of multiarray feature '{out}' has an invalid or unspecified dataType. It must be specified "
            "as DOUBLE, FLOAT32, FLOAT16 or INT32") in found


def test_rule4_image_feature_size_and_color_space():
    spec = updatable_mlp()
    t = spec.description.input[0].type
    t.ClearField("multiArrayType")
    t.imageType.width, t.imageType.colorSpace = 8, 99
    name = spec.description.input[0].name
    found = messages(spec)
    assert f"Description of image feature '{name}' has missing or non-positive height 0." in found
    t.imageType.height = 8                        # Apple reports a feature's first problem only
    found = messages(spec)
    assert (f"Description of image feature '{name}' has missing or invalid colorspace. It must be RGB, BGR or "
            "GRAYSCALE.") in found


def test_rule5_no_updatable_layer():
    spec = updatable_mlp()
    for x in spec.neuralNetwork.layers:
        x.isUpdatable = False
    assert "The model is marked as updatable, but none of the layers are updatable." in messages(spec)


def test_rule6_layer_type():
    spec = updatable_mlp()
    layer(spec, "act").isUpdatable = True
    assert ("The layer named 'act' is marked as updatable, however it is not supported as the type of this layer "
            "is neither convolution nor inner-product.") in messages(spec)


def test_rule7_weight_and_bias_flags():
    spec = updatable_mlp()
    layer(spec, "out").innerProduct.bias.isUpdatable = False
    assert messages(spec) == ["An updatable layer, named 'out', has a weight/bias param which is not marked as "
                              "updatable."]


def test_rule8_quantized_and_float16():
    spec = updatable_mlp()
    layer(spec, "out").innerProduct.weights.quantization.numberOfBits = 8
    assert ("An updatable layer, named 'out', has quantized weights/bias param. Quantized weights/bias not supported "
            "for update.") in messages(spec)
    spec = updatable_mlp()                      # float16 in a frozen layer: Apple's validator accepts it
    frozen = layer(spec, "h")
    frozen.isUpdatable = frozen.innerProduct.weights.isUpdatable = frozen.innerProduct.bias.isUpdatable = False
    ip = frozen.innerProduct
    import numpy as np
    for wp in (ip.weights, ip.bias):            # weights and bias both: Apple refuses a float32/float16 mix
        wp.float16Value = np.asarray(wp.floatValue, np.float16).tobytes()
        wp.ClearField("floatValue")
    assert violations(spec) == []
    spec = updatable_mlp()                      # in an updatable layer: coremltools' builder refuses it
    ip = layer(spec, "out").innerProduct
    for wp in (ip.weights, ip.bias):
        wp.float16Value = np.asarray(wp.floatValue, np.float16).tobytes()
        wp.ClearField("floatValue")
    found = violations(spec)
    assert [(v.rule, v.origin) for v in found] == [("8", "coremltools")] and "FP16 weights" in found[0].message
    ip.bias.floatValue.extend([0.0] * (len(ip.bias.float16Value) // 2))   # bias float32 again: a mix
    ip.bias.ClearField("float16Value")
    found = violations(spec)
    assert any(v.rule == "8" and "different precisions" in v.message for v in found)
    assert [v.message for v in found if v.origin == "apple"] == [
        "Inner product layer 'outhas unmatched precisions of weights/bias They should either be half or full "
        "precision."]


def test_rule9_name_collision():
    spec = updatable_mlp()
    spec.neuralNetwork.updateParams.lossLayers[0].name = "sm"
    assert ("The updatable model has a name collision for: 'sm', i.e., there are more than one layers or loss "
            "layers with this name.") in messages(spec)


def test_rule10_backprop_blocked_and_error_class():
    b = mlp_builder(hidden_act="LEAKYRELU")
    b.make_updatable(["h", "out"])
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    from coremltools.models.neural_network import AdamParams
    b.set_adam_optimizer(AdamParams())
    b.set_epochs(1)
    expected = ("There is a layer (act), which does not support backpropagation, between an updatable marked layer "
                "and the loss function.")
    assert messages(b.spec) == [expected]
    with pytest.raises(BackpropRuleError, match=re.escape(expected)):
        check(b.spec)


def test_rule11_blocking_layer_before_frozen_layers_is_fine():
    b = mlp_builder(hidden_act="LEAKYRELU")
    b.make_updatable(["out"])
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    from coremltools.models.neural_network import SgdParams
    b.set_sgd_optimizer(SgdParams())
    b.set_epochs(1)
    assert violations(b.spec) == []


def test_rule12_loss_count():
    spec = updatable_mlp()
    extra = spec.neuralNetwork.updateParams.lossLayers.add()
    extra.CopyFrom(spec.neuralNetwork.updateParams.lossLayers[0])
    extra.name = "loss2"
    assert "This model has more than one loss layers specified, which is not supported at the moment." \
        in messages(spec)
    del spec.neuralNetwork.updateParams.lossLayers[:]
    assert any(v.rule == "12" and "no loss layer" in v.message for v in violations(spec))


def test_rule13_cce_input_and_target():
    spec = updatable_mlp()
    cce = spec.neuralNetwork.updateParams.lossLayers[0].categoricalCrossEntropyLossLayer
    cce.input, cce.target = "y", "h_out"
    found = messages(spec)
    assert "For the categorical cross entropy loss layer named 'loss', input is not generated from a softmax output." \
        in found
    assert "For the cross entropy loss layer named 'loss', target is generated within the graph." in found


def test_rule14_mse_input_and_target():
    spec = updatable_mlp()
    loss = spec.neuralNetwork.updateParams.lossLayers[0]
    loss.meanSquaredErrorLossLayer.input = "x"
    loss.meanSquaredErrorLossLayer.target = "y"
    found = messages(spec)
    assert "For the MSE loss layer named 'loss', input is not generated within the graph." in found
    assert "For the MSE loss layer named 'loss', target is generated within the graph." in found


def test_rule15_training_inputs():
    spec = updatable_mlp()
    del spec.description.trainingInput[1:]
    assert ("Must provide training inputs for updatable neural network (expecting both input and target for loss "
            "function).") in messages(spec)
    spec = updatable_mlp()
    spec.description.trainingInput[1].name = "other"
    assert "The training inputs don't include the loss layer's target: probs_true" in messages(spec)


def test_rule15_classifier_label_type():
    b = mlp_builder(mode="classifier")
    b.set_class_labels(["a", "b", "c"], predicted_feature_name="label")
    b.make_updatable(["out"])
    b.set_categorical_cross_entropy_loss(name="loss", input="probs")
    from coremltools.models.neural_network import AdamParams
    b.set_adam_optimizer(AdamParams())
    b.set_epochs(1)
    assert violations(b.spec) == []
    b.spec.description.trainingInput[1].type.int64Type.SetInParent()
    assert messages(b.spec) == ["The type of the training input provided: label doesn't match the expected type of "
                                "the classifier. Found: Int64, expected: String."]


def test_rule16_optimizer():
    spec = updatable_mlp()
    spec.neuralNetwork.updateParams.ClearField("optimizer")
    assert "Optimizer is not recognized." in messages(spec)
    spec = updatable_mlp()
    spec.neuralNetwork.updateParams.optimizer.adamOptimizer.ClearField("beta2")
    spec.neuralNetwork.updateParams.optimizer.adamOptimizer.ClearField("eps")
    found = messages(spec)
    assert "ADAM optimizer should include beta2 parameter." in found
    assert "ADAM optimizer should include eps (epslion) parameter." in found


def test_rule16_project_ranges():
    spec = updatable_mlp()
    adam = spec.neuralNetwork.updateParams.optimizer.adamOptimizer
    adam.learningRate.defaultValue = 0.0
    adam.beta1.defaultValue = 1.0
    adam.beta1.range.maxValue = 1.0
    found = messages(spec)
    assert "project rule: 'learningRate' is 0, it must be > 0" in found
    assert "project rule: 'beta1' is 1, it must be in [0, 1)" in found


def test_rule17_epochs():
    spec = updatable_mlp()
    spec.neuralNetwork.updateParams.ClearField("epochs")
    assert messages(spec) == ["Epochs should be included in neural network update parameters."]
    spec = updatable_mlp()
    spec.neuralNetwork.updateParams.epochs.defaultValue = 0
    assert messages(spec) == ["Default Value (0) for 'epochs' expected to be a positive value."]


def test_rule18_allowed_values():
    spec = updatable_mlp()
    adam = spec.neuralNetwork.updateParams.optimizer.adamOptimizer
    adam.learningRate.defaultValue = 2.0
    assert messages(spec) == ["Specified Default Value (2.000000) out of Allowed Value Range for 'learningRate'"]
    spec = updatable_mlp()
    spec.neuralNetwork.updateParams.optimizer.adamOptimizer.miniBatchSize.defaultValue = 16
    assert messages(spec) == ["Specified Default Value (16) not found in Allowed Values Set for 'miniBatchSize'"]
    spec = updatable_mlp()
    epochs = spec.neuralNetwork.updateParams.epochs
    epochs.range.minValue, epochs.range.maxValue = 0, 5
    assert messages(spec) == ["Non-positive min value (0) in Allowed Value Range for 'epochs' is not allowed."]


def test_rule19_seed_is_optional_but_checked():
    spec = updatable_mlp()
    spec.neuralNetwork.updateParams.seed.defaultValue = 7
    assert violations(spec) == []
    spec.neuralNetwork.updateParams.seed.set.values.extend([1, 2])
    assert messages(spec) == ["Specified Default Value (7) not found in Allowed Values Set for 'seed'"]


def test_check_lists_every_violation():
    spec = updatable_mlp()
    spec.specificationVersion = 3
    spec.neuralNetwork.updateParams.ClearField("epochs")
    with pytest.raises(ValidationError, match=r"breaks 2 Core ML rule\(s\):\n  - \[rule 1\].*\n  - \[rule 17\]"):
        check(spec)


@pytest.mark.parametrize("act,softmax,reached", [
    ("RELU", True, {"h", "act", "out", "sm"}),          # ReLU back-propagates; the loss's softmax passes
    ("RELU", False, {"h", "act", "out"}),
    ("LEAKYRELU", True, {"out", "sm"}),                 # leaky ReLU does not: 'h' is out of reach
])
def test_backprop_reach(act, softmax, reached):
    from ground.rules.graph import backprop_reach

    spec = mlp_builder(softmax=softmax, hidden_act=act).spec
    assert backprop_reach(spec.neuralNetwork, ["probs" if softmax else "y"]) == reached
