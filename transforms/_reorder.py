"""Weight reordering for the flatten rewrite (pure numpy).

Belongs in the project's single layout module ``converter/layout.py``; kept here until the lead moves it
(transforms may import only ``converter.layout`` from the converter, and that module was being written
concurrently).
"""
from __future__ import annotations

import numpy as np

from coreml_updatable.errors import BadInputError


def dense_columns_hwc_to_chw(weights: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Reorder a dense layer's input columns from HWC flatten order to CHW flatten order.

    ``weights``: ``(out, H*W*C)``, Core ML innerProduct layout (rows = outputs) whose column ``h*W*C + w*C + c``
    multiplies element ``(c, h, w)`` of the input (a channels-last flatten, as Keras' ``Flatten`` does).
    Returns ``(out, C*H*W)`` whose column ``c*H*W + h*W + w`` multiplies that same element (Core ML's
    ``flatten`` in CHANNEL_FIRST mode). ``chw`` is the flattened blob's Core ML shape ``(C, H, W)``.
    """
    c, h, w = chw
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != c * h * w:
        raise BadInputError(f"weights of shape {weights.shape} do not have C*H*W = {c * h * w} columns",
                            fix="pass (out, H*W*C) weights and the flattened blob's (C, H, W)")
    return np.ascontiguousarray(weights.reshape(weights.shape[0], h, w, c).transpose(0, 3, 1, 2)
                                .reshape(weights.shape[0], c * h * w))
