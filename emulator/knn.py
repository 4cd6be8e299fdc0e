"""Core ML's k-Nearest-Neighbors classifier: predict, and update as MLUpdateTask does (append examples).

The index (linear or kd-tree) changes only the speed: both return the same neighbors, the squared
Euclidean distance decides, and what Core ML leaves undocumented (weights, ties, probabilities) comes
from :data:`emulator.conventions.KNN`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ground.errors import BadInputError, UnsupportedConfigError
from ground.update_params import NUMBER_OF_NEIGHBORS, OVERRIDES, read_param

from . import features as F
from .conventions import KNN, KNNConventions
from .described import SpecModel, SpecResult
from .settings import _pick

log = logging.getLogger(__name__)

ROWS_PER_CHUNK = 1024
"""Query rows per distance matrix (bounds the memory of a linear search)."""


class KNNModel(SpecModel):
    """A ``kNearestNeighborsClassifier`` spec. Build one with :func:`emulator.load`."""

    kind = "kNearestNeighborsClassifier"

    def __init__(self, spec: Any, conventions: KNNConventions = KNN) -> None:
        self.spec = spec
        self.knn = spec.kNearestNeighborsClassifier
        self.conventions = conventions
        desc = spec.description
        self.inputs = [F.describe(fd) for fd in desc.input]
        self.outputs = [F.describe(fd) for fd in desc.output]
        self.training_inputs = [F.describe(fd) for fd in desc.trainingInput]
        index = self.knn.nearestNeighborsIndex
        self.dimensions = int(index.numberOfDimensions)
        self.index_type = index.WhichOneof("IndexType") or ""
        self.weighting = self.knn.WhichOneof("WeightingScheme") or ""
        if self.weighting not in ("uniformWeighting", "inverseDistanceWeighting"):
            raise UnsupportedConfigError("KNearestNeighborsClassifier requires a weighting scheme to be set.",
                                         where="kNearestNeighborsClassifier", fix="set uniform or inverse-distance")
        self.samples = np.array([list(v.vector) for v in index.floatSamples], dtype=np.float32).reshape(
            len(index.floatSamples), self.dimensions)
        which = self.knn.WhichOneof("ClassLabels")
        self.sample_labels: list = list(getattr(self.knn, which).vector) if which else []
        self.labels_are_int = self._labels_are_int()
        self.class_labels: list = list(dict.fromkeys(self.sample_labels))
        """Distinct labels in the order they were first stored: the columns of the probability output."""
        self._tree = None

    def _labels_are_int(self) -> bool:
        which = self.knn.WhichOneof("ClassLabels")
        if which:
            return which == "int64ClassLabels"
        return self.knn.WhichOneof("DefaultClassLabel") == "defaultInt64Label"

    # ------------------------------------------------------------------ description

    @property
    def default_label(self):
        which = self.knn.WhichOneof("DefaultClassLabel")
        return getattr(self.knn, which) if which else None

    @property
    def input_name(self) -> str:
        tensors = [f for f in self.inputs if f.is_tensor]
        if len(tensors) != 1:
            raise BadInputError(f"a k-NN classifier takes one array input, this one declares {len(tensors)}",
                                where="kNearestNeighborsClassifier", fix="declare one multiArray input")
        return tensors[0].name

    def number_of_neighbors(self, override: int | None = None) -> int:
        """The model's k, or ``override`` checked against its allowed range or set."""
        name = NUMBER_OF_NEIGHBORS
        return int(_pick(name.option, read_param(self.knn.numberOfNeighbors, name.kind), override, name.kind))

    # ------------------------------------------------------------------ predict

    def _queries(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> np.ndarray:
        name = self.input_name
        if isinstance(inputs, Mapping):
            if name not in inputs:
                raise BadInputError(f"input '{name}' is missing", fix=f"pass a dict with '{name}'")
            inputs = inputs[name]
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim == 1:
            x = x[None]
        x = x.reshape(len(x), -1) if x.ndim > 2 and int(np.prod(x.shape[1:])) == self.dimensions else x
        if x.ndim != 2 or x.shape[1] != self.dimensions:
            raise BadInputError(f"input '{name}' has shape {tuple(np.shape(inputs))}, expected (N, {self.dimensions})",
                                fix=f"pass vectors of {self.dimensions} values")
        if not np.all(np.isfinite(x)):
            raise BadInputError(f"input '{name}' contains NaN or infinite values", fix="clean the data")
        return x

    def neighbors(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, squared distances), each (N, min(k, stored)), nearest first, ties first-stored."""
        n = len(self.samples)
        k = min(k, n)
        if k == 0:
            return np.zeros((len(x), 0), np.int64), np.zeros((len(x), 0))
        if self.index_type == "singleKdTreeIndex" and n > k:
            return self._kdtree_neighbors(x, k)
        idx_chunks, dist_chunks = [], []
        samples = self.samples.astype(np.float64)
        for start in range(0, len(x), ROWS_PER_CHUNK):
            d = _squared_distances(x[start:start + ROWS_PER_CHUNK], samples)
            order = np.argsort(d, axis=1, kind="stable")[:, :k]
            idx_chunks.append(order)
            dist_chunks.append(np.take_along_axis(d, order, axis=1))
        return np.concatenate(idx_chunks), np.concatenate(dist_chunks)

    def _kdtree_neighbors(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from scipy.spatial import cKDTree

        samples = self.samples.astype(np.float64)
        if self._tree is None:
            self._tree = cKDTree(samples, leafsize=max(1, int(self.knn.nearestNeighborsIndex.singleKdTreeIndex.leafSize)))
        _, found = self._tree.query(x, k=min(k + 1, len(samples)))
        cand = np.asarray(found).reshape(len(x), -1)
        d = np.empty(cand.shape)
        for start in range(0, len(x), ROWS_PER_CHUNK):
            diff = x[start:start + ROWS_PER_CHUNK, None, :] - samples[cand[start:start + ROWS_PER_CHUNK]]
            d[start:start + ROWS_PER_CHUNK] = np.einsum("ijk,ijk->ij", diff, diff)
        order = np.lexsort((cand, d), axis=-1)            # by distance, then by storage order
        cand, d = np.take_along_axis(cand, order, 1), np.take_along_axis(d, order, 1)
        idx, dist = cand[:, :k].copy(), d[:, :k].copy()
        if cand.shape[1] > k:
            for row in np.flatnonzero(d[:, k] <= d[:, k - 1]):   # a tie across the k-th place: every tied example
                ball = np.asarray(self._tree.query_ball_point(x[row], np.sqrt(d[row, k - 1]) * (1 + 1e-9) + 1e-300))
                near = np.union1d(cand[row], ball)
                dd = _squared_distances(x[row:row + 1], samples[near])[0]
                pick = np.lexsort((near, dd))[:k]
                idx[row], dist[row] = near[pick], dd[pick]
        return idx, dist

    def scores(self, idx: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """(N, labels) vote totals per class label (columns as :attr:`class_labels`)."""
        column = {label: i for i, label in enumerate(self.class_labels)}
        label_idx = np.array([column[label] for label in self.sample_labels], dtype=np.int64)
        if self.weighting == "uniformWeighting":
            weights = np.ones_like(dist)
        else:
            zero = dist == 0
            with np.errstate(divide="ignore"):
                weights = np.where(zero.any(axis=1, keepdims=True), zero.astype(np.float64), 1.0 / dist)
        out = np.zeros((len(idx), len(self.class_labels)))
        rows = np.repeat(np.arange(len(idx)), idx.shape[1])
        np.add.at(out, (rows, label_idx[idx].ravel()), weights.ravel())
        return out

    def predict(self, inputs: Mapping[str, np.ndarray] | np.ndarray, *, number_of_neighbors: int | None = None,
                **_: Any) -> dict[str, np.ndarray]:
        """Labels ``(N,)`` and class probabilities ``(N, labels)`` ordered as :attr:`class_labels`."""
        x = self._queries(inputs)
        k = self.number_of_neighbors(number_of_neighbors)
        if not self.sample_labels:
            labels = np.array([self.default_label] * len(x), dtype=object if not self.labels_are_int else np.int64)
            probs = np.zeros((len(x), 0))
        else:
            idx, dist = self.neighbors(x, k)
            score = self.scores(idx, dist)
            total = score.sum(axis=1, keepdims=True)
            probs = score / np.where(total > 0, total, 1)
            labels = self._winners(score, idx)
        out = {}
        if self.label_output:
            out[self.label_output] = labels
        out[self.probability_output or "classProbability"] = probs
        return out

    def _winners(self, score: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The label with the most votes per row; equal votes go to the nearest neighbor's label."""
        column = {label: i for i, label in enumerate(self.class_labels)}
        neighbor_cols = np.array([column[label] for label in self.sample_labels], dtype=np.int64)[idx]
        best = score.max(axis=1, keepdims=True)
        tied = np.isclose(score, best, rtol=1e-12, atol=0)
        winner = np.argmax(score, axis=1)
        for row in np.flatnonzero(tied.sum(axis=1) > 1):
            winner[row] = next(c for c in neighbor_cols[row] if tied[row, c])
        labels = np.asarray(self.class_labels, dtype=np.int64 if self.labels_are_int else object)
        return labels[winner]

    def probabilities_as_dicts(self, probs: np.ndarray) -> list[dict]:
        """Core ML's form of the probability output: one {label: probability} per row."""
        return [dict(zip(self.class_labels, map(float, row))) for row in probs]

    # ------------------------------------------------------------------ update (save: SpecModel)

    def target_name(self) -> str:
        """The training input that holds the labels (the classifier's predicted feature)."""
        names = [f.name for f in self.training_inputs if f.name != self.input_name]
        if self.label_output in names or not names:
            return self.label_output or "label"
        return names[0]

    def update(self, data: Mapping[str, np.ndarray], *, number_of_neighbors: int | None = None,
               progress: bool = False, callbacks: Any = (), **overrides: Any) -> "KNNUpdateResult":
        """Append the examples in ``data`` (input name -> (N, D), label name -> (N,)) to the index."""
        unknown = sorted(set(overrides) - set(OVERRIDES))
        if unknown:
            raise BadInputError(f"unknown override(s) {unknown}", fix="a k-NN takes number_of_neighbors")
        ignored = sorted(k for k, v in overrides.items() if v is not None)
        if ignored:
            log.info("k-NN update: %s play no part (the examples are appended)", ", ".join(ignored))
        if not self.spec.isUpdatable:
            raise BadInputError("the model is not updatable (isUpdatable is false)",
                                fix="mark the k-NN updatable (coreml-updatable convert --personalize knn)")
        k = self.number_of_neighbors(number_of_neighbors)
        name, target = self.input_name, self.target_name()
        missing = [n for n in (name, target) if n not in data]
        if missing:
            raise BadInputError(f"training data does not match the model's training inputs: missing {missing}",
                                fix=f"pass a dict with {[name, target]}")
        x = self._queries(data[name]).astype(np.float32)
        labels = self._check_labels(data[target], len(x))
        new_spec = type(self.spec)()
        new_spec.CopyFrom(self.spec)
        knn = new_spec.kNearestNeighborsClassifier
        for row in x:
            knn.nearestNeighborsIndex.floatSamples.add().vector.extend(row.tolist())
        (knn.int64ClassLabels if self.labels_are_int else knn.stringClassLabels).vector.extend(labels)
        model = KNNModel(new_spec, self.conventions)
        log.info("k-NN update: appended %d examples (now %d), k=%d", len(x), len(model.samples), k)
        return KNNUpdateResult(model, added=len(x), number_of_neighbors=k, conventions=self.conventions.describe())

    def _check_labels(self, values: Any, n: int) -> list:
        values = np.asarray(values)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or len(values) != n:
            raise BadInputError(f"the labels have shape {values.shape}, expected ({n},): one label per example",
                                fix="pass one class label per input row")
        if self.labels_are_int:
            if not (np.issubdtype(values.dtype, np.integer) or (np.issubdtype(values.dtype, np.floating)
                                                                 and np.all(np.mod(values, 1) == 0))):
                raise BadInputError(f"the model's class labels are Int64, the labels given are {values.dtype}",
                                    fix="pass integer labels")
            return [int(v) for v in values]
        if not all(isinstance(v, str) for v in values.tolist()):
            raise BadInputError("the model's class labels are strings; the labels given are not",
                                fix="pass string labels")
        return [str(v) for v in values.tolist()]


@dataclass
class KNNUpdateResult(SpecResult):
    """A k-NN after an update: the model with the examples appended, and what was done."""

    model: KNNModel
    added: int
    number_of_neighbors: int
    conventions: dict[str, str]

    def summary(self) -> dict[str, Any]:
        return {"added_examples": self.added, "stored_examples": len(self.model.samples),
                "number_of_neighbors": self.number_of_neighbors, "conventions": self.conventions}


def _squared_distances(x: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """(rows of x, samples) squared Euclidean distances, summed difference by difference (no cancellation,
    so a stored example's distance to itself is exactly 0), a few million values at a time."""
    out = np.empty((len(x), len(samples)))
    step = max(1, 4_000_000 // max(1, len(samples) * samples.shape[1]))
    for start in range(0, len(x), step):
        diff = x[start:start + step, None, :] - samples[None, :, :]
        out[start:start + step] = np.einsum("ijk,ijk->ij", diff, diff)
    return out
