"""Small queries and edits of a Core ML network that the rewrites share (pure protobuf, no numerics)."""
from __future__ import annotations

from typing import Any

from ground.nn_spec import kind, network_output_blobs, nn_of
from ground.protos import Model_pb2

__all__ = ["kind", "nn_of"]   # the ground's, for the rewrites' one import of this module


def copy(spec: Any) -> Any:
    out = Model_pb2.Model()
    out.CopyFrom(spec)
    return out


def readers(nn: Any, blob: str) -> list[Any]:
    return [layer for layer in nn.layers if blob in layer.input]


def producer(nn: Any, blob: str) -> Any | None:
    return next((layer for layer in nn.layers if blob in layer.output), None)


def output_blobs(spec: Any) -> list[str]:
    """Blobs the model's outputs read, and the output names themselves (a classifier's label included)."""
    return list(dict.fromkeys(network_output_blobs(spec) + [o.name for o in spec.description.output]))


def remove(nn: Any, layer: Any) -> None:
    for i, other in enumerate(nn.layers):
        if other.name == layer.name:
            del nn.layers[i]
            return


def rename(nn: Any, old: str, new: str) -> None:
    for layer in nn.layers:
        for field in (layer.input, layer.output):
            for i, blob in enumerate(field):
                if blob == old:
                    field[i] = new


def bypass(spec: Any, layer: Any, keep: str | None = None) -> bool:
    """Remove ``layer``, its readers reading ``keep`` (default: its first input) instead of its output.

    When the output is a model output, the kept blob takes its name. Returns False (nothing changed)
    when both blobs are model interface names.
    """
    nn = nn_of(spec)
    src, out = keep or layer.input[0], layer.output[0]
    inputs = {fd.name for fd in spec.description.input}
    outputs = set(output_blobs(spec))
    if out in outputs and src in inputs | outputs:
        return False
    remove(nn, layer)
    if out in outputs:
        rename(nn, src, out)
    else:
        rename(nn, out, src)
    return True


def make_flatten(layer: Any, source: str) -> None:
    """Turn ``layer`` into ``flatten`` (CHANNEL_FIRST) of ``source``, keeping its name and output."""
    layer.ClearField(kind(layer))
    layer.flatten.mode = 0
    del layer.input[:]
    layer.input.append(source)


def non_singleton(shape: tuple[int, ...]) -> list[int]:
    return [int(d) for d in shape if d != 1]


def is_vector(shape: tuple[int, ...] | None) -> bool:
    """A shape whose only axis longer than 1 (if any) is its last one: ``(1, 784)``, ``(10,)``."""
    return shape is not None and all(d == 1 for d in shape[:-1])


def chw_of(shape: tuple[int, ...] | None) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of a ``(1, ..., C, H, W)`` blob (rank >= 3, leading axes 1), else None."""
    if shape is None or len(shape) < 3 or any(d != 1 for d in shape[:-3]):
        return None
    c, h, w = (int(d) for d in shape[-3:])
    return c, h, w


def same_data(layer: Any, before: tuple[int, ...], after: tuple[int, ...]) -> bool:
    """Whether a shape-only layer leaves the data and its order as they were (it only moves 1-axes)."""
    if non_singleton(before) != non_singleton(after):
        return False
    if kind(layer) == "transpose":
        moved = [a for a in layer.transpose.axes if before[a] != 1]
        return moved == sorted(moved)
    return True
