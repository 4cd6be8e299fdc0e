"""Keep Core ML's channel-first flatten order out of the per-step graph.

Core ML's ``flatten`` (mode CHANNEL_FIRST) orders a ``[C, H, W]`` blob C-major; in the backend's
``(N, H, W, C)`` layout that costs a transpose of the activations (and of their gradient) on every
mini-batch. When every reader of such a flatten is an ``innerProduct`` and the flattened blob is not a
model output, the same function is computed by flattening in backend (H, W, C) order and permuting the
innerProduct's weight rows once, when the weights are read. :class:`FlattenPlan` records those choices;
``to_spec_layout`` undoes the permutation before trained weights go back into the spec.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np


@dataclass
class FlattenPlan:
    hwc_flattens: set[str] = field(default_factory=set)            # flatten layers run in (H, W, C) order
    row_orders: dict[str, np.ndarray] = field(default_factory=dict)  # innerProduct -> backend row order

    def to_backend(self, layer: str, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Weights as the planned graph reads them (rows in H, W, C order)."""
        if layer not in self.row_orders:
            return params
        return {**params, "weights": np.ascontiguousarray(params["weights"][self.row_orders[layer]])}

    def to_spec_layout(self, layer: str, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Inverse of :meth:`to_backend`, for writing trained weights back."""
        if layer not in self.row_orders:
            return params
        weights = np.empty_like(params["weights"])
        weights[self.row_orders[layer]] = params["weights"]
        return {**params, "weights": weights}


def chw_rows_in_hwc_order(c: int, h: int, w: int) -> np.ndarray:
    """Row ``i`` of the result is the C-major index of the ``i``-th element in (H, W, C) order."""
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def plan(layers: list[Any], protected: Iterable[str],
         input_shape_of: Callable[[str], tuple[int, int, int] | None]) -> FlattenPlan:
    """Choose the flattens whose order can move into the weights of the innerProducts reading them.

    ``protected``: blobs a caller may read (model outputs); ``input_shape_of(layer_name)``: the backend
    (H, W, C) shape of a flatten's input, or None when unknown (then the flatten is left alone).
    """
    readers: dict[str, list[Any]] = {}
    for layer in layers:
        for blob in layer.input:
            readers.setdefault(blob, []).append(layer)
    protected = set(protected)
    result = FlattenPlan()
    for layer in layers:
        if layer.WhichOneof("layer") != "flatten" or layer.flatten.mode != 0 or layer.output[0] in protected:
            continue
        users = readers.get(layer.output[0], [])
        if not users or any(u.WhichOneof("layer") != "innerProduct" for u in users):
            continue
        shape = input_shape_of(layer.name)
        if shape is None or shape[0] * shape[1] == 1 or shape[2] == 1:
            continue  # unknown, or the two orders coincide
        h, w, c = shape
        result.hwc_flattens.add(layer.name)
        for user in users:
            result.row_orders[user.name] = chw_rows_in_hwc_order(c, h, w)
    return result
