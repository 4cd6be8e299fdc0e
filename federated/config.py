"""A federated run's settings: one flat record the server, every device and Flower's run config share."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from ground.errors import BadInputError

STRATEGIES = ("fedavg", "fedavgm", "fedadam", "fedyogi")


@dataclass(frozen=True)
class FleetConfig:
    model: str                        # the updatable .mlmodel every device starts from
    data: str                         # a Keras-layout .npz or an IDX folder (see data_loading)
    clients: int = 100
    fraction: float = 0.1
    rounds: int = 50
    local_epochs: int = 1
    partition: str = "iid"
    seed: int = 0
    strategy: str = "fedavg"
    server_lr: float = 0.0            # FedAvgM's, FedAdam's and FedYogi's server learning rate (0: Flower's default)
    server_momentum: float = 0.0      # FedAvgM's server momentum (0: none)
    limit: int = 0                    # train on the first N images only (0: all)
    batch_size: int = 0               # per-run overrides of the model's update parameters (0: the model's)
    learning_rate: float = 0.0

    def __post_init__(self) -> None:
        from . import partition

        problems = []
        if self.clients < 1:
            problems.append(f"--clients {self.clients} must be at least 1")
        if not 0 < self.fraction <= 1:
            problems.append(f"--fraction {self.fraction} must be in (0, 1]")
        if self.rounds < 1:
            problems.append(f"--rounds {self.rounds} must be at least 1")
        if self.local_epochs < 1:
            problems.append(f"--local-epochs {self.local_epochs} must be at least 1")
        if self.strategy not in STRATEGIES:
            problems.append(f"--strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if not 0 <= self.server_momentum < 1:
            problems.append(f"--server-momentum {self.server_momentum} must be in [0, 1)")
        elif self.server_momentum and self.strategy != "fedavgm":
            problems.append(f"--server-momentum is FedAvgM's: it needs --strategy fedavgm, not {self.strategy!r}")
        if problems:
            raise BadInputError("; ".join(problems), fix="fix the options")
        partition.parse(self.partition)

    @property
    def per_round(self) -> int:
        """Devices sampled per round (at least one)."""
        return max(1, int(self.clients * self.fraction + 1e-9))

    def overrides(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size or None, "learning_rate": self.learning_rate or None,
                "limit": self.limit or None}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved(self) -> "FleetConfig":
        """Paths made absolute (devices may run in other working folders)."""
        d = self.as_dict()
        for name in ("model", "data"):
            if not str(d[name]).startswith("keras:"):
                d[name] = str(Path(d[name]).expanduser().resolve())
        return FleetConfig(**d)

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> "FleetConfig":
        """From Flower's run config (``[tool.flwr.app.config]`` and ``flwr run --run-config``)."""
        names = {f.name: f for f in fields(cls)}
        given = {k.replace("-", "_"): v for k, v in run_config.items() if k.replace("-", "_") in names}
        missing = [n for n in ("model", "data") if not given.get(n)]
        if missing:
            raise BadInputError(f"the run config lacks {missing}",
                                fix="pass them: flwr run ... --run-config \"model='m.mlmodel' data='mnist.npz'\"")
        kinds = {f.name: type(getattr(cls, f.name, "")) if f.name not in ("model", "data") else str
                 for f in fields(cls)}
        return cls(**{k: kinds[k](v) for k, v in given.items()})
