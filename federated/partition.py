"""Splitting a data set over simulated devices: IID, the FedAvg paper's shards, Dirichlet label skew.

- ``iid``: a random permutation cut into equal parts (McMahan et al. 2017's IID MNIST);
- ``shards:K``: examples sorted by label, cut into ``clients * K`` equal shards, K random shards per
  client (the paper's pathological non-IID split is ``shards:2``: most clients see two digits);
- ``dirichlet:ALPHA``: each class spread over the clients in proportions drawn from
  Dirichlet(ALPHA) (Hsu et al. 2019); small ALPHA is strong skew, large ALPHA approaches IID.

Every split is a function of the labels, the client count, the scheme and the seed only, so the server
and every device compute the same partition without exchanging it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ground.errors import BadInputError

SCHEMES = "iid | shards:K | dirichlet:ALPHA"


@dataclass(frozen=True)
class Scheme:
    kind: str                 # 'iid' | 'shards' | 'dirichlet'
    value: float = 0.0        # K for shards, alpha for dirichlet

    def __str__(self) -> str:
        if self.kind == "iid":
            return "iid"
        return f"{self.kind}:{int(self.value) if self.kind == 'shards' else self.value:g}"

    @property
    def is_iid(self) -> bool:
        return self.kind == "iid"


def parse(text: str) -> Scheme:
    """``'iid'``, ``'shards:2'``, ``'dirichlet:0.5'`` -> a :class:`Scheme`."""
    kind, _, value = str(text).strip().lower().partition(":")
    if kind == "iid" and not value:
        return Scheme("iid")
    try:
        number = float(value)
    except ValueError:
        number = None
    if kind == "shards" and number is not None and number == int(number) and number >= 1:
        return Scheme("shards", int(number))
    if kind == "dirichlet" and number is not None and number > 0:
        return Scheme("dirichlet", number)
    raise BadInputError(f"unknown partition '{text}'", where="--partition",
                        fix=f"use {SCHEMES}, e.g. iid, shards:2 or dirichlet:0.5")


def split(labels: np.ndarray, clients: int, scheme: Scheme | str, seed: int = 0) -> list[np.ndarray]:
    """The example indices of each client (sorted), for ``clients`` devices."""
    scheme = parse(scheme) if isinstance(scheme, str) else scheme
    labels = np.asarray(labels)
    n = len(labels)
    if clients < 1:
        raise BadInputError(f"--clients must be at least 1, got {clients}", fix="pass a positive count")
    rng = np.random.default_rng(seed)
    if scheme.kind == "iid":
        _need(n, clients, clients, "clients")
        parts = np.array_split(rng.permutation(n), clients)
    elif scheme.kind == "shards":
        shards = clients * int(scheme.value)
        _need(n, shards, clients, f"shards ({clients} clients x {int(scheme.value)})")
        by_label = np.argsort(labels, kind="stable")
        pieces = np.array_split(by_label, shards)
        order = rng.permutation(shards)
        k = int(scheme.value)
        parts = [np.concatenate([pieces[j] for j in order[i * k:(i + 1) * k]]) for i in range(clients)]
    else:
        parts = _dirichlet(labels, clients, scheme.value, rng)
    return [np.sort(p).astype(np.int64) for p in parts]


def _need(n: int, pieces: int, clients: int, what: str) -> None:
    if n < pieces:
        raise BadInputError(f"{n} examples cannot be cut into {pieces} {what}",
                            fix=f"use fewer than {n // max(pieces // clients, 1) + 1} clients or more data")


def _dirichlet(labels: np.ndarray, clients: int, alpha: float, rng: np.random.Generator,
               attempts: int = 100) -> list[np.ndarray]:
    """Per class, proportions over clients ~ Dirichlet(alpha); redrawn until every client holds data."""
    classes = np.unique(labels)
    for _ in range(attempts):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(clients, alpha))) * len(idx)).astype(int)[:-1]
            for i, piece in enumerate(np.split(idx, cuts)):
                parts[i].append(piece)
        joined = [np.concatenate(p) for p in parts]
        if min(len(p) for p in joined) > 0:
            return joined
    raise BadInputError(f"Dirichlet({alpha:g}) left some of {clients} clients without data in {attempts} draws",
                        where="--partition", fix="use a larger alpha or fewer clients")


def histograms(labels: np.ndarray, parts: list[np.ndarray], num_classes: int) -> np.ndarray:
    """(clients, classes) counts of each client's labels."""
    labels = np.asarray(labels)
    return np.stack([np.bincount(labels[p], minlength=num_classes) for p in parts]) if parts else \
        np.zeros((0, num_classes), np.int64)
