"""The emulator's model: load any NeuralNetwork ``.mlmodel``, predict, update, save."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from ground import limits
from ground.errors import BadInputError, UnsupportedModelError, ValidationError
from ground.rules import structure_violations

from . import features as F
from . import rank_n as R
from . import training
from .described import SpecModel
from .layers.preprocessing import preprocessors
from .network import Network, refusal, wants_rank_n
from ground.spec_io import NEURAL_NETWORK_TYPES, model_type, read_spec

log = logging.getLogger(__name__)


class Model(SpecModel):
    """A Core ML NeuralNetwork model (plain, classifier or regressor) run by TensorFlow.

    Build one with :func:`load`. Arrays go in and come out in Core ML's layout (batch axis first).
    """

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.kind = model_type(spec)
        self.nn = getattr(spec, self.kind)
        refuse_unrunnable(spec)
        desc = spec.description
        exact = self.nn.arrayInputShapeMapping == 1   # EXACT_ARRAY_MAPPING: declared ranks are blob ranks
        self.inputs = [F.describe(fd, exact=exact) for fd in desc.input]
        self.outputs = [F.describe(fd, exact=exact) for fd in desc.output]
        self.training_inputs = [F.describe(fd, exact=exact) for fd in desc.trainingInput]
        # Core ML's N-dimensional semantics run in the rank-N engine; a network it cannot run whose exact
        # inputs are [1, C, H, W] / [1, 1, C, H, W] runs in the (N, H, W, C) engine as (C, H, W)
        rank_n = wants_rank_n(self.nn, self.inputs)
        if rank_n and any(refusal(layer, True) for layer in self.nn.layers):
            rank_n = wants_rank_n(self.nn, [f for f in self.inputs if not (f.kind == "multiArray" and f.net_shape)])
        self.layout = R.Layout(self.nn) if rank_n else F
        """Where arrays change layout: ``to_backend``, ``from_backend``, ``backend_shape`` (features.py's
        (N, H, W, C) layout, or rank_n.Layout's Core ML shapes)."""
        if exact and not rank_n:
            for f in self.inputs:
                F.check_exact_input(f)
        self.input_shapes = {f.name: self.layout.backend_shape(f) for f in self.inputs
                             if f.is_tensor and (rank_n or len(f.blob_shape) in (1, 3))}
        """Backend shape of each array input ((H, W, C), or the Core ML blob shape in the rank-N engine)."""
        protected = {f.name for f in self.outputs} | {getattr(self.nn, "labelProbabilityLayerName", "")} - {""}
        self.network = Network(self.nn, [f.name for f in self.inputs], preprocessors(spec, self.nn),
                               input_shapes=self.input_shapes, protected=protected, rank_n=rank_n)
        self.class_labels: list | None = None
        if self.kind == "neuralNetworkClassifier":
            which = self.nn.WhichOneof("ClassLabels")
            self.class_labels = list(getattr(self.nn, which).vector) if which else None
        self._predict_fn = None

    # ------------------------------------------------------------------ description

    def probability_blob(self) -> str:
        """The network blob that holds a classifier's class probabilities."""
        if self.nn.labelProbabilityLayerName:
            return self.nn.labelProbabilityLayerName
        name = self.probability_output
        if name and name in self.network.producer:
            return name
        candidates = [f.name for f in self.outputs if f.name in self.network.producer]
        if len(candidates) == 1:
            return candidates[0]
        raise BadInputError("cannot tell which blob holds the class probabilities",
                            fix="set labelProbabilityLayerName in the classifier spec")

    def network_outputs(self) -> list[str]:
        """Blobs the network must produce for the model's outputs."""
        if self.class_labels is not None:
            return [self.probability_blob()]
        return [f.name for f in self.outputs]

    # ------------------------------------------------------------------ predict

    def feeds(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Check user inputs against the description; return backend-layout arrays by name."""
        tensor_inputs = [f for f in self.inputs if f.is_tensor]
        if not isinstance(inputs, Mapping):
            if len(tensor_inputs) != 1:
                raise BadInputError(f"the model has {len(tensor_inputs)} inputs "
                                    f"({', '.join(f.name for f in tensor_inputs)}); pass a dict by name")
            inputs = {tensor_inputs[0].name: inputs}
        known = {f.name: f for f in tensor_inputs}
        unknown = sorted(set(inputs) - set(known))
        missing = sorted(set(known) - set(inputs))
        if unknown or missing:
            raise BadInputError(
                f"input names do not match the model: unknown {unknown}, missing {missing}",
                fix=f"the model's inputs are {sorted(known)}")
        out = {name: self.layout.to_backend(inputs[name], known[name]) for name in known}
        sizes = {len(a) for a in out.values()}
        if len(sizes) > 1:
            raise BadInputError(f"inputs have different batch sizes {sorted(sizes)}",
                                fix="pass the same number of rows for every input")
        return out

    def _compiled_predict(self):
        if self._predict_fn is None:
            names = [f.name for f in self.inputs if f.is_tensor]
            wanted = self.network_outputs()
            params = self.network.constant_params()
            shapes = {f.name: self.layout.backend_shape(f) for f in self.inputs if f.is_tensor}
            signature = [tf.TensorSpec((None, *shapes[n]), tf.float32) for n in names]

            @tf.function(input_signature=signature, autograph=False)
            def run(*tensors):
                blobs = self.network.forward(dict(zip(names, tensors)), params, wanted)
                return [blobs[w] for w in wanted]

            self._predict_fn = (names, wanted, run)
        return self._predict_fn

    def predict(self, inputs: Mapping[str, np.ndarray] | np.ndarray, *, batch_size: int = 512) -> dict[str, np.ndarray]:
        """Batched forward pass. Returns outputs by name in Core ML layout.

        A classifier returns its label output (an ``(N,)`` array of class labels) and its probability
        output as an ``(N, K)`` array ordered as ``class_labels`` (Core ML returns a label -> probability
        dictionary per example; :func:`probabilities_as_dicts` gives that form).
        """
        feeds = self.feeds(inputs)
        names, wanted, run = self._compiled_predict()
        n = len(next(iter(feeds.values())))
        chunks: list[list[np.ndarray]] = []
        for start in range(0, n, batch_size):
            result = run(*[tf.constant(feeds[k][start:start + batch_size]) for k in names])
            chunks.append([r.numpy() for r in result])
        raw = {w: np.concatenate([c[i] for c in chunks]) if chunks else np.zeros((0,)) for i, w in enumerate(wanted)}
        return self._outputs_from_blobs(raw)

    def _outputs_from_blobs(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.class_labels is None:
            by_name = {f.name: f for f in self.outputs}
            return {w: self.layout.from_backend(v, by_name.get(w)) for w, v in raw.items()}
        probs = raw[self.probability_blob()]
        probs = probs.reshape(len(probs), -1)
        labels = np.asarray(self.class_labels)[np.argmax(probs, axis=1)]
        out = {}
        if self.label_output:
            out[self.label_output] = labels
        out[self.probability_output or self.probability_blob()] = probs
        return out

    def probabilities_as_dicts(self, probs: np.ndarray) -> list[dict]:
        """Core ML's form of a classifier's probability output: one {label: probability} per row."""
        return [dict(zip(self.class_labels, map(float, row))) for row in probs]

    # ------------------------------------------------------------------ update (save: SpecModel)

    def update(self, data: Mapping[str, np.ndarray], **kwargs: Any):
        """Train with the model's own update parameters (see :func:`emulator.training.update`)."""
        return training.update(self, data, **kwargs)


def refuse_unrunnable(spec: Any) -> None:
    """Before anything is built or allocated: declared inputs under the size limit
    (:mod:`ground.limits`) and the structure Core ML checks before it runs any model (every
    blob produced before it is used, so a cycle is refused with the rule, outputs produced)."""
    limits.check_declared_inputs(spec)
    refused = [v for v in structure_violations(spec) if v.origin == "apple"]
    if refused:
        raise ValidationError(refused, context="Core ML would refuse to load this model: it")


RUNTIME_TYPES = NEURAL_NETWORK_TYPES + ("kNearestNeighborsClassifier", "pipeline", "pipelineClassifier",
                                        "pipelineRegressor", "linkedModel")


def load(source: Any, *, base_dir: str | os.PathLike | None = None) -> Any:
    """Load a model from a path, bytes, a ``Model`` spec or a coremltools ``MLModel``.

    NeuralNetwork models give a :class:`Model`, k-NN classifiers a :class:`~emulator.knn.KNNModel`,
    pipelines a :class:`~emulator.pipeline.PipelineModel`; all have ``predict``, ``update`` and ``save``.
    Linked models are found relative to ``base_dir`` (default: the folder of the file loaded).
    """
    if base_dir is None and isinstance(source, (str, os.PathLike)):
        base_dir = Path(source).parent
    return load_spec(read_spec(source), base_dir=Path(base_dir) if base_dir is not None else None)


def load_spec(spec: Any, *, base_dir: Path | None = None, depth: int = 0) -> Any:
    """The runtime model for a spec of any type the runtime handles."""
    from .knn import KNNModel
    from .pipeline import PIPELINE_TYPES, build_pipeline, load_linked

    kind = spec.WhichOneof("Type")
    if kind in NEURAL_NETWORK_TYPES:
        return Model(spec)
    if kind == "kNearestNeighborsClassifier":
        return KNNModel(spec)
    if kind in PIPELINE_TYPES:
        return build_pipeline(spec, base_dir, load_spec, depth)
    if kind == "linkedModel":
        return load_linked(spec, base_dir, load_spec, depth)
    raise UnsupportedModelError(
        f"model type '{kind}' is not supported; the runtime handles {', '.join(RUNTIME_TYPES)}",
        fix="convert the source model with 'coreml-updatable convert' (ML Programs cannot be updatable)")


def first_tensor_output(model: Model) -> str:
    """Name of the model's first output holding an array (a classifier's probabilities)."""
    if model.class_labels is not None:
        return model.probability_output or model.probability_blob()
    return model.outputs[0].name


def ensure_rows(arrays: Sequence[np.ndarray]) -> int:
    """The common row count of ``arrays`` (a data set), or a BadInputError naming the mismatch."""
    sizes = [len(a) for a in arrays]
    if len(set(sizes)) > 1:
        raise BadInputError(f"the data set's arrays have different lengths {sizes}",
                            fix="pass inputs and targets with one row per example")
    return sizes[0] if sizes else 0
