"""Fixtures for the federated tests: a tiny CNN, a tiny image data set, and an in-process grid.

``LocalGrid`` hands each message straight to a ClientApp in this process (one node per partition), so
the server's logic (sampling, aggregation, dropping, the global model) is tested without Ray; one test
runs the same settings on Flower's simulation engine and checks both give the same global model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr", reason="Flower is the federated extra: pip install -e '.[test]'")

from flwr.app import Context, Message, RecordDict  # noqa: E402
from flwr.serverapp import Grid  # noqa: E402

from ground.spec_io import save_spec  # noqa: E402
from tests.emulator.nets import small_cnn  # noqa: E402

CLASSES = 3


def tiny_cnn(updatable=("conv", "fc"), shuffle=True, lr=0.5):
    """x [1, 6, 5] -> conv -> relu -> pool -> flatten -> innerProduct -> softmax (tests/emulator/nets)."""
    spec = small_cnn(0, updatable=updatable, lr=lr, classes=CLASSES)
    spec.neuralNetwork.updateParams.shuffle.defaultValue = shuffle
    return spec


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A Keras-layout .npz of 6x5 uint8 images whose class shows in their brightness pattern."""
    rng = np.random.default_rng(7)

    def images(n):
        y = rng.integers(0, CLASSES, n)
        x = rng.integers(0, 80, (n, 6, 5))
        for c in range(CLASSES):
            x[y == c, 2 * c:2 * c + 2, :] += 150
        return x.astype(np.uint8), y.astype(np.int64)

    x_train, y_train = images(240)
    x_test, y_test = images(90)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture()
def model_file(tmp_path) -> Path:
    path = tmp_path / "tiny.mlmodel"
    save_spec(tiny_cnn(), path)
    return path


class LocalGrid(Grid):
    """Every node in this process: node ``1000 + i`` holds partition ``i``."""

    def __init__(self, client_app, partitions: int) -> None:
        from flwr.supercore.task_identity import TaskIdentity

        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1   # as a ServerApp process has
        self.app = client_app
        self.contexts = {1000 + i: Context(run_id=1, node_id=1000 + i, state=RecordDict(), run_config={},
                                           node_config={"partition-id": i, "num-partitions": partitions})
                         for i in range(partitions)}
        self.sent: list[Message] = []

    def set_run(self, run) -> None:  # noqa: D102
        self._run = run

    @property
    def run(self):  # noqa: D102
        return getattr(self, "_run", None)

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):  # noqa: D102
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id)

    def get_node_ids(self):  # noqa: D102
        return list(self.contexts)

    def push_messages(self, messages):  # noqa: D102
        raise NotImplementedError

    def pull_messages(self, message_ids):  # noqa: D102
        raise NotImplementedError

    def send_and_receive(self, messages, *, timeout=None):  # noqa: D102
        replies = []
        for msg in messages:
            self.sent.append(msg)
            replies.append(self.app(msg, self.contexts[msg.metadata.dst_node_id]))
        return replies
