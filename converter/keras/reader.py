"""Read a Keras 3 model (in memory, ``.keras`` or ``.h5``) safely into a :class:`SourceGraph`.

Files are inspected before loading: a model that carries Python code (Lambda layers, custom classes)
is refused unless the caller opts in with ``allow_unsafe=True``, since loading it would run that code.
Nested Sequential/Functional sub-models are flattened; their layers are named ``<sub>/<layer>``.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ground import limits
from ground.errors import (BadInputError, UnsupportedConfigError, UnsupportedModelError, from_os_error,
                                     out_of_memory)

from ..ir import CompileFacts, SourceGraph, SourceLayer, TensorInfo

log = logging.getLogger(__name__)

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
UNSAFE_FIX = ("if you trust this file, pass --allow-unsafe-code (Python: allow_unsafe=True) with the code "
              "importable; the layers must still be supported ones")


# ---------------------------------------------------------------- loading


def read_keras(source: Any, *, allow_unsafe: bool = False) -> SourceGraph:
    """A :class:`SourceGraph` from a Keras model object or a ``.keras`` / ``.h5`` path."""
    import keras

    if isinstance(source, keras.Model):
        return graph_of(source, origin="")
    path = Path(source)
    model = load_keras(path, allow_unsafe=allow_unsafe)
    graph = graph_of(model, origin=str(path))
    if path.suffix.lower() != ".keras":
        graph.compile = _h5_compile_facts(path)
    return graph


def load_keras(path: Path, *, allow_unsafe: bool = False):
    """Load a Keras model file after checking its kind and scanning its config for code."""
    where = str(path)
    if path.is_dir() and (path / "saved_model.pb").exists():
        raise BadInputError(
            "is a TensorFlow SavedModel folder: it holds a traced graph, not Keras layers, and Keras 3 cannot "
            "rebuild a model from it", where=where,
            fix="re-save it as a Keras file where it was made (tf.keras 2: model.save('model.h5')), or load it "
                "with tf-keras (pip install --no-deps tf-keras) as tf_keras.models.load_model(folder) and "
                "save('model.h5'); then convert the .h5")
    limits.check_file(path, "a Keras model file", fix="pass the .keras or .h5 file saved with model.save(...)")
    if path.suffix.lower() not in KERAS_SUFFIXES:
        raise BadInputError(f"'{path.suffix}' is not a Keras model file suffix ({', '.join(KERAS_SUFFIXES)})",
                            where=where, fix="pass a .keras or .h5 file saved with model.save(...)")
    config = _read_config(path)
    unsafe = sorted(set(_code_carriers(config, where)))
    if unsafe and not allow_unsafe:
        raise UnsupportedModelError(
            "the model carries Python code that loading would run: " + ", ".join(unsafe), where=where,
            fix=UNSAFE_FIX)
    unknown = _unknown_classes(config)
    if unknown and not allow_unsafe:
        raise UnsupportedModelError(
            "the model uses layer classes that are not Keras' own (custom layers, whose code loading would need): "
            + ", ".join(unknown), where=where, fix=UNSAFE_FIX)
    import keras

    # legacy HDF5 files are loaded uncompiled (Keras 3 cannot rebuild some of their metrics); their
    # compile config is read from the file by _h5_compile_facts instead
    compile_now = path.suffix.lower() == ".keras"
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
            # an untrained optimizer's variables are never saved: not a problem
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            warnings.filterwarnings("ignore", message="Do not pass an `input_shape`")
            legacy = None if compile_now else _keras2_config(config)
            if legacy is not None:
                path = _with_config(path, legacy, Path(tmp))
            return keras.saving.load_model(path, safe_mode=not allow_unsafe, compile=compile_now)
    except MemoryError:
        raise out_of_memory(f"{where}: Keras loading the model") from None
    except (ValueError, TypeError, KeyError, OSError, AttributeError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, OSError) and exc.errno is not None:
            raise from_os_error(exc, where=where, doing="cannot read the model") from None
        if "safe_mode" in str(exc) or "Could not locate" in str(exc) or "Unknown" in str(exc):
            unknown = _unknown_classes(config)
            named = f"; classes Keras does not know: {', '.join(unknown)}" if unknown else ""
            raise UnsupportedModelError(f"Keras could not rebuild the model safely ({first}){named}", where=where,
                                        fix=UNSAFE_FIX) from None
        raise BadInputError(f"Keras could not load the model ({first})", where=where,
                            fix="re-save the model with model.save('model.keras') in Keras 3") from None


def _keras2_config(config: dict) -> dict | None:
    """A Keras 2 model config in the spelling Keras 3's HDF5 loader reads, or None when it reads it as is.

    Keras <= 2.2 stored a Sequential's config as a bare list of layers, and its first layer carried the
    model's ``batch_input_shape`` (no InputLayer): Keras 3 fails on the list and, given the shape on a
    layer, adds a second batch axis. Here the list becomes ``{"layers": [...]}`` and the shape moves to
    an InputLayer of its own.
    """
    if config.get("class_name") != "Sequential":
        return None
    inner = config.get("config")
    layers = inner if isinstance(inner, list) else (inner or {}).get("layers")
    if not isinstance(layers, list) or not layers:
        return None
    first = layers[0].get("config", {}) if isinstance(layers[0], dict) else {}
    shaped = layers[0].get("class_name") != "InputLayer" and "batch_input_shape" in first
    if isinstance(inner, dict) and not shaped:
        return None
    layers = [dict(layer, config=dict(layer.get("config", {}))) for layer in layers]
    if shaped:
        head = layers[0]["config"]
        layers.insert(0, {"class_name": "InputLayer", "config": {
            "batch_input_shape": head.pop("batch_input_shape"), "dtype": head.get("dtype", "float32"),
            "name": f"{head.get('name', 'input')}_input"}})
    name = inner.get("name", "sequential") if isinstance(inner, dict) else "sequential"
    return {"class_name": "Sequential", "config": {"name": name, "layers": layers}}


def _with_config(path: Path, config: dict, folder: Path) -> Path:
    """A copy of the HDF5 file ``path`` in ``folder`` whose model config is ``config``."""
    import h5py

    copy = folder / path.name
    shutil.copyfile(path, copy)
    with h5py.File(copy, "r+") as f:
        f.attrs["model_config"] = json.dumps(config)
    return copy


def _read_config(path: Path) -> dict:
    """The model config stored in the file, without building the model; sizes checked from headers
    (the zip member's, the HDF5 attribute's) before anything is inflated or read."""
    where = str(path)
    try:
        raw = _config_bytes(path, where)
    except OSError as exc:
        if exc.errno is not None:
            raise from_os_error(exc, where=where, doing="cannot read the model") from None
        kind = "a .keras archive" if path.suffix.lower() == ".keras" else "an HDF5 file"
        raise BadInputError(f"not {kind}, or a truncated/corrupt one ({exc})", where=where,
                            fix="re-save or re-download the model") from None
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except RecursionError:
        raise BadInputError(f"the model config is nested too deeply (more than {limits.MAX_NESTING} levels) to be "
                            "a Keras model", where=where, fix="re-save the model with model.save('model.keras')"
                            ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(f"the model config is not valid JSON ({exc})", where=where,
                            fix="re-save or re-download the model") from None
    if not isinstance(config, dict):
        raise BadInputError("the model config is not a JSON object", where=where,
                            fix="re-save the model with model.save('model.keras')")
    _check_nesting(config, where)
    return config


def _config_bytes(path: Path, where: str) -> bytes | str:
    if path.suffix.lower() == ".keras":
        try:
            with zipfile.ZipFile(path) as zf:
                infos = {i.filename: i for i in zf.infolist()}
                if "config.json" not in infos:
                    raise BadInputError("the archive holds no config.json: not a Keras 3 model file",
                                        where=where, fix="save the model with model.save('model.keras')")
                limits.check_bytes(infos["config.json"].file_size, "the archive's config.json",
                                   where=where, limit=limits.max_config_bytes())
                limits.check_bytes(sum(i.file_size for i in infos.values()), "inflating the archive", where=where)
                with zf.open(infos["config.json"]) as fh:   # the reader stops at the header's size
                    return fh.read(limits.max_config_bytes() + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError,
                NotImplementedError) as exc:
            raise BadInputError(f"not a .keras archive, or a truncated/corrupt one ({exc})", where=where,
                                fix="re-save or re-download the model") from None
    import h5py

    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise BadInputError("the HDF5 file holds weights only, no model", where=where,
                                fix="save the whole model with model.save('model.keras')")
        limits.check_bytes(f.attrs.get_id("model_config").get_storage_size(), "the HDF5 model_config", where=where,
                           limit=limits.max_config_bytes())
        return f.attrs["model_config"]


def _check_nesting(config: Any, where: str) -> None:
    """Refuse a config nested deeper than :data:`limits.MAX_NESTING` (walked without recursion)."""
    stack = [(config, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.MAX_NESTING:
            raise BadInputError(f"the model config is nested more than {limits.MAX_NESTING} levels deep",
                                where=where, fix="re-save the model with model.save('model.keras')")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _unknown_classes(config: Any) -> list[str]:
    """Layer classes of the config (entries of its 'layers' lists) that neither Keras nor a registration
    knows, each named with its layer."""
    import keras

    found = []
    for node in _nodes(config):
        for layer in node.get("layers") or [] if isinstance(node.get("layers"), list) else []:
            if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
                continue
            cls = layer["class_name"]
            known = hasattr(keras.layers, cls) or cls in ("Functional", "Sequential", "Model") \
                or keras.saving.get_registered_object(layer.get("registered_name") or cls) is not None
            if not known:
                cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
                found.append(f"'{cls}' (layer '{cfg.get('name', '?')}')")
    return sorted(set(found))


def _nodes(config: Any):
    """Every dict in a config, without recursion."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _h5_compile_facts(path: Path) -> CompileFacts | None:
    """The compile config stored in a legacy HDF5 model file (its 'training_config' attribute)."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("training_config")
    if raw is None:
        return None
    cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    facts = CompileFacts()
    loss = cfg.get("loss")
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and "class_name" not in loss and len(loss) == 1:
        loss = next(iter(loss.values()))
    if isinstance(loss, str):
        facts.loss = loss
    elif isinstance(loss, dict) and "class_name" in loss:
        inner = loss.get("config") or {}
        facts.loss = _snake(loss["class_name"]) if loss["class_name"] != "LossFunctionWrapper" else inner.get("name")
        facts.from_logits = bool(inner.get("from_logits", False))
        facts.label_smoothing = float(inner.get("label_smoothing", 0.0) or 0.0)
    opt = cfg.get("optimizer_config")
    if isinstance(opt, dict):
        facts.optimizer = str(opt.get("class_name", "")).split(">")[-1].lower() or None   # tf.keras: 'Custom>Adam'
        facts.optimizer_config = {KERAS2_OPTIMIZER_KEYS.get(k, k): _plain(v) for k, v in (opt.get("config") or {}).items()}
    return facts


KERAS2_OPTIMIZER_KEYS = {"lr": "learning_rate"}
"""Keras 2's spellings of optimizer settings that Keras 3 renamed."""


