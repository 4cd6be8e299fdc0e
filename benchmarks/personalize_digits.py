"""Personalization on MNIST: a LeNet trained on digits 0-4 learns digits 5-9 from a few examples each.

``python benchmarks/personalize_digits.py [--data ../shared/data/mnist/mnist.npz] [--shots 10]``

1. trains the seeds' LeNet (``fixtures.build.lenet``) on the training digits 0-4 (Keras, quickly);
2. converts it twice with ``converter.personalize``: the layers up to ``dense1`` (500-d embedding) as a
   frozen extractor, then (a) an updatable k-NN, empty, and (b) the model's own Dense head, updatable;
3. trains both as a device would (``emulator``: MLUpdateTask's semantics) on ``--shots`` examples of each
   of the digits 5-9, and measures test accuracy on 5-9 before and after (and on 0-4, for forgetting);
4. repeats with 1, 2, 5, 10 and 20 examples per digit for the curve, and cross-checks the k-NN against
   scikit-learn on the same embeddings.

Writes ``benchmarks/results/personalize_digits.json`` and ``personalize_digits.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
OLD, NEW = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
SHOT_CURVE = (1, 2, 5, 10, 20)

import numpy as np  # noqa: E402


def pretrain(x: np.ndarray, y: np.ndarray, epochs: int, path: Path) -> dict:
    """The seeds' LeNet trained on ``x, y`` (digits 0-4), saved as a .keras file."""
    from fixtures.build import lenet

    model = lenet()
    started = time.perf_counter()
    history = model.fit(x[..., None], y, epochs=epochs, batch_size=128, verbose=0, shuffle=True)
    model.save(path)
    return {"epochs": epochs, "train_examples": int(len(x)), "seconds": round(time.perf_counter() - started, 1),
            "final_loss": float(history.history["loss"][-1])}


def few_shot(x: np.ndarray, y: np.ndarray, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``shots`` training examples of each new digit, interleaved (5, 6, 7, 8, 9, 5, ...)."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(y == d), shots, replace=False) for d in NEW]
    order = np.stack(picks, axis=1).ravel()
    return x[order], y[order]


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict({"image": x})["classLabel"] == y))


