"""The names inside the Flower messages devices and server exchange (see federated/app.py), and the
conversion of exchange arrays to and from Flower's ArrayRecord. numpy and Flower only: a device
process answering a ``query`` loads no TensorFlow."""
from __future__ import annotations

from typing import Mapping

import numpy as np
from flwr.app import Array, ArrayRecord

ARRAYS, CONFIG, METRICS = "arrays", "config", "metrics"
NUM_EXAMPLES = "num-examples"
PARTITION = "partition-id"
SERVER_ROUND = "server-round"


def to_record(arrays: Mapping[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({k: Array(np.ascontiguousarray(v, dtype=np.float32)) for k, v in arrays.items()})


def from_record(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {k: a.numpy() for k, a in record.items()}


def first_line(reason: str | None) -> str:
    """The telling line of an error reply (the exception's own line, not the traceback)."""
    lines = [line.strip() for line in (reason or "").splitlines() if line.strip()]
    useful = [line for line in lines if "Error" in line and ":" in line]
    return (useful[-1] if useful else lines[-1] if lines else "unknown error")[:300]
