"""Core ML pipelines (``pipeline``, ``pipelineClassifier``, ``pipelineRegressor``) and ``linkedModel``.

A pipeline runs its models in order, passing features by name: each model reads its inputs from the
pipeline's inputs and the outputs of the models before it. Only the last model trains; an update
writes a pipeline whose other models are byte for byte the ones it had. A ``linkedModel`` names
another model file, resolved relative to the folder of the model that links it; a path that leaves
that folder is refused.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ground.errors import BadInputError, UnsupportedModelError
from ground.spec_io import read_spec

from . import features as F
from .described import SpecModel, SpecResult

log = logging.getLogger(__name__)

PIPELINE_TYPES = ("pipeline", "pipelineClassifier", "pipelineRegressor")
SPECIAL_SEARCH_PATHS = ("$BUNDLE_MAIN", "$BUNDLE_THIS", "$BUNDLE_IDENTIFIER")
"""Search paths naming an app bundle: on Linux, the folder of the linking model (the bundle holds both)."""

MAX_LINK_DEPTH = 8


def pipeline_message(spec: Any) -> Any:
    """The ``Pipeline`` message of any of the three pipeline types."""
    kind = spec.WhichOneof("Type")
    return spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline


class PipelineModel(SpecModel):
    """A pipeline spec with runtime models for each stage. Build one with :func:`emulator.load`."""

    def __init__(self, spec: Any, stages: list[Any]) -> None:
        self.spec = spec
        self.kind = spec.WhichOneof("Type")
        self.stages = stages
        """The runtime model of each sub-model (a linked one: the model it links to)."""
        desc = spec.description
        self.inputs = [F.describe(fd) for fd in desc.input]
        self.outputs = [F.describe(fd) for fd in desc.output]
        self.training_inputs = [F.describe(fd) for fd in desc.trainingInput]
        self.names = list(pipeline_message(spec).names)

    @property
    def last(self) -> Any:
        return self.stages[-1]

    @property
    def class_labels(self) -> list | None:
        return getattr(self.last, "class_labels", None) if self.kind != "pipelineRegressor" else None

    def probabilities_as_dicts(self, probs: np.ndarray) -> list[dict]:
        return self.last.probabilities_as_dicts(probs)

    # ------------------------------------------------------------------ predict

    def _start(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, Any]:
        """The pipeline's inputs by name (one array is the single input)."""
        if not isinstance(inputs, Mapping):
            if len(self.inputs) != 1:
                raise BadInputError(f"the pipeline has {len(self.inputs)} inputs "
                                    f"({', '.join(f.name for f in self.inputs)}); pass a dict by name")
            inputs = {self.inputs[0].name: inputs}
        missing = [f.name for f in self.inputs if f.name not in inputs]
        if missing:
            raise BadInputError(f"the pipeline's inputs {missing} are missing",
                                fix=f"pass {[f.name for f in self.inputs]}")
        return {f.name: inputs[f.name] for f in self.inputs}

    def _run(self, values: dict[str, Any], stages: range, params: dict[str, Any]) -> dict[str, Any]:
        for i in stages:
            stage = self.stages[i]
            needed = {f.name: values[f.name] for f in stage.inputs}
            values.update(_predict(stage, needed, params))
        return values

    def predict(self, inputs: Mapping[str, np.ndarray] | np.ndarray, **params: Any) -> dict[str, np.ndarray]:
        """The pipeline's outputs by name. ``params``: run parameters for the stages that take them
        (``number_of_neighbors`` for a k-NN, ``batch_size`` for a neural network)."""
        values = self._run(self._start(inputs), range(len(self.stages)), params)
        return {f.name: values[f.name] for f in self.outputs if f.name in values}

    # ------------------------------------------------------------------ update (save: SpecModel)

    def update(self, data: Mapping[str, np.ndarray], **overrides: Any) -> "PipelineUpdateResult":
        """Train the last model on ``data`` (the pipeline's training inputs by name), the others frozen.

        The models before the last one compute the last one's inputs; ``overrides`` go to its update.
        """
        if not self.spec.isUpdatable:
            raise BadInputError("the pipeline is not updatable (isUpdatable is false)",
                                fix="convert it with 'coreml-updatable convert --personalize ...'")
        from .training import refuse_what_core_ml_refuses

        refuse_what_core_ml_refuses(self.spec)
        declared = [f.name for f in self.training_inputs]
        missing = [n for n in declared if n not in data]
        if missing:
            raise BadInputError(f"training data does not match the pipeline's training inputs: missing {missing}",
                                fix=f"pass a dict with {declared}")
        values = {f.name: data[f.name] for f in self.inputs if f.name in data}
        values = self._run(values, range(len(self.stages) - 1), {})
        last_data = {}
        for f in self.last.training_inputs:
            if f.name in values:
                last_data[f.name] = values[f.name]
            elif f.name in data:
                last_data[f.name] = data[f.name]
            else:
                raise BadInputError(f"the last model's training input '{f.name}' is neither computed by the "
                                    "pipeline nor given", fix=f"pass '{f.name}' (the pipeline declares {declared})")
        inner = self.last.update(last_data, **overrides)
        new_spec = type(self.spec)()
        new_spec.CopyFrom(self.spec)
        pipeline_message(new_spec).models[-1].CopyFrom(inner.spec)
        return PipelineUpdateResult(PipelineModel(new_spec, self.stages[:-1] + [inner.model]), inner)


