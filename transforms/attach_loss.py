"""Pass ``attach_loss``: one loss layer (categorical cross-entropy or MSE) and the training inputs."""
from __future__ import annotations

from typing import Any

from ground import nn_spec as S
from ground.errors import BadInputError, UnsupportedConfigError
from ground.protos import FeatureTypes_pb2, Model_pb2

from .context import PassContext

NAME = "attach_loss"
REQUIRES: tuple[str, ...] = ("mark_updatable",)
LOSSES = ("auto", "cce", "mse")
LOGIT_PRODUCERS = ("innerProduct",)


def run(spec: Model_pb2.Model, ctx: PassContext) -> None:
    """Attach the loss and declare the training inputs (model inputs the loss needs + the target).

    Before (cross-entropy on logits, ``from_logits=True``)::

        innerProduct d2 (h -> probs)            outputs: probs          no loss, no training inputs

    After::

        innerProduct d2 (h -> probs_logits) ; softmax probs_softmax (probs_logits -> probs)
        lossLayers: categoricalCrossEntropy 'loss' (input probs, target probs_true)
        trainingInput: <model inputs the loss depends on>, probs_true (Int32 multiArray [1], a class index)

    MSE: target ``<output>_true`` with the output's own multiArray type. A classifier's target is its
    predicted-feature name, with the class labels' type (Int64 or String).
    """
    nn, desc, opts, facts = S.nn_of(spec), spec.description, ctx.options, ctx.facts
    classifier = S.model_kind(spec) == "neuralNetworkClassifier"
    blob, feature = _loss_blob(spec, nn, opts)
    prod = S.producers(nn)
    if blob not in prod:
        raise BadInputError(f"output '{blob}' is not produced by any layer, so no loss can be attached to it",
                            where=f"output '{blob}'", fix="attach the loss to a layer output")
    producer = "softmax" if log_over_softmax(nn, blob) is not None else S.kind(nn.layers[prod[blob]])
    loss = _loss_kind(opts, facts, producer)
    if nn.updateParams.lossLayers or desc.trainingInput:
        ctx.report.add(stage=NAME, action="note", subject="loss", reason="the existing loss and training inputs "
                                                                          "were replaced")
        del nn.updateParams.lossLayers[:]
        del desc.trainingInput[:]
    if loss == "cce":
        _prepare_cce(spec, nn, blob, feature, ctx)
        target = desc.predictedFeatureName if classifier else (opts.target_name or f"{blob}_true")
        if classifier and opts.target_name and opts.target_name != target:
            raise BadInputError(f"a classifier's training target is its predicted-feature name '{target}', not "
                                f"'{opts.target_name}'", where="option 'target_name'", fix="leave target_name unset")
        target_type = _cce_target_type(desc, target, classifier)
    else:
        if classifier:
            raise UnsupportedConfigError("a classifier is trained with the cross-entropy loss, not MSE",
                                         where="option 'loss'", fix="use --loss cce, or convert without class labels")
        target = opts.target_name or f"{blob}_true"
        target_type = _mse_target_type(feature, ctx.blob_shapes.get(blob), blob)
    taken = S.all_names(spec) - ({target} if classifier else set())
    if target in taken:
        raise BadInputError(f"the training target name '{target}' is already used by a layer, blob or feature",
                            where="option 'target_name'", fix="pass another --target-name")
    layer_names = {layer.name for layer in nn.layers} | {b for layer in nn.layers for b in layer.output}
    loss_layer = nn.updateParams.lossLayers.add()
    loss_layer.name = S.unique_name("loss", layer_names)
    params = (loss_layer.categoricalCrossEntropyLossLayer if loss == "cce"
              else loss_layer.meanSquaredErrorLossLayer)
    params.input, params.target = blob, target
    ctx.report.add(stage=NAME, action="added", subject=loss_layer.name,
                   reason=f"{'categorical cross-entropy' if loss == 'cce' else 'mean squared error'} on '{blob}', "
                          f"target '{target}'")
    needed = {b for i in S.ancestors(nn, [blob]) for b in nn.layers[i].input}
    for f in desc.input:
        if f.name in needed:
            desc.trainingInput.add().CopyFrom(f)
    t = desc.trainingInput.add()
    t.name = target
    t.type.CopyFrom(target_type)
    ctx.report.add(stage=NAME, action="set", subject="training inputs",
                   reason=", ".join(f.name for f in desc.trainingInput))