def _keras_function(name: Any) -> bool:
    """Whether ``name`` (a ``{"module": "builtins", "class_name": "function"}`` config) names one of Keras'
    own losses, metrics or activations, which Keras' safe mode loads: a name lookup, no code."""
    if not isinstance(name, str):
        return False
    import keras

    for family in (keras.losses, keras.metrics, keras.activations):
        try:
            if family.get(name) is not None:
                return True
        except (ValueError, TypeError):
            continue
    return False


def _code_carriers(config: Any, where: str = "") -> list[str]:
    """Names of the config's objects that carry code: Lambda layers, custom (registered) classes."""
    found: list[str] = []
    for node in _nodes(config):
        cls = node.get("class_name")
        cfg = node.get("config")
        if not isinstance(cls, str):
            continue
        name = cfg.get("name", "?") if isinstance(cfg, dict) else "?"
        module = node.get("module")
        if cls == "Lambda":
            found.append(f"Lambda layer '{name}'")
        elif cls == "__lambda__":
            found.append("a Python lambda")
        elif module == "builtins" and cls == "function":
            if not _keras_function(cfg):
                found.append(f"function '{cfg}' (not one of Keras' own)")
        elif node.get("registered_name") and module is not None and not str(module).startswith("keras"):
            found.append(f"custom {cls} '{name}' ({node['registered_name']})")
        elif module is not None and not str(module).startswith(("keras", "builtins")):
            found.append(f"custom {cls} '{name}' (module {module})")
    return found


