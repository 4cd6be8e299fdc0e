"""The training behaviours Apple leaves undocumented, each decided here and nowhere else.

Every choice below is read by the training code (``losses``, ``optimizers``, ``training``,
``shuffle``) from :data:`CORE_ML`, and every training run reports :meth:`Conventions.describe`.
The evidence for each (from ``coreml-update-rules.md``, last section) is quoted in ``EVIDENCE``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


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

    def describe(self) -> dict[str, str]:
        """Each choice with its evidence, for reports."""
        return {k: f"{v} ({EVIDENCE[k]})" for k, v in asdict(self).items()}

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


EVIDENCE = {
    "batch_loss": "ML Compute reduction type Mean, reverse-engineered; Apple MPS headers",
    "cross_entropy": "Core ML spec -log(input[target]); engine fuses softmax and loss, reverse-engineered",
    "mse": "reverse-engineered",
    "adam": "Apple MPS/BNNS optimizer headers",
    "momentum": "Apple MPS/BNNS optimizer headers",
    "partial_last_batch": "reverse-engineered",
    "shuffle": "reverse-engineered (std::minstd_rand, std::seed_seq, libc++ std::shuffle; unseeded state 1)",
    "unseeded": "reverse-engineered: a default-constructed std::minstd_rand (state 1) when no seed is given",
    "reshuffle": "reverse-engineered; on device the reshuffle happens only when the app listens for epoch-end "
                 "events, else the data is shuffled once",
    "reported_loss": "reverse-engineered",
}

CORE_ML = Conventions()
"""The conventions the emulator uses by default: the best evidence of what Core ML does."""