def _loss_blob(spec: Any, nn: Any, opts: Any) -> tuple[str, Any]:
    """The network blob the loss reads and its output feature (None when it is not a declared output)."""
    desc = spec.description
    by_name = {o.name: o for o in desc.output}
    if S.model_kind(spec) == "neuralNetworkClassifier":
        blob = nn.labelProbabilityLayerName or desc.predictedProbabilitiesName
        return blob, by_name.get(blob)
    if opts.loss_output:
        if opts.loss_output not in by_name:
            raise BadInputError(f"'{opts.loss_output}' is not a model output", where="option 'loss_output'",
                                fix=f"choose one of: {', '.join(by_name)}")
        return opts.loss_output, by_name[opts.loss_output]
    if len(desc.output) != 1:
        raise BadInputError(f"the model has {len(desc.output)} outputs ({', '.join(by_name)}); the loss attaches "
                            "to one", where="the model", fix="name it with --loss-output NAME")
    return desc.output[0].name, desc.output[0]


def _loss_kind(opts: Any, facts: Any, producer: str) -> str:
    if opts.loss not in LOSSES:
        raise BadInputError(f"unknown loss '{opts.loss}'", where="option 'loss'", fix="use auto, cce or mse")
    if opts.loss != "auto":
        return opts.loss
    if facts.loss is not None:
        if facts.loss not in ("cce", "mse"):
            raise UnsupportedConfigError(f"the source's loss '{facts.loss}' has no Core ML equivalent",
                                         where="the compile config", fix="pass --loss cce or --loss mse")
        return facts.loss
    return "cce" if producer == "softmax" else "mse"


def _prepare_cce(spec: Any, nn: Any, blob: str, feature: Any, ctx: Any) -> None:
    """Check the model fits cross-entropy; add a softmax after logits when the source says so."""
    facts, opts = ctx.facts, ctx.options
    if facts.label_smoothing:
        if not opts.override_unsupported:
            raise UnsupportedConfigError(
                f"label_smoothing={facts.label_smoothing} cannot be expressed in Core ML's cross-entropy",
                where="the compile config's loss (label_smoothing)",
                fix="compile without label smoothing, or pass --override-unsupported to train without it")
        ctx.report.add(stage=NAME, action="note", subject="label_smoothing",
                       reason=f"ignored ({facts.label_smoothing}): Core ML has no label smoothing")
    _check_vector(feature, ctx.blob_shapes.get(blob), blob)
    _drop_log_after_softmax(nn, blob, ctx)
    prod = S.producers(nn)
    index = prod[blob]
    producer = S.kind(nn.layers[index])
    if producer == "softmax":
        if facts.loss_from_logits and not opts.override_unsupported:
            raise UnsupportedConfigError(
                "the source computes cross-entropy from logits (from_logits=True) but the model already ends in a "
                "softmax", where="the compile config's loss (from_logits)",
                fix="compile with from_logits=False, or pass --override-unsupported to use the softmax output")
        return
    if not (facts.loss_from_logits or (opts.loss == "cce" and producer in LOGIT_PRODUCERS)):
        raise UnsupportedConfigError(
            f"Core ML's cross-entropy needs a softmax output, but '{blob}' is produced by a {producer} layer",
            where=f"output '{blob}'", fix="end the model with a softmax, or use --loss mse")
    taken = S.all_names(spec)
    logits = S.unique_name(f"{blob}_logits", taken)
    name = S.unique_name(f"{blob}_softmax", taken | {logits})
    S.rename_blob_everywhere(nn, blob, logits, start=index)
    ctx.rename_blob(blob, logits)
    layer = S.new_layer_after(nn, index)
    layer.name = name
    layer.input.append(logits)
    layer.output.append(blob)
    layer.softmax.SetInParent()
    why = "from_logits=True in the source" if facts.loss_from_logits else "cross-entropy asked on logits"
    ctx.report.add(stage=NAME, action="added", subject=name,
                   reason=f"softmax: Core ML's cross-entropy reads probabilities ({why}); output '{blob}' now "
                          "gives probabilities")


