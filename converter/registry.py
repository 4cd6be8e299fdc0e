"""Registries of mappers: one small pure function per source layer type (Keras) or op type (ONNX).

A mapper is ``fn(layer: SourceLayer, ctx: MapContext) -> list[NeuralNetworkLayer]``. It reads the
layer's config and weights, asks ``ctx`` for blob names and layouts, and returns Core ML layer
messages. It never marks layers updatable (the transforms do).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

Mapper = Callable[..., list]


@dataclass(frozen=True)
class Entry:
    """A registered mapper and what it says about itself (for the README support table)."""

    kind: str
    fn: Mapper
    coreml: str = ""       # the Core ML layer type(s) it produces
    notes: str = ""        # limits and remarks


class Registry:
    """Mappers by source kind; ``name`` is the front end ('keras', 'onnx')."""

    def __init__(self, name: str, modules: tuple[str, ...] = ()) -> None:
        self.name = name
        self._entries: dict[str, Entry] = {}
        self._modules = modules     # modules whose import registers this registry's mappers
        self._loaded = not modules

    def register(self, *kinds: str, coreml: str = "", notes: str = "") -> Callable[[Mapper], Mapper]:
        """Decorator: register ``fn`` for every kind in ``kinds``."""

        def decorate(fn: Mapper) -> Mapper:
            for kind in kinds:
                if kind in self._entries:
                    raise RuntimeError(f"{self.name} mapper for '{kind}' registered twice")
                self._entries[kind] = Entry(kind, fn, coreml, notes)
            return fn

        return decorate

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def get(self, kind: str) -> Mapper | None:
        self._load()
        entry = self._entries.get(kind)
        return entry.fn if entry else None

    def kinds(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        self._load()
        return [self._entries[k] for k in sorted(self._entries)]


KERAS = Registry("keras", ("converter.keras.mappers",))
ONNX = Registry("onnx", ("converter.onnx.mappers",))


def keras_layer(*kinds: str, coreml: str = "", notes: str = "") -> Callable[[Mapper], Mapper]:
    """Register a Keras layer mapper: ``@keras_layer("Dense", coreml="innerProduct")``."""
    return KERAS.register(*kinds, coreml=coreml, notes=notes)


def onnx_op(*kinds: str, coreml: str = "", notes: str = "") -> Callable[[Mapper], Mapper]:
    """Register an ONNX op mapper: ``@onnx_op("Gemm", coreml="innerProduct")``."""
    return ONNX.register(*kinds, coreml=coreml, notes=notes)
