"""The tolerances a parity run is judged by, and why each has the value it has.

Both sides run float32 TensorFlow kernels on the same data in the same order, so a correct conversion
differs from Keras only by rounding (summation orders inside kernels, the softmax fused into the loss).
Training is chaotic: that rounding noise grows with every step. Measured on the bundled LeNet (Adam,
batch 128, MNIST): per-batch loss relative difference ~1e-6 at batch 10, 5e-5 at batch 20, 3e-4 at
batch 30, 2e-3 at batch 50, a few percent after the first epoch; layer weights (relative norm) 5e-4
after 20 batches, 1.1e-3 after 30, 4e-3 after 50. After 10 epochs the two runs are different
trajectories with the same statistics: weights differ by 7-37 % in norm, test accuracies by ~0.1-0.2
points, epoch mean losses by < 3 % (of max(loss, 0.1)).
So a run is judged in two phases:

- the *lockstep* phase: the first ``lockstep_batches`` mini-batches of the run, replayed on both sides
  from the initial weights. Here any real bug (wrong layout, learning rate, epsilon, loss, frozen layer
  trained) shows at once, and the bounds are tight;
- the *whole run*: independent trajectories, compared by what must still agree: each epoch's mean
  loss, the final test accuracy, and frozen weights (bit for bit).

The bounds were calibrated on the purpose-built broken conversions of
``tests/parity/test_broken_conversions.py`` and on correct conversions (the LeNet benchmark in
``benchmarks/results/parity_lenet_mnist.json``). Every bug there breaks several bounds, by 9x to 10^5x
(lockstep losses 0.09-0.28 within four batches, lockstep weights 0.08-2.9, initial weights 0.3,
forward 0.4-0.66, or the settings / updatable-layer checks); correct conversions stay 9x or more
inside every lockstep bound.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Tolerances:
    forward_abs: float = 1e-5
    """Largest |Keras - Core ML| over every output of every test example, before training."""

    initial_weights_abs: float = 1e-6
    """Largest |Keras - Core ML| of each mapped layer's weights before training (a pure relayout: 0)."""

    first_batch_loss_rel: float = 1e-4
    """Relative difference of the very first mini-batch's loss (same weights, same data)."""

    lockstep_batches: int = 30
    """Mini-batches of the lockstep phase (fewer if the first epoch is shorter)."""

    lockstep_loss_rel: float = 1e-2
    """Lockstep: largest per-batch ``|a - b| / max(|a|, |b|, loss_floor)``."""

    lockstep_weights_rel: float = 1e-2
    """Lockstep: per updatable layer, ``||W_keras - W_coreml|| / ||W_keras||`` (kernel and bias as one vector)."""

    loss_floor: float = 0.05
    """Per-batch losses below this are compared on an absolute scale (a 1e-4 loss has no meaningful
    relative error)."""

    epoch_loss_rel: float = 0.1
    """Whole run: each epoch's mean loss, ``|a - b| / max(a, b, epoch_loss_floor)``."""

    epoch_loss_floor: float = 0.1
    """Epoch means below this are compared on an absolute scale."""

    accuracy_abs: float = 1e-2
    """|accuracy_keras - accuracy_coreml| on the test set after the whole run (one point)."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT = Tolerances()
