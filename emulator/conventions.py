"""The training behaviours Apple leaves undocumented, each decided here and nowhere else.

Every choice below is read by the training code (``losses``, ``optimizers``, ``training``,
``shuffle``) from :data:`CORE_ML`, and every training run reports :meth:`Conventions.describe`.
The evidence for each (from ``coreml-update-rules.md``, last section) is quoted in ``EVIDENCE``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


ANY_SEED = object()
"""``applicable``'s seed when the run's seed is not known (``None`` is a run without a seed)."""


@dataclass(frozen=True)
class Conventions:
    batch_loss: str = "mean"
    """Loss over a mini-batch: 'mean' (divide by the batch's real size) or 'sum'."""

    cross_entropy: str = "fused_logits"
    """'fused_logits': -log softmax(logits)[target] computed from the softmax's input (no log(0))."""

    mse: str = "mean_no_half"
    """Mean of (prediction - target)^2 over every element and the batch, no 1/2 factor; 'mean_half'."""

    adam: str = "epsilon_hat"
    """lr_t = lr*sqrt(1-beta2^t)/(1-beta1^t); w -= lr_t*m/(sqrt(v)+eps); t counts steps from 1."""

    momentum: str = "lr_inside"
    """SGD: v = momentum*v + lr*g; w -= v."""

    partial_last_batch: str = "drop"
    """'drop': batches per epoch = floor(N/B), the examples left over after the last full mini-batch
    are not trained on in that epoch; 'keep': ceil(N/B), the last one trained at its real size."""

    shuffle: str = "libcxx_minstd"
    """Index order: libc++ std::shuffle driven by std::minstd_rand seeded through std::seed_seq;
    'libcxx_mt19937': the same shuffle driven by std::mt19937."""

    unseeded: str = "default_constructed"
    """The engine's start when the model has no seed: 'default_constructed' (minstd_rand state 1),
    'seed_seq_zero' (seeded through std::seed_seq{0}, as if the spec's absent seed read 0),
    'seed_seq_empty' (std::seed_seq{})."""

    reshuffle: str = "every_epoch"
    """'every_epoch': shuffled once at the start and again after each epoch (one engine, each shuffle
    permuting the previous order); alternatives in ``emulator.shuffle.RESHUFFLES``."""

    reported_loss: str = "last_batch"
    """The lossValue of an epoch-end event: the last mini-batch's loss (the epoch mean is also given)."""

    def describe(self, loss: str | None = None, optimizer: str | None = None,
                 shuffle: bool | None = None, seed: int | None | object = ANY_SEED) -> dict[str, str]:
        """Each choice with its evidence, for reports; given the run's loss ('cce' / 'mse'), optimizer
        ('adam' / 'sgd'), shuffle flag and seed, only the choices that apply to it."""
        return {k: f"{v} ({EVIDENCE[k]})" for k, v in asdict(self).items()
                if k in applicable(loss, optimizer, shuffle, seed)}

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


_ANCHOR = ("device anchor (benchmarks/results/device_anchor.json: a Mac's MLUpdateTask run, 13-64-32-1 MLP, "
           "SGD, 500 epochs; mean |W_runtime - W_device| over 3,009 parameters; chaos floor, the runtime vs "
           "itself from starts moved 1e-6, 0.004-0.014; rounding floor, an independent numpy training vs the "
           "runtime, 0.001-0.005; untrained 0.081)")

EVIDENCE = {
    "batch_loss": "ML Compute reduction type Mean, reverse-engineered; Apple MPS headers",
    "cross_entropy": "Core ML spec -log(input[target]); engine fuses softmax and loss, reverse-engineered",
    "mse": "reverse-engineered; " + _ANCHOR + ": no 1/2 factor 0.023-0.025, with 1/2 0.052-0.059 under every "
           "other choice, over 4 perturbed starts each",
    "adam": "Apple MPS/BNNS optimizer headers",
    "momentum": "Apple MPS/BNNS optimizer headers",
    "partial_last_batch": _ANCHOR + ": drop 0.0227 (perturbed starts 0.0233-0.0247, test MSE 20.63), keep 0.0253 "
                          "(0.0242-0.0265, test MSE 21.50; device 21.44); drop is closer on each of the 6 weight "
                          "and bias tensors and in 4 of the 5 paired starts. Weak evidence (the margin is below the "
                          "chaos floor's spread), against the reverse-engineered 'keep' of coreml-update-rules.md",
    "shuffle": "reverse-engineered (std::minstd_rand, std::seed_seq, libc++ std::shuffle); " + _ANCHOR
               + ": std::mt19937 instead 0.044, no shuffle 0.098",
    "unseeded": "the device's compiled model carries no seed (its updateParameters hold none) and the order of a "
                "default-constructed std::minstd_rand (state 1) fits best: " + _ANCHOR + ": 0.0227, against "
                "std::seed_seq{0} 0.042, std::seed_seq{} 0.043, seeds 1-8 through seed_seq 0.029-0.040",
    "reshuffle": "reverse-engineered (on device the reshuffle happens only when the app listens for epoch-end "
                 "events, else the data is shuffled once; the anchor app listened); " + _ANCHOR + ": every epoch "
                 "0.0227, once 0.0375, first epoch unshuffled 0.094, each epoch from the original order 0.0275, a "
                 "fresh engine each epoch 0.0220 (but 0.038 with the partial batch kept, against 0.025: not "
                 "preferred on this evidence)",
    "reported_loss": "reverse-engineered",
}

APPLIES_TO = {"cross_entropy": ("loss", "cce"), "mse": ("loss", "mse"), "adam": ("optimizer", "adam"),
              "momentum": ("optimizer", "sgd"), "shuffle": ("shuffle", True), "reshuffle": ("shuffle", True),
              "unseeded": ("shuffle", True)}
"""The choices that matter only for one loss, one optimizer, or a shuffled run (``unseeded`` also only
for a run without a seed)."""


def applicable(loss: str | None = None, optimizer: str | None = None, shuffle: bool | None = None,
               seed: int | None | object = ANY_SEED) -> list[str]:
    """The names of the conventions that apply to a run (all of them for what is not given). ``seed``:
    the run's seed, ``None`` for none; a seeded run has no ``unseeded`` choice to report."""
    run = {"loss": loss, "optimizer": optimizer, "shuffle": shuffle}
    return [name for name in asdict(CORE_ML)
            if (name not in APPLIES_TO or run[APPLIES_TO[name][0]] in (None, APPLIES_TO[name][1]))
            and not (name == "unseeded" and seed is not ANY_SEED and seed is not None)]


CORE_ML = Conventions()
"""The conventions the emulator uses by default: the best evidence of what Core ML does."""


@dataclass(frozen=True)
class KNNConventions:
    """What Core ML leaves undocumented about its k-Nearest-Neighbors classifier, decided here."""

    update: str = "append"
    """Training appends the examples to the index in the order given (epochs, shuffle and optimizers play
    no part); a label not seen before joins the end of the model's label list."""

    inverse_distance: str = "inverse_squared_euclidean"
    """A neighbor's inverse-distance weight is 1 / d, d the index's distance function (squared Euclidean:
    1 / ||x - s||^2); when some neighbors lie at distance 0, those alone vote, one vote each."""

    neighbor_ties: str = "first_stored"
    """Neighbors at equal distance: the example stored first comes first (a stable sort; the kd-tree
    index returns the same neighbors as the linear one)."""

    vote_ties: str = "nearest"
    """Labels with equal votes: the one whose neighbor is nearest (first in neighbor order) wins."""

    probabilities: str = "vote_share"
    """Per-class probabilities: each label's share of the vote (count / k, or weight / total weight).
    A k above the number of stored examples uses them all; an empty index predicts the default label
    with no probabilities."""

    def describe(self) -> dict[str, str]:
        return {k: f"{v} ({KNN_EVIDENCE[k]})" for k, v in asdict(self).items()}


KNN_EVIDENCE = {
    "update": "MLUpdateTask on a k-NN adds the training examples (Apple's UpdatableKNN sample); epochs unused",
    "inverse_distance": "NearestNeighbors.proto: 'a nearest neighbor with highest sum of (1 / distance) is picked', "
                        "distance function squared Euclidean; not measured on a device",
    "neighbor_ties": "undocumented; chosen so linear and kd-tree indexes agree; not measured on a device",
    "vote_ties": "undocumented; chosen to fall back to the 1-nearest-neighbor answer; not measured on a device",
    "probabilities": "undocumented (Core ML returns a label -> probability dictionary); the same as "
                     "scikit-learn's predict_proba",
}

KNN = KNNConventions()
"""The k-NN conventions the emulator uses."""