# ---------------------------------------------------------------- the graph


def graph_of(model, *, origin: str) -> SourceGraph:
    """Walk a built Functional or Sequential Keras model into a :class:`SourceGraph`."""
    fn = _function_of(model)
    layers: list[SourceLayer] = []
    inputs = []
    names: dict[int, str] = {}
    for t in fn.inputs:
        op = t._keras_history.operation
        shape = _shape(t, where=f"input '{op.name}'")
        names[id(t)] = op.name
        inputs.append(TensorInfo(op.name, shape, str(getattr(t, "dtype", "float32"))))
        layers.append(SourceLayer(op.name, "InputLayer", _config(op), {}, [], [op.name], [], [shape],
                                  bool(op.trainable)))
    walker = _Walker(layers)
    out_names = walker.walk(fn, [names[id(t)] for t in fn.inputs], prefix="", trainable=True)
    outputs = [TensorInfo(n, walker.shapes[n]) for n in out_names]
    graph = SourceGraph(name=model.name, layers=layers, inputs=inputs, outputs=outputs,
                        channels_last=_channels_last(layers), compile=compile_facts(model), origin=origin)
    return graph


def _function_of(model):
    """The Functional graph of a model (a Sequential's inner Functional)."""
    import keras

    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise BadInputError("the Sequential model is not built (its input shape is unknown)",
                                where=f"model '{model.name}'",
                                fix="start it with keras.Input(shape=...) or call model.build((None, ...))")
        return fn
    if not hasattr(model, "_nodes_by_depth") or not hasattr(model, "inputs") or model.inputs is None:
        raise UnsupportedModelError("subclassed Keras models have no layer graph to convert",
                                    where=f"model '{model.name}'",
                                    fix="rebuild it as a Functional or Sequential model")
    return model


