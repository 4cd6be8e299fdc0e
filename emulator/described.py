"""What every runtime model (NeuralNetwork, k-NN, pipeline) and every update result say of their spec."""
from __future__ import annotations

from typing import Any

from ground.spec_io import save_spec


class SpecModel:
    """A runtime model over ``spec``: updatable or not, a classifier's output names, ``save``.

    ``class_labels`` is None for a model that is not a classifier (it has no label or probability output).
    """

    spec: Any
    class_labels: list | None

    @property
    def is_updatable(self) -> bool:
        return bool(self.spec.isUpdatable)

    @property
    def label_output(self) -> str | None:
        """The classifier's predicted-label output name (None for other model types)."""
        return self.spec.description.predictedFeatureName or None if self.class_labels is not None else None

    @property
    def probability_output(self) -> str | None:
        """The classifier's probabilities output name (None for other model types)."""
        return self.spec.description.predictedProbabilitiesName or None if self.class_labels is not None else None

    def save(self, path) -> None:
        """Write the spec to ``path`` atomically (temporary file + rename)."""
        save_spec(self.spec, path)


class SpecResult:
    """An update's result over ``model``, the runtime model it trained: its ``spec`` and ``save``."""

    model: Any

    @property
    def spec(self) -> Any:
        return self.model.spec

    def save(self, path) -> None:
        """Write the updated model (identical to the input but for what the update changed), atomically."""
        save_spec(self.model.spec, path)
