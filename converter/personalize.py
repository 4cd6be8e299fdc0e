"""Personalization models: a frozen Keras extractor, then an updatable k-NN or neural-network head.

``personalize(model, mode="knn"|"head", embedding=LAYER, ...)`` cuts the Keras model after ``LAYER``:
the part up to it becomes a frozen NeuralNetwork (the extractor), and

- ``knn``: an updatable k-Nearest-Neighbors classifier on the embedding follows it (empty, or filled
  with the embeddings of example images);
- ``head``: the layers after ``LAYER`` become an updatable NeuralNetwork classifier.

Both are written as a ``pipelineClassifier`` (class label + per-class probabilities, as Core ML apps
read them). With ``linked=True`` the extractor goes into its own file, which the pipeline references
through a ``linkedModel`` (several personalized heads can share it).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ground.protos import FeatureTypes_pb2, Model_pb2
from ground.errors import BadInputError, UnsupportedModelError
from ground.spec_io import check_output, save_spec
from transforms.options import UpdateOptions
from transforms.report import ConversionReport

log = logging.getLogger(__name__)

MODES = ("knn", "head")
WEIGHTINGS = {"uniform": "uniformWeighting", "distance": "inverseDistanceWeighting"}
INDEXES = ("linear", "kdtree")
KD_LEAF_SIZE = 30
K_RANGE = (1, 1000)
EMBEDDING = "embedding"
LABEL = "classLabel"
KNN_PROBS = "classLabelProbs"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SPEC_VERSION = 4          # iOS 13: updatable models, k-NN and linked models


@dataclass
class KNNOptions:
    """The k-NN head: k (with the range a run may choose from), weighting, index, labels."""

    k: int = 3
    weighting: str = "uniform"            # 'uniform' | 'distance'
    index: str = "linear"                 # 'linear' | 'kdtree'
    leaf_size: int = KD_LEAF_SIZE
    k_range: tuple[int, int] = K_RANGE
    default_label: str | int | None = None


@dataclass
class PersonalizedModel:
    """A personalization pipeline (and, when linked, the extractor written beside it)."""

    spec: Model_pb2.Model
    extractor: Model_pb2.Model
    report: ConversionReport
    mode: str
    linked_name: str | None = None        # the extractor's file name when linked
    examples: int = 0
    notes: list[str] = field(default_factory=list)

    def save(self, path: str | os.PathLike, *, force: bool = False, source: Any = None) -> list[Path]:
        """Write the pipeline (and a linked extractor beside it) atomically; return the paths written."""
        path = check_output(path, source, force=force)
        written = []
        if self.linked_name:
            extractor_path = check_output(path.parent / extractor_file(self.linked_name), source, force=force)
            written.append(save_spec(self.extractor, extractor_path))
        written.insert(0, save_spec(self.spec, path))
        return written


def extractor_file(linked_name: str) -> str:
    """The ``.mlmodel`` to write for a link named ``X.mlmodelc`` (the name an app bundle compiles it to)."""
    return linked_name[:-1] if linked_name.endswith(".mlmodelc") else linked_name


# ---------------------------------------------------------------------------- Keras side


def split_keras(model: Any, embedding: str) -> tuple[Any, Any]:
    """(extractor, head) Keras models: the layers up to ``embedding`` and the layers after it.

    The head holds copies of the source's layers (same names, weights and trainable flags) and its
    compile config; the layers after the cut must form a chain (one input each, from the layer before).
    """
    import keras

    names = [layer.name for layer in model.layers]
    if embedding not in names:
        raise BadInputError(f"the model has no layer '{embedding}'", where="--embedding",
                            fix=f"pick one of {', '.join(names)}")
    cut = model.get_layer(embedding)
    extractor = keras.Model(model.inputs, cut.output, name=f"{model.name}_extractor")
    rest = model.layers[names.index(embedding) + 1:]
    if not rest:
        raise BadInputError(f"'{embedding}' is the model's last layer: nothing is left for a head",
                            where="--embedding", fix="cut at an earlier layer (the embedding)")
    previous = cut
    for layer in rest:
        inbound = [t._keras_history.operation for t in layer._inbound_nodes[0].input_tensors]
        if len(inbound) != 1 or inbound[0] is not previous:
            raise UnsupportedModelError(
                f"the layers after '{embedding}' do not form a chain (layer '{layer.name}' does not read "
                f"'{previous.name}' alone)", where="--embedding",
                fix="cut at a layer after which the model is a plain sequence of layers")
        previous = layer
    x = inp = keras.Input(shape=tuple(cut.output.shape[1:]), name=EMBEDDING)
    for layer in rest:                     # copies of the layers, with their weights and trainable flags
        copy = type(layer).from_config(layer.get_config())
        x = copy(x)
        copy.set_weights(layer.get_weights())
        copy.trainable = layer.trainable
    head = keras.Model(inp, x, name=f"{model.name}_head")
    if getattr(model, "optimizer", None) is not None and getattr(model, "loss", None) is not None:
        head.compile(optimizer=keras.optimizers.deserialize(keras.optimizers.serialize(model.optimizer)),
                     loss=model.loss)
    return extractor, head


def _load(source: Any, allow_unsafe: bool) -> Any:
    import keras

    if isinstance(source, keras.Model):
        return source
    path = Path(source)
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise BadInputError("personalization cuts a Keras model; this is not one", where=str(path),
                            fix="pass a .keras or .h5 model")
    from .keras.reader import load_keras
    return load_keras(path, allow_unsafe=allow_unsafe)


# ---------------------------------------------------------------------------- Core ML side


def extractor_spec(extractor: Any, report: ConversionReport, input_name: str | None = None) -> Model_pb2.Model:
    """The frozen NeuralNetwork for the Keras extractor, its output named ``embedding``."""
    from transforms.options import SourceFacts
    from transforms.pipeline import PASSES, PassContext, run_passes

    from .convert import to_inference_spec

    spec, facts, _ = to_inference_spec(extractor, output_names=[EMBEDDING], report=report,
                                       input_names=[input_name] if input_name else None)
    ctx = PassContext(UpdateOptions(), facts if isinstance(facts, SourceFacts) else SourceFacts(), report,
                      dict(facts.blob_shapes))
    spec = run_passes(spec, ctx, [p for p in PASSES if p.name in ("drop_identities", "flatten_for_dense")])
    spec.specificationVersion = max(spec.specificationVersion, SPEC_VERSION)
    report.add(stage="personalize", action="note", subject="extractor",
               reason=f"{len(spec.neuralNetwork.layers)} Core ML layers up to '{EMBEDDING}', frozen")
    return spec


def head_spec(head: Any, options: UpdateOptions, report: ConversionReport,
              class_labels: Sequence | None) -> Model_pb2.Model:
    """The updatable NeuralNetwork classifier for the Keras head (input ``embedding``)."""
    from .convert import convert

    units = int(np.prod(head.outputs[0].shape[1:]))
    labels = list(class_labels) if class_labels is not None else (options.class_labels or list(range(units)))
    options = UpdateOptions(**{**options.__dict__, "class_labels": labels})
    result = convert(head, options=options, input_names=[EMBEDDING])
    for entry in result.report.entries:
        report.entries.append(entry)
    return result.spec


def knn_spec(dimensions: int, options: KNNOptions, labels_are_int: bool,
             samples: np.ndarray | None = None, labels: Sequence | None = None) -> Model_pb2.Model:
    """An updatable k-NN classifier on ``embedding`` (``dimensions`` floats), optionally filled."""
    if options.weighting not in WEIGHTINGS:
        raise BadInputError(f"unknown weighting '{options.weighting}'", fix="use uniform or distance")
    if options.index not in INDEXES:
        raise BadInputError(f"unknown index '{options.index}'", fix="use linear or kdtree")
    lo, hi = options.k_range
    if not lo <= options.k <= hi:
        raise BadInputError(f"k={options.k} is outside [{lo}, {hi}]", fix=f"pick k in [{lo}, {hi}]")
    spec = Model_pb2.Model()
    spec.specificationVersion = SPEC_VERSION
    spec.isUpdatable = True
    desc = spec.description
    _array(desc.input.add(), EMBEDDING, dimensions)
    _array(desc.trainingInput.add(), EMBEDDING, dimensions)
    for fd in (desc.output.add(), desc.trainingInput.add()):
        fd.name = LABEL
        (fd.type.int64Type if labels_are_int else fd.type.stringType).SetInParent()
    probs = desc.output.add()
    probs.name = KNN_PROBS
    (probs.type.dictionaryType.int64KeyType if labels_are_int else probs.type.dictionaryType.stringKeyType).SetInParent()
    desc.predictedFeatureName, desc.predictedProbabilitiesName = LABEL, KNN_PROBS
    knn = spec.kNearestNeighborsClassifier
    index = knn.nearestNeighborsIndex
    index.numberOfDimensions = dimensions
    if options.index == "linear":
        index.linearIndex.SetInParent()
    else:
        index.singleKdTreeIndex.leafSize = options.leaf_size
    index.squaredEuclideanDistance.SetInParent()
    getattr(knn, WEIGHTINGS[options.weighting]).SetInParent()
    knn.numberOfNeighbors.defaultValue = options.k
    knn.numberOfNeighbors.range.minValue, knn.numberOfNeighbors.range.maxValue = lo, hi
    default = options.default_label
    if labels_are_int:
        knn.defaultInt64Label = int(default) if default is not None else -1
        knn.int64ClassLabels.SetInParent()
    else:
        knn.defaultStringLabel = str(default) if default is not None else "unknown"
        knn.stringClassLabels.SetInParent()
    if samples is not None and len(samples):
        for row in np.asarray(samples, np.float32).reshape(len(samples), dimensions):
            index.floatSamples.add().vector.extend(row.tolist())
        target = knn.int64ClassLabels if labels_are_int else knn.stringClassLabels
        target.vector.extend([int(v) for v in labels] if labels_are_int else [str(v) for v in labels])
    return spec


def _array(fd: Any, name: str, dimensions: int) -> None:
    fd.name = name
    fd.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    fd.type.multiArrayType.shape.append(dimensions)


def pipeline_classifier(stages: list[Model_pb2.Model], names: list[str], training_inputs: list[Any]) -> Model_pb2.Model:
    """A pipelineClassifier over ``stages``: the first one's inputs, the last one's outputs."""
    spec = Model_pb2.Model()
    spec.specificationVersion = max(SPEC_VERSION, *(s.specificationVersion for s in stages))
    spec.isUpdatable = True
    first, last = stages[0].description, stages[-1].description
    spec.description.input.extend(first.input)
    spec.description.output.extend(last.output)
    spec.description.predictedFeatureName = last.predictedFeatureName
    spec.description.predictedProbabilitiesName = last.predictedProbabilitiesName
    spec.description.trainingInput.extend(training_inputs)
    pipe = spec.pipelineClassifier.pipeline
    for stage in stages:
        pipe.models.add().CopyFrom(stage)
    pipe.names.extend(names)
    return spec


def linked_stub(extractor: Model_pb2.Model, linked_name: str) -> Model_pb2.Model:
    """A ``linkedModel`` with the extractor's interface, naming its compiled file in the app bundle."""
    spec = Model_pb2.Model()
    spec.specificationVersion = SPEC_VERSION
    spec.description.input.extend(extractor.description.input)
    spec.description.output.extend(extractor.description.output)
    link = spec.linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = linked_name
    link.linkedModelSearchPath.defaultValue = "$BUNDLE_MAIN"
    return spec