def main(argv: list[str] | None = None) -> int:
    import emulator
    import data_loading as D
    from converter.personalize import KNNOptions, personalize
    from transforms.options import UpdateOptions

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "mnist" / "mnist.npz"))
    p.add_argument("--shots", type=int, default=10, help="examples per new digit (default 10)")
    p.add_argument("--pretrain-epochs", type=int, default=2)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--head-epochs", type=int, default=30, help="on-device epochs of the NN head")
    p.add_argument("--head-learning-rate", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "personalize_digits"), help="output stem (.json, .png)")
    args = p.parse_args(argv)

    import keras
    keras.utils.set_random_seed(args.seed)
    ds = D.load(args.data)
    old_train = np.isin(ds.y_train, OLD)
    x_old = D.for_keras(ds.x_train[old_train])[..., 0]
    to_coreml = (lambda images: D.for_coreml(images, (1, 28, 28)))
    test_new, test_old = np.isin(ds.y_test, NEW), np.isin(ds.y_test, OLD)
    x_test_new, y_test_new = to_coreml(ds.x_test[test_new]), ds.y_test[test_new].astype(np.int64)
    x_test_old, y_test_old = to_coreml(ds.x_test[test_old]), ds.y_test[test_old].astype(np.int64)
    started = time.perf_counter()
    figures: dict = {"data": str(ds.source), "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                                         "load_average": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory() as tmp:
        lenet_path = Path(tmp) / "lenet_0to4.keras"
        figures["pretrain"] = pretrain(x_old, ds.y_train[old_train], args.pretrain_epochs, lenet_path)
        knn_spec = personalize(lenet_path, mode="knn", embedding="dense1",
                               knn=KNNOptions(k=args.k, default_label=-1)).spec
        head_options = UpdateOptions(epochs=args.head_epochs, learning_rate=args.head_learning_rate, seed=args.seed,
                                     batch_size=10)
        head_spec = personalize(lenet_path, mode="head", embedding="dense1", options=head_options,
                                class_labels=list(range(10))).spec
    knn, head = emulator.load(knn_spec), emulator.load(head_spec)
    figures["pretrained_accuracy_0to4"] = accuracy(head, x_test_old, y_test_old)

    curve: dict[str, dict[int, float]] = {"knn": {}, "head": {}}
    runs = {}
    for shots in sorted(set(SHOT_CURVE) | {args.shots}):
        x_few, y_few = few_shot(ds.x_train, ds.y_train, shots, args.seed)
        train = {"image": to_coreml(x_few), "classLabel": y_few.astype(np.int64)}
        knn_after = knn.update(train).model
        head_run = head.update(train)
        curve["knn"][shots] = accuracy(knn_after, x_test_new, y_test_new)
        curve["head"][shots] = accuracy(head_run.model, x_test_new, y_test_new)
        runs[shots] = (knn_after, head_run, train)

    knn_after, head_run, train = runs[args.shots]
    figures["examples_per_digit"] = args.shots
    figures["knn"] = {
        "k": args.k, "weighting": "uniform", "index": "linear",
        "accuracy_5to9_before": accuracy(knn, x_test_new, y_test_new),
        "accuracy_5to9_after": curve["knn"][args.shots],
        "stored_examples_after": int(len(knn_after.last.samples)),
        "note": "before: the k-NN is empty and predicts its default label (-1)",
    }
    figures["head"] = {
        "epochs": args.head_epochs, "learning_rate": args.head_learning_rate, "batch_size": 10,
        "accuracy_5to9_before": accuracy(head, x_test_new, y_test_new),
        "accuracy_5to9_after": curve["head"][args.shots],
        "accuracy_0to4_before": figures["pretrained_accuracy_0to4"],
        "accuracy_0to4_after": accuracy(head_run.model, x_test_old, y_test_old),
        "final_epoch_loss": head_run.epoch_losses[-1],
        "note": "the pretrained Dense(10) head, fine-tuned on the new digits only",
    }
    figures["curve_accuracy_5to9"] = {m: {str(k): v for k, v in c.items()} for m, c in curve.items()}
    figures["knn_vs_sklearn"] = sklearn_check(knn_after.last, knn_after.stages[0], x_test_new)
    figures["test_examples"] = {"digits_5to9": int(len(y_test_new)), "digits_0to4": int(len(y_test_old))}
    figures["seconds"] = round(time.perf_counter() - started, 1)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    plot(figures, curve, out.with_suffix(".png"))
    print(json.dumps({k: figures[k] for k in ("pretrained_accuracy_0to4", "knn", "head")}, indent=2))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


def sklearn_check(knn, extractor, x_test: np.ndarray) -> dict:
    """The runtime's k-NN against scikit-learn's on the same embeddings (same k, uniform weighting)."""
    from sklearn.neighbors import KNeighborsClassifier

    emb = extractor.predict({"image": x_test})["embedding"]
    sk = KNeighborsClassifier(knn.number_of_neighbors(), algorithm="brute").fit(knn.samples, knn.sample_labels)
    ours = knn.predict({"embedding": emb})
    cols = [knn.class_labels.index(c) for c in sk.classes_]
    top = sk.predict_proba(emb)
    unique = np.isclose(top, top.max(1, keepdims=True)).sum(1) == 1
    return {"max_probability_difference": float(np.abs(ours["classLabelProbs"][:, cols] - top).max()),
            "labels_equal_where_vote_unique": float(np.mean(ours["classLabel"][unique] == sk.predict(emb)[unique])),
            "tied_votes": int((~unique).sum())}


def plot(figures: dict, curve: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    shots = figures["examples_per_digit"]
    names = ["k-NN head", "NN head"]
    before = [figures["knn"]["accuracy_5to9_before"], figures["head"]["accuracy_5to9_before"]]
    after = [figures["knn"]["accuracy_5to9_after"], figures["head"]["accuracy_5to9_after"]]
    xs = np.arange(2)
    a.bar(xs - 0.2, before, 0.4, label="before (pretrained on 0-4)", color="#bbbbbb")
    a.bar(xs + 0.2, after, 0.4, label=f"after {shots} examples per digit", color="#2a7fbf")
    for x, v in zip(list(xs - 0.2) + list(xs + 0.2), before + after):
        a.text(x, v + 0.01, f"{v:.1%}", ha="center", fontsize=9)
    a.set_xticks(xs, names)
    a.set_ylim(0, 1.05)
    a.set_ylabel("test accuracy on digits 5-9")
    a.set_title("on-device personalization (emulated MLUpdateTask)")
    a.legend(loc="upper left", fontsize=8)
    h = figures["head"]
    a.text(0.5, -0.16, f"NN head on the old digits 0-4: {h['accuracy_0to4_before']:.1%} -> {h['accuracy_0to4_after']:.1%} "
           "(fine-tuned on the new digits only); the k-NN knows only the digits it was given",
           transform=a.transAxes, ha="center", fontsize=7.5, color="#444444")
    for key, label, style in (("knn", "k-NN head", "o-"), ("head", "NN head", "s-")):
        ks = sorted(curve[key])
        b.plot(ks, [curve[key][k] for k in ks], style, label=label)
    b.set_xscale("log")
    b.set_xticks(sorted(curve["knn"]), [str(k) for k in sorted(curve["knn"])])
    b.set_xlabel("examples per new digit")
    b.set_ylabel("test accuracy on digits 5-9")
    b.set_ylim(0, 1)
    b.grid(alpha=0.3)
    b.legend()
    b.set_title("accuracy vs examples")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