def _shape(tensor, *, where: str) -> tuple[int, ...]:
    shape = tuple(tensor.shape[1:])
    if any(s is None for s in shape):
        raise BadInputError(f"shape {tuple(tensor.shape)} has unknown dimensions besides the batch", where=where,
                            fix="give the model a fixed input shape (keras.Input(shape=(...)))")
    return tuple(int(s) for s in shape)


class _Walker:
    """Collects layers of (possibly nested) Functional graphs in topological order."""

    def __init__(self, layers: list[SourceLayer]) -> None:
        self.layers = layers
        self.calls: dict[str, int] = {}
        self.shapes: dict[str, tuple[int, ...]] = {layer.outputs[0]: layer.output_shapes[0] for layer in layers}

    def walk(self, fn, input_names: list[str], *, prefix: str, trainable: bool) -> list[str]:
        names = {id(t): n for t, n in zip(fn.inputs, input_names)}
        order = {id(op): i for i, op in enumerate(fn.operations)}
        for depth in sorted(fn._nodes_by_depth, reverse=True):
            nodes = sorted(fn._nodes_by_depth[depth], key=lambda n: order.get(id(n.operation), -1))
            for node in nodes:
                op = node.operation
                if op is None or node.is_input:
                    continue
                ins = [names[id(t)] for t in node.input_tensors]
                outs = self._visit(op, node, ins, prefix, trainable and bool(op.trainable))
                for t, n in zip(node.output_tensors, outs):
                    names[id(t)] = n
        return [names[id(t)] for t in fn.outputs]

    def _visit(self, op, node, ins: list[str], prefix: str, trainable: bool) -> list[str]:
        import keras

        base = prefix + op.name
        k = self.calls.get(base, 0)
        self.calls[base] = k + 1
        name = base if k == 0 else f"{base}__call{k}"
        if isinstance(op, keras.Model):
            return self.walk(_function_of(op), ins, prefix=name + "/", trainable=trainable)
        outs = [name] if len(node.output_tensors) == 1 else [f"{name}:{i}" for i in range(len(node.output_tensors))]
        out_shapes = [_shape(t, where=f"layer '{name}'") for t in node.output_tensors]
        for n, s in zip(outs, out_shapes):
            self.shapes[n] = s
        self.layers.append(SourceLayer(
            name=name, kind=type(op).__name__, config=_config(op), weights=_weights(op), inputs=ins, outputs=outs,
            input_shapes=[self.shapes[i] for i in ins], output_shapes=out_shapes, trainable=trainable))
        return outs


def _config(op) -> dict:
    try:
        return op.get_config()
    except NotImplementedError:
        return {"name": op.name}


def _weights(op) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for v in op.weights:
        key = v.name if v.name not in out else f"{v.name}_{len(out)}"
        out[key] = np.asarray(v.numpy(), dtype=np.float32)
    return out


def _channels_last(layers: list[SourceLayer]) -> bool:
    formats = {layer.config.get("data_format") for layer in layers} - {None}
    if len(formats) > 1:
        raise UnsupportedConfigError("the model mixes channels_last and channels_first layers",
                                     fix="use one data_format throughout the model")
    return formats != {"channels_first"}


# ---------------------------------------------------------------- compile facts


def compile_facts(model) -> CompileFacts | None:
    """The loss and optimizer the model was compiled with, as plain data (None if not compiled)."""
    loss = getattr(model, "loss", None)
    optimizer = getattr(model, "optimizer", None)
    if loss is None and optimizer is None:
        return None
    facts = CompileFacts()
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    if isinstance(loss, str):
        facts.loss = loss
    elif loss is not None and hasattr(loss, "get_config"):
        cfg = loss.get_config()
        facts.loss = _snake(type(loss).__name__) if type(loss).__name__ != "LossFunctionWrapper" else cfg.get("name")
        facts.from_logits = bool(cfg.get("from_logits", False))
        facts.label_smoothing = float(cfg.get("label_smoothing", 0.0) or 0.0)
    elif callable(loss):
        facts.loss = getattr(loss, "__name__", None)
    if optimizer is not None:
        cfg = optimizer.get_config()
        facts.optimizer = type(optimizer).__name__.lower()  # the class: config names may be 'adam_1'
        facts.optimizer_config = {k: _plain(v) for k, v in cfg.items()}
    return facts


def _snake(name: str) -> str:
    """'SparseCategoricalCrossentropy' -> 'sparse_categorical_crossentropy'."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _plain(value: Any) -> Any:
    """Config values as plain Python; float32-stored floats at their shortest float32 spelling."""
    if isinstance(value, (float, np.floating)):
        return float(str(np.float32(value)))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