# ---------------------------------------------------------------------------- examples


def read_examples(source: str | os.PathLike, input_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Example images (Keras layout, scaled to [0, 1]) and labels from an ``.npz`` or a folder.

    An ``.npz`` holds ``x`` and ``y`` (or ``x_train`` and ``y_train``); a folder holds one sub-folder
    per label with its images (``dogs/1.png``; all-digit folder names give integer labels).
    """
    path = Path(source)
    if path.is_dir():
        return _examples_from_folder(path, input_shape)
    if not path.is_file():
        raise BadInputError("no such file or folder", where=str(path), fix="pass an .npz or a folder of images")
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        pair = next(((a, b) for a, b in (("x", "y"), ("x_train", "y_train")) if a in keys and b in keys), None)
        if pair is None:
            raise BadInputError(f"the .npz holds {sorted(keys)}; examples need 'x' and 'y'", where=str(path),
                                fix="save the examples with np.savez(path, x=images, y=labels)")
        x, y = f[pair[0]], f[pair[1]]
    if len(x) != len(y):
        raise BadInputError(f"{len(x)} images but {len(y)} labels", where=str(path), fix="one label per image")
    return _keras_layout(x, input_shape, str(path)), y


def _examples_from_folder(folder: Path, input_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    height, width, channels = input_shape if len(input_shape) == 3 else (*input_shape, 1)
    images, labels = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            with Image.open(file) as im:
                im = im.convert("L" if channels == 1 else "RGB").resize((width, height))
                images.append(np.asarray(im, np.float32).reshape(height, width, channels) / 255.0)
            labels.append(sub.name)
    if not images:
        raise BadInputError("no example images found (one sub-folder per label, holding .png/.jpg files)",
                            where=str(folder), fix="lay the examples out as FOLDER/LABEL/IMAGE.png")
    y = np.array([int(v) for v in labels]) if all(v.isdigit() for v in labels) else np.array(labels)
    return np.stack(images), y


def _keras_layout(x: np.ndarray, input_shape: tuple[int, ...], where: str) -> np.ndarray:
    x = np.asarray(x)
    scaled = x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)
    if scaled.shape[1:] == tuple(input_shape):
        return scaled
    if scaled.ndim == len(input_shape) and input_shape[-1] == 1 and scaled.shape[1:] == tuple(input_shape[:-1]):
        return scaled[..., None]
    if len(input_shape) == 3 and scaled.ndim == 4 and scaled.shape[1:] == (input_shape[2], *input_shape[:2]):
        return scaled.transpose(0, 2, 3, 1)          # given in Core ML's (N, C, H, W)
    raise BadInputError(f"example images of shape {scaled.shape[1:]} do not fit the model input {input_shape}",
                        where=where, fix="give images of the model's input size")


# ---------------------------------------------------------------------------- the driver


def personalize(source: Any, *, mode: str, embedding: str, knn: KNNOptions | None = None,
                options: UpdateOptions | None = None, examples: str | os.PathLike | None = None,
                class_labels: Sequence | None = None, linked_name: str | None = None,
                allow_unsafe: bool = False) -> PersonalizedModel:
    """Cut the Keras model after ``embedding`` and build the personalization pipeline (see module doc)."""
    if mode not in MODES:
        raise BadInputError(f"unknown personalization '{mode}'", fix="use knn or head")
    model = _load(source, allow_unsafe)
    extractor_keras, head_keras = split_keras(model, embedding)
    report = ConversionReport()
    extractor = extractor_spec(extractor_keras, report)
    out_fd = next(fd for fd in extractor.description.output if fd.name == EMBEDDING)
    notes: list[str] = []
    count = 0
    if mode == "knn":
        shape = tuple(out_fd.type.multiArrayType.shape)
        if len(shape) != 1:
            raise BadInputError(f"the output of '{embedding}' has shape {shape}; a k-NN needs a vector",
                                where="--embedding", fix="cut at a Flatten, Dense or pooling-to-vector layer")
        knn = knn or KNNOptions()
        x = y = None
        if examples is not None:
            x_keras, y = read_examples(examples, tuple(extractor_keras.inputs[0].shape[1:]))
            x = extractor_keras.predict(x_keras, verbose=0, batch_size=256).reshape(len(x_keras), -1)
            count = len(x)
        labels_are_int = _labels_are_int(y, class_labels, knn.default_label)
        last = knn_spec(shape[0], knn, labels_are_int, x, None if y is None else y.tolist())
        report.add(stage="personalize", action="added", subject="k-NN",
                   reason=f"k={knn.k} (a run may pick {knn.k_range[0]}..{knn.k_range[1]}), {knn.weighting} "
                          f"weighting, {knn.index} index, {count} stored example(s)")
        names = ["extractor", "knn"]
    else:
        if examples is not None:
            raise BadInputError("--examples fills a k-NN; a neural-network head trains on device",
                                fix="drop --examples, or use --personalize knn")
        last = head_spec(head_keras, options or UpdateOptions(), report, class_labels)
        names = ["extractor", "head"]
    first = extractor
    if linked_name:
        first = linked_stub(extractor, linked_name)
        report.add(stage="personalize", action="note", subject="extractor",
                   reason=f"linked: the pipeline references '{linked_name}' (written as {extractor_file(linked_name)})")
    label = next(fd for fd in last.description.trainingInput if fd.name == last.description.predictedFeatureName)
    training = list(extractor.description.input) + [label]
    spec = pipeline_classifier([first, last], names, training)
    _metadata(spec, model, mode, embedding)
    from ground.rules import check

    check(spec, context="the personalization pipeline")
    return PersonalizedModel(spec, extractor, report, mode, linked_name, count, notes)


def _labels_are_int(y: np.ndarray | None, class_labels: Sequence | None, default: Any) -> bool:
    if y is not None:
        return np.issubdtype(np.asarray(y).dtype, np.integer)
    if class_labels:
        return all(isinstance(v, (int, np.integer)) for v in class_labels)
    if default is not None:
        return isinstance(default, (int, np.integer)) or (isinstance(default, str) and _is_int(default))
    return False


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _metadata(spec: Model_pb2.Model, model: Any, mode: str, embedding: str) -> None:
    from ground import __version__

    meta = spec.description.metadata
    what = "an updatable k-NN" if mode == "knn" else "an updatable neural-network head"
    meta.shortDescription = f"'{model.name}' up to '{embedding}' (frozen), then {what}; by coreml-updatable"
    meta.userDefined["coreml_updatable.version"] = __version__
    meta.userDefined["coreml_updatable.personalize"] = mode
    meta.userDefined["coreml_updatable.embedding"] = embedding
