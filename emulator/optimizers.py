"""SGD with momentum and Adam, in the forms chosen in :mod:`emulator.conventions`."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from .conventions import Conventions
from .settings import UpdateSettings


class Optimizer:
    """Applies one update to ``variables`` from their gradients (inside a tf.function)."""

    def __init__(self, variables: Sequence[tf.Variable], settings: UpdateSettings, conventions: Conventions):
        self.variables = list(variables)
        self.s = settings
        self.c = conventions
        self.lr = tf.Variable(settings.learning_rate, dtype=tf.float32, trainable=False, name="lr")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def apply(self, grads: Sequence[tf.Tensor]) -> None:
        raise NotImplementedError

    def slots(self) -> list[tf.Variable]:
        """The per-weight state a run starts from zero."""
        return []

    def reset(self, settings: UpdateSettings) -> None:
        """Fresh state for a new run (step 0, zero slots) at ``settings``' learning rate; the other
        constants are baked into the graph, so ``settings`` must match them (see emulator.trainer)."""
        self.s = settings
        self.lr.assign(settings.learning_rate)
        self.step.assign(0)
        for slot in self.slots():
            slot.assign(tf.zeros_like(slot))


class SGD(Optimizer):
    """``v = momentum * v + lr * g; w -= v`` (momentum 0: plain SGD)."""

    def __init__(self, variables, settings, conventions):
        super().__init__(variables, settings, conventions)
        if conventions.momentum != "lr_inside":
            raise ValueError(f"unknown momentum convention {conventions.momentum!r}")
        self.velocity = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.momentum = tf.constant(settings.momentum, tf.float32)

    def slots(self):
        return self.velocity

    def apply(self, grads):
        self.step.assign_add(1)
        if self.s.momentum == 0:        # v = lr * g exactly: skip the velocity's memory traffic
            for w, g in zip(self.variables, grads):
                w.assign_sub(self.lr * g)
            return
        for w, g, v in zip(self.variables, grads, self.velocity):
            new_v = self.momentum * v + self.lr * g
            v.assign(new_v)
            w.assign_sub(new_v)


class Adam(Optimizer):
    """Adam, 'epsilon hat' form: ``lr_t = lr*sqrt(1-b2^t)/(1-b1^t); w -= lr_t*m/(sqrt(v)+eps)``.

    Each variable is updated by one fused kernel (TensorFlow's ``ResourceApplyAdam``: ``m += (g - m)
    (1 - b1); v += (g^2 - v)(1 - b2); w -= lr_t m / (sqrt(v) + eps)``, the same formulas and the same
    arithmetic as Keras' Adam), one pass over memory instead of about ten elementwise ops.
    """

    def __init__(self, variables, settings, conventions):
        super().__init__(variables, settings, conventions)
        if conventions.adam != "epsilon_hat":
            raise ValueError(f"unknown Adam convention {conventions.adam!r}")
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.beta1 = tf.constant(settings.beta1, tf.float32)
        self.beta2 = tf.constant(settings.beta2, tf.float32)
        self.eps = tf.constant(settings.eps, tf.float32)

    def slots(self):
        return self.m + self.v

    def apply(self, grads):
        t = tf.cast(self.step.assign_add(1), tf.float32)
        beta1_power, beta2_power = tf.pow(self.beta1, t), tf.pow(self.beta2, t)
        for w, g, m, v in zip(self.variables, grads, self.m, self.v):
            tf.raw_ops.ResourceApplyAdam(var=w.handle, m=m.handle, v=v.handle, beta1_power=beta1_power,
                                         beta2_power=beta2_power, lr=self.lr, beta1=self.beta1, beta2=self.beta2,
                                         epsilon=self.eps, grad=g, use_locking=False)


def make(variables: Sequence[tf.Variable], settings: UpdateSettings, conventions: Conventions) -> Optimizer:
    return {"sgd": SGD, "adam": Adam}[settings.optimizer](variables, settings, conventions)