@dataclass
class PipelineUpdateResult(SpecResult):
    """The pipeline after training its last model, and that model's own update result."""

    model: PipelineModel
    inner: Any

    def summary(self) -> dict[str, Any]:
        return {"trained_model": len(self.model.stages) - 1, **self.inner.summary()}

    def __getattr__(self, name: str) -> Any:       # epoch_losses, settings, ... of the trained model
        if name in ("model", "inner"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def _predict(stage: Any, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """One stage's outputs; run parameters a stage does not take are left out."""
    from .knn import KNNModel

    if isinstance(stage, KNNModel):
        return stage.predict(inputs, number_of_neighbors=params.get("number_of_neighbors"))
    if isinstance(stage, PipelineModel):
        return stage.predict(inputs, **params)
    kwargs = {"batch_size": params["batch_size"]} if params.get("batch_size") else {}
    return stage.predict(inputs, **kwargs)


def build_pipeline(spec: Any, base_dir: Path | None, load_spec: Callable[..., Any], depth: int) -> PipelineModel:
    """Runtime models for every sub-model of a pipeline spec."""
    models = list(pipeline_message(spec).models)
    if not models:
        raise UnsupportedModelError("Pipeline must contain one or more models.", fix="add the sub-models")
    return PipelineModel(spec, [load_spec(m, base_dir=base_dir, depth=depth + 1) for m in models])


def resolve_link(spec: Any, base_dir: Path | None) -> Path:
    """The file a ``linkedModel`` spec names, inside ``base_dir`` (the linking model's folder)."""
    link = spec.linkedModel.linkedModelFile
    name = link.linkedModelFileName.defaultValue
    if not name:
        raise BadInputError("LinkedModel.linkedModelFile.linkedModeFileName.defaultValue cannot be empty.",
                            where="linkedModel", fix="name the linked model file")
    if base_dir is None:
        raise BadInputError(f"the model links to '{name}', and a model read from bytes or a spec has no folder "
                            "to find it in", fix="load the model from its file path, or pass base_dir=")
    base = Path(base_dir).resolve()
    searched = []
    for entry in (link.linkedModelSearchPath.defaultValue or ".").split(":"):
        folder = "." if not entry or entry.startswith(SPECIAL_SEARCH_PATHS) else entry
        for candidate_name in _candidate_names(name):
            candidate = (base / folder / candidate_name)
            resolved = candidate.resolve()
            if resolved != base and base not in resolved.parents:
                raise BadInputError(
                    f"the linked model '{os.path.join(folder, candidate_name)}' lies outside the folder of the "
                    "model that links it", where=str(base),
                    fix="keep linked models in the linking model's folder (or below it)")
            searched.append(str(candidate))
            if resolved.is_file():
                return resolved
    raise BadInputError(f"the linked model '{name}' was not found (looked for {', '.join(searched)})",
                        where="linkedModel", fix="put the linked .mlmodel beside the model that links it")


def _candidate_names(name: str) -> list[str]:
    """A compiled name (``X.mlmodelc``, as an app bundle holds it) is also looked for as ``X.mlmodel``."""
    return [name, name[:-1]] if name.endswith(".mlmodelc") else [name]


def load_linked(spec: Any, base_dir: Path | None, load_spec: Callable[..., Any], depth: int) -> Any:
    """The runtime model of the file a ``linkedModel`` names; its interface must match the link's."""
    path = resolve_link(spec, base_dir)
    target = read_spec(path)
    if target.WhichOneof("Type") == "linkedModel" and depth >= MAX_LINK_DEPTH:
        raise BadInputError("linked models link to each other in a cycle", where=str(path),
                            fix="link to a model file, not to another link")
    if not _same_interface(spec.description, target.description):
        raise BadInputError("the linked model's inputs and outputs differ from those the link declares",
                            where=str(path), fix="re-export the link from the linked model's description")
    return load_spec(target, base_dir=path.parent, depth=depth + 1)


def _same_interface(a: Any, b: Any) -> bool:
    def key(fds):
        return sorted((fd.name, fd.type.SerializeToString(deterministic=True)) for fd in fds)
    return key(a.input) == key(b.input) and key(a.output) == key(b.output)
