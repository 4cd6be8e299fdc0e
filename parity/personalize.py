"""``verify --personalize head|knn``: a personalization pipeline against its independent references.

- ``head``: the pipeline's neural-network head against Keras fine-tuning the same layers with the rest
  of the model frozen. The frozen extractor is checked forward (Core ML vs Keras on the test images);
  the head is then trained side by side with Keras on the extractor's embeddings by
  :func:`parity.verify_pair` (same batches, lockstep, whole run); finally the whole pipeline is trained
  on the images and must give the same head, with the extractor byte for byte unchanged.
- ``knn``: the pipeline's k-NN, filled with the training images by ``update``, against scikit-learn's
  ``KNeighborsClassifier`` fitted on the same embeddings (same k and weighting): probabilities equal,
  labels equal wherever the vote has one winner, ties resolved as ``emulator.conventions.KNN`` says.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import data_loading as D
from ground.errors import BadInputError, UnsupportedConfigError
from ground.spec_io import write_atomic

from .report import Check, ParityReport
from .tolerances import DEFAULT, Tolerances

log = logging.getLogger(__name__)

KNN_PROBABILITY_TOLERANCE = 1e-6
"""scikit-learn computes brute-force distances by the dot-product expansion, the runtime difference by
difference: vote shares may differ by rounding only."""


@dataclass
class KNNReport(ParityReport):
    """The k-NN figures (checks only; no loss curves: a k-NN does not train by gradient)."""

    def table(self) -> str:
        lines = [f"k-NN parity: {self.source} on {self.data} ({self.n_train} stored, {self.n_test} test)",
                 f"settings: {', '.join(f'{k}={v}' for k, v in self.settings.items())}",
                 f"{'':5}{'check':<26} {'measured':>12} {'tolerance':>14}"]
        lines += [c.row() for c in self.checks]
        lines += [f"note: {n}" for n in self.notes]
        lines.append("PASSED: the Core ML k-NN predicts as scikit-learn's" if self.passed
                     else "FAILED: " + ", ".join(self.failed()))
        return "\n".join(lines)

    def save(self, folder: str | Path) -> dict[str, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return {"json": write_atomic(folder / "report.json", (json.dumps(self.to_dict(), indent=2) + "\n").encode())}


def verify_personalized(source: str | Path, data: str | Path | D.Dataset, *, mode: str, embedding: str,
                        options: Any | None = None, knn: Any | None = None, epochs: int | None = None,
                        batch_size: int | None = None, limit: int | None = None,
                        report_dir: str | Path | None = None, tolerances: Tolerances = DEFAULT,
                        progress: bool = False) -> ParityReport:
    """Build the personalization pipeline of ``source`` and check it (see the module doc)."""
    import keras

    from converter.keras.reader import load_keras
    from converter.personalize import personalize, split_keras

    from .harness import with_run_settings

    ds = (data if isinstance(data, D.Dataset) else D.load(data)).limit(limit)
    model = load_keras(Path(source))
    extractor_keras, head_keras = split_keras(model, embedding)
    xk_train, xk_test = (D.for_keras(x, tuple(model.input_shape[1:])) for x in (ds.x_train, ds.x_test))
    if mode == "knn":
        built = personalize(model, mode="knn", embedding=embedding, knn=knn)
        return _verify_knn(built.spec, ds, str(source), report_dir)
    if mode != "head":
        raise BadInputError(f"unknown personalization '{mode}'", fix="use head or knn")
    options = with_run_settings(options, epochs, batch_size)
    built = personalize(model, mode="head", embedding=embedding, options=options)
    return _verify_head(built.spec, extractor_keras, head_keras, ds, xk_train, xk_test, str(source), embedding,
                        options, epochs, batch_size, report_dir, tolerances, progress, keras)


def _verify_head(spec, extractor_keras, head_keras, ds, xk_train, xk_test, source, embedding, options, epochs,
                 batch_size, report_dir, t, progress, keras) -> ParityReport:
    import emulator

    from .harness import verify_pair

    pipeline = emulator.load(spec)
    feature = next(f for f in pipeline.inputs if f.is_tensor)
    xc_train, xc_test = (D.for_coreml(x, feature.shape) for x in (ds.x_train, ds.x_test))
    k_train = extractor_keras.predict(xk_train, verbose=0, batch_size=512).reshape(len(xk_train), -1)
    k_test = extractor_keras.predict(xk_test, verbose=0, batch_size=512).reshape(len(xk_test), -1)
    c_test = pipeline.stages[0].predict({feature.name: xc_test})["embedding"].reshape(len(xc_test), -1)
    extractor_abs = float(np.max(np.abs(k_test - c_test)))

    embeddings = D.Dataset(k_train, ds.y_train, k_test, ds.y_test, f"{ds.source}, embedded by '{embedding}'")
    head_spec = spec.pipelineClassifier.pipeline.models[-1]
    report = verify_pair(head_keras, head_spec, embeddings, options=options, epochs=epochs, batch_size=batch_size,
                         tolerances=t, progress=progress, source=f"{source} (head after '{embedding}')")
    report.checks.insert(0, Check("extractor forward (test)", extractor_abs, t.forward_abs, extractor_abs <= t.forward_abs,
                                  "max |Keras - Core ML| of the frozen extractor's embedding"))
    report.notes.append("Keras side: the source model's layers after the embedding, trained with every layer up "
                        "to it frozen (the same as fine-tuning the whole model with those layers frozen, since "
                        "frozen layers run in inference mode)")
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v is not None}
    whole = pipeline.update({feature.name: xc_train, "classLabel": ds.y_train.astype(np.int64)}, **overrides)
    c_train = pipeline.stages[0].predict({feature.name: xc_train})["embedding"]
    alone = emulator.load(head_spec).update({"embedding": c_train, "classLabel": ds.y_train.astype(np.int64)},
                                            **overrides)
    new_models = whole.spec.pipelineClassifier.pipeline.models
    same_head = new_models[-1].SerializeToString(deterministic=True) == alone.spec.SerializeToString(deterministic=True)
    report.checks.append(Check("pipeline trains its head", 0.0 if same_head else 1.0, 0.0, same_head,
                               "the pipeline's update on images = the head's update on the extractor's embeddings"))
    frozen_same = all(a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
                      for a, b in zip(spec.pipelineClassifier.pipeline.models[:-1], new_models[:-1]))
    report.checks.append(Check("extractor bytes unchanged", 0.0 if frozen_same else 1.0, 0.0, frozen_same,
                               "every sub-model but the head is byte for byte the same after training"))
    accuracy = float(np.mean(whole.model.predict({feature.name: xc_test})["classLabel"] == ds.y_test))
    report.notes.append(f"the trained pipeline's test accuracy: {accuracy:.4f}")
    if report_dir is not None:
        report.save(report_dir)
    return report


def _verify_knn(spec, ds, source, report_dir) -> KNNReport:
    import emulator

    try:
        from sklearn.neighbors import KNeighborsClassifier
    except ImportError:
        raise UnsupportedConfigError("verify --personalize knn compares against scikit-learn, which is not installed",
                                     fix="pip install scikit-learn (or the project's [test] extra)") from None
    pipeline = emulator.load(spec)
    feature = next(f for f in pipeline.inputs if f.is_tensor)
    xc_train, xc_test = (D.for_coreml(x, feature.shape) for x in (ds.x_train, ds.x_test))
    trained = pipeline.update({feature.name: xc_train, "classLabel": ds.y_train.astype(np.int64)}).model
    knn = trained.last
    extractor = trained.stages[0]
    e_train = extractor.predict({feature.name: xc_train})["embedding"].reshape(len(xc_train), -1)
    e_test = extractor.predict({feature.name: xc_test})["embedding"].reshape(len(xc_test), -1)
    k = knn.number_of_neighbors()
    distance = knn.weighting == "inverseDistanceWeighting"
    sk = KNeighborsClassifier(k, weights=_inverse_squared if distance else "uniform",
                              algorithm="kd_tree" if knn.index_type == "singleKdTreeIndex" else "brute")
    sk.fit(e_train, ds.y_train)
    ours = trained.predict({feature.name: xc_test})
    probs = ours[trained.probability_output][:, [knn.class_labels.index(c) for c in sk.classes_]]
    ref = sk.predict_proba(e_test)
    report = KNNReport(source=source, data=ds.source, n_train=len(ds.y_train), n_test=len(ds.y_test),
                       settings={"k": k, "weighting": "inverse distance" if distance else "uniform",
                                 "index": knn.index_type, "stored_examples": len(knn.samples)},
                       keras_settings={"reference": f"scikit-learn KNeighborsClassifier(n_neighbors={k}, "
                                                    f"weights={'1/d^2' if distance else 'uniform'})"},
                       tolerances={"probabilities": KNN_PROBABILITY_TOLERANCE})
    stored_ok = np.array_equal(knn.samples, e_train.astype(np.float32)) and knn.sample_labels == ds.y_train.tolist()
    report.checks.append(Check("update appended examples", 0.0 if stored_ok else 1.0, 0.0, stored_ok,
                               f"{len(knn.samples)} embeddings and labels stored in order"))
    diff = float(np.max(np.abs(probs - ref))) if len(ref) else 0.0
    report.checks.append(Check("probabilities vs sklearn", diff, KNN_PROBABILITY_TOLERANCE,
                               diff <= KNN_PROBABILITY_TOLERANCE, "max |Core ML - scikit-learn| vote share"))
    top = np.isclose(ref, ref.max(1, keepdims=True), rtol=1e-9, atol=0)
    unique = top.sum(1) == 1
    labels = ours[trained.label_output]
    wrong = int(np.sum(labels[unique] != sk.predict(e_test)[unique]))
    report.checks.append(Check("labels vs sklearn", wrong, 0, wrong == 0,
                               f"{int(unique.sum())} test examples with one winning label"))
    _, neighbors = sk.kneighbors(e_test)
    tie_wrong = 0
    for row in np.flatnonzero(~unique):
        best = set(sk.classes_[top[row]])
        nearest = next(sk.classes_[sk._y[j]] for j in neighbors[row] if sk.classes_[sk._y[j]] in best)
        tie_wrong += int(labels[row] != nearest)
    report.checks.append(Check("ties (nearest wins)", tie_wrong, 0, tie_wrong == 0,
                               f"{int((~unique).sum())} tied votes resolved as the runtime's conventions say"))
    report.notes.append(f"test accuracy: Core ML {np.mean(labels == ds.y_test):.4f}, scikit-learn "
                        f"{np.mean(sk.predict(e_test) == ds.y_test):.4f}")
    report.conventions = knn.conventions.describe()
    if report_dir is not None:
        report.save(report_dir)
    return report


def _inverse_squared(d: np.ndarray) -> np.ndarray:
    """The runtime's inverse-distance weight from scikit-learn's Euclidean distances: 1 / d^2, and at
    distance 0 only the exact matches vote."""
    with np.errstate(divide="ignore"):
        w = 1.0 / np.square(d)
    zero = d == 0
    return np.where(zero.any(axis=1, keepdims=True), zero.astype(float), w)