def log_over_softmax(nn: Any, blob: str) -> tuple[int, int] | None:
    """(log layer, softmax layer) indices when ``blob`` is log(softmax(x)) (a LogSoftmax output), else None."""
    prod = S.producers(nn)
    log = nn.layers[prod[blob]] if blob in prod else None
    if log is None or S.kind(log) != "unary" or log.unary.type != log.unary.LOG or log.unary.shift != 0 \
            or log.unary.scale not in (0.0, 1.0):
        return None
    source = prod.get(log.input[0])
    if source is None or S.kind(nn.layers[source]) != "softmax":
        return None
    return prod[blob], source


def _drop_log_after_softmax(nn: Any, blob: str, ctx: Any) -> None:
    """A LogSoftmax output (PyTorch's usual classifier head) becomes the softmax's probabilities.

    Cross-entropy on softmax probabilities is exactly the negative log-likelihood of the log-softmax, so
    training is unchanged; Core ML's cross-entropy reads probabilities, and a log layer would block it.
    """
    found = log_over_softmax(nn, blob)
    if found is None:
        return
    log_index, softmax_index = found
    log = nn.layers[log_index]
    probs = nn.layers[softmax_index].output[0]
    del nn.layers[log_index]
    S.rename_blob_everywhere(nn, probs, blob)
    ctx.rename_blob(probs, blob)
    ctx.report.add(stage=NAME, action="dropped", subject=log.name,
                   reason=f"log after softmax: cross-entropy on the softmax equals NLL on the log-softmax; "
                          f"output '{blob}' now gives probabilities, not log-probabilities")


def _check_vector(feature: Any, shape: Any, blob: str) -> None:
    dims = None
    if feature is not None and feature.type.WhichOneof("Type") == "multiArrayType" and \
            len(feature.type.multiArrayType.shape):
        dims = [int(d) for d in feature.type.multiArrayType.shape]
    elif shape:
        dims = [int(d) for d in shape]
    if dims is not None and sum(d > 1 for d in dims[1:]) > 0:
        raise UnsupportedConfigError(
            f"cross-entropy needs a vector of class probabilities, but '{blob}' has shape {tuple(dims)}",
            where=f"output '{blob}'", fix="flatten/pool to a vector before the softmax, or use --loss mse")


def _cce_target_type(desc: Any, target: str, classifier: bool) -> Any:
    t = FeatureTypes_pb2.FeatureType()
    if classifier:
        for o in desc.output:
            if o.name == target:
                t.CopyFrom(o.type)
                return t
        raise BadInputError(f"the classifier has no output named '{target}' (its predicted-feature name)",
                            where="the model description", fix="set predictedFeatureName to the label output")
    t.multiArrayType.shape.append(1)
    t.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.INT32
    return t


def _mse_target_type(feature: Any, shape: Any, blob: str) -> Any:
    t = FeatureTypes_pb2.FeatureType()
    if feature is not None and feature.type.WhichOneof("Type") == "multiArrayType":
        t.CopyFrom(feature.type)
    else:
        t.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    if not len(t.multiArrayType.shape):
        if not shape:
            raise BadInputError(f"the shape of output '{blob}' is unknown, so the MSE target cannot be declared",
                                where=f"output '{blob}'", fix="declare the output's shape in the model description")
        t.multiArrayType.shape.extend(int(d) for d in shape)
    return t
