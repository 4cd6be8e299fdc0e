"""Read the trained weights back from a compiled model (``.mlmodelc``) that a device wrote.

An app saves what MLUpdateTask trained with ``MLUpdateContext.model.write(to:)``: a compiled
``.mlmodelc`` folder, not an ``.mlmodel``. Its network lives in two files of Apple's private
"espresso" format. Only the part below is read; it was established on the one device-written model we
hold (``../shared/device-anchor/trained_on_mac.mlmodelc``, a Mac's MLUpdateTask run) and every read is
checked against the sizes the files themselves state.

``model.espresso.net`` (JSON; some system models store it lzfse-compressed, which is refused):
    ``{"storage": "model.espresso.weights", "format_version": 200, "layers": [...]}``. Each layer has
    ``type`` and ``name`` (the Core ML layer's name). A layer of type ``inner_product`` has ``nB`` inputs,
    ``nC`` outputs, ``has_biases``, ``blob_weights`` and ``blob_biases`` (blob ids in the weights file);
    its weights are ``nC x nB`` floats, row-major, which is Core ML's innerProduct layout
    (``outputChannels x inputChannels``). Activations fused by the compiler (``has_relu``...) are noted
    but carry no weights.

``model.espresso.weights`` (binary, little-endian):
    a u64 count ``n``; then ``n`` pairs (u64 blob id, u64 byte size); then the blobs' bytes, one after
    another in that order. Blobs are float32. Blobs no layer names (in the device file: ids 0 and 10, all
    zeros, and empty ones) are skipped.

Not read: convolution layers. No device-written file with one was available to establish how their
kernels are laid out in a blob (the espresso layer names its blobs, but kernel axis order and any
padding or reordering are unverified), so :func:`read_trained_weights` refuses them by name rather
than guess. Other layer types carry no trainable weights in an updatable model (rule 6) and are skipped.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ground import limits
from ground.errors import BadInputError, UnsupportedItem, UnsupportedLayerError

READABLE = {"inner_product": "innerProduct"}
"""espresso layer type -> the Core ML layer type whose weights are read from it."""

REFUSED = {"convolution": "the layout of convolution kernels in model.espresso.weights is not established "
                          "from any device-written file, so they are not guessed"}


@dataclass(frozen=True)
class TrainedLayer:
    """One layer's weights as a device left them, in Core ML's layout."""

    name: str
    kind: str                    # Core ML layer type ('innerProduct')
    weights: np.ndarray          # innerProduct: (outputChannels, inputChannels)
    bias: np.ndarray | None


def read_blobs(path: str | Path) -> dict[int, np.ndarray]:
    """Every blob of a ``model.espresso.weights`` file, by id, as float32 arrays."""
    data = limits.read_file(Path(path), "the espresso weights file")
    where = f"'{Path(path).name}'"
    if len(data) < 8:
        raise BadInputError(f"{where} is too short to be an espresso weights file ({len(data)} bytes)")
    (count,) = struct.unpack_from("<Q", data, 0)
    header = 8 + 16 * count
    if count > 1 << 20 or header > len(data):
        raise BadInputError(f"{where} does not start with a plausible blob table (count {count})",
                            fix="pass the model.espresso.weights of an uncompressed .mlmodelc")
    table = [struct.unpack_from("<QQ", data, 8 + 16 * i) for i in range(count)]
    total = sum(size for _, size in table)
    if header + total != len(data):
        raise BadInputError(f"{where}: its blob table sums to {header + total} bytes but the file has "
                            f"{len(data)}", fix="pass an unmodified model.espresso.weights")
    blobs, offset = {}, header
    for blob_id, size in table:
        if size % 4:
            raise BadInputError(f"{where}: blob {blob_id} has {size} bytes, not a whole number of float32s")
        blobs[int(blob_id)] = np.frombuffer(data, "<f4", size // 4, offset).astype(np.float32)
        offset += size
    return blobs


def read_net(path: str | Path) -> dict:
    """The JSON of a ``model.espresso.net`` file."""
    raw = limits.read_file(Path(path), "the espresso net")
    try:
        net = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadInputError(f"'{Path(path).name}' is not JSON (compressed espresso nets are not supported)",
                            fix="pass the .mlmodelc that MLUpdateContext.model.write(to:) wrote") from None
    if not isinstance(net, dict) or not isinstance(net.get("layers"), list):
        raise BadInputError(f"'{Path(path).name}' has no 'layers' list")
    return net


def read_trained_weights(mlmodelc: str | Path) -> dict[str, TrainedLayer]:
    """The weights of every layer of a compiled model that carries them, by Core ML layer name.

    Raises UnsupportedLayerError naming every layer with weights that cannot be read (convolution).
    """
    folder = Path(mlmodelc)
    net_path, weights_path = folder / "model.espresso.net", folder / "model.espresso.weights"
    if not net_path.is_file() or not weights_path.is_file():
        raise BadInputError(f"{str(folder)!r} has no model.espresso.net and model.espresso.weights",
                            fix="pass the .mlmodelc folder that MLUpdateContext.model.write(to:) wrote "
                                "(a NeuralNetwork model; ML Program models are not supported)")
    net = read_net(net_path)
    blobs = read_blobs(weights_path)
    layers, refused = {}, []
    for entry in net["layers"]:
        kind, name = entry.get("type"), str(entry.get("name", "?"))
        if kind in REFUSED:
            refused.append(UnsupportedItem(name, kind, REFUSED[kind]))
        elif kind == "inner_product":
            layers[name] = _inner_product(entry, name, blobs)
    if refused:
        raise UnsupportedLayerError(refused, context=f"cannot read the trained weights of {folder.name!r}",
                                    supported=READABLE, fix="only innerProduct weights can be imported")
    return layers


def _inner_product(entry: dict, name: str, blobs: dict[int, np.ndarray]) -> TrainedLayer:
    n_out, n_in = int(entry["nC"]), int(entry["nB"])
    weights = _blob(blobs, entry.get("blob_weights"), n_out * n_in, name, "weights").reshape(n_out, n_in)
    bias = _blob(blobs, entry.get("blob_biases"), n_out, name, "biases") if entry.get("has_biases") else None
    return TrainedLayer(name, "innerProduct", weights, bias)


def _blob(blobs: dict[int, np.ndarray], blob_id, count: int, layer: str, what: str) -> np.ndarray:
    if blob_id not in blobs:
        raise BadInputError(f"layer {layer!r}: its {what} blob {blob_id} is not in model.espresso.weights")
    values = blobs[blob_id]
    if values.size != count:
        raise BadInputError(f"layer {layer!r}: its {what} blob {blob_id} holds {values.size} floats, "
                            f"expected {count}")
    return values


def import_weights(spec, trained: dict[str, TrainedLayer]):
    """A copy of ``spec`` holding the ``trained`` weights; returns (new spec, names of the layers copied).

    Every layer of the compiled model must match a layer of the spec by name and shape, and every
    updatable layer of the spec must be in the compiled model; otherwise BadInputError lists them all.
    The spec's other fields (update parameters, descriptions, precision) are kept.
    """
    from ground.weight_params import precision, write

    from ground.spec_io import network_of

    new = type(spec)()
    new.CopyFrom(spec)
    layers = {layer.name: layer for layer in network_of(new).layers}
    problems, copied = [], []
    for name, t in trained.items():
        layer = layers.get(name)
        kind = layer.WhichOneof("layer") if layer is not None else None
        if kind != t.kind:
            problems.append(f"{name!r}: the compiled model's {t.kind} layer is "
                            + ("not in the .mlmodel" if layer is None else f"a {kind} layer in the .mlmodel"))
            continue
        p = layer.innerProduct
        shape = (int(p.outputChannels), int(p.inputChannels))
        if t.weights.shape != shape or (t.bias is not None) != bool(p.hasBias):
            problems.append(f"{name!r}: the compiled model holds {t.weights.shape[0]}x{t.weights.shape[1]} "
                            f"weights{' and a bias' if t.bias is not None else ''}, the .mlmodel "
                            f"{shape[0]}x{shape[1]}{' and a bias' if p.hasBias else ''}")
            continue
        for wp, values in ((p.weights, t.weights), (p.bias, t.bias)):
            if values is not None:
                like = precision(wp)
                if like not in ("float32", "float16"):
                    problems.append(f"{name!r}: the .mlmodel stores its weights as {like}; only float32 and "
                                    "float16 weights are replaced")
                    break
                write(wp, values, like)
        copied.append(name)
    missing = [l.name for l in layers.values() if l.isUpdatable and l.name not in trained]
    problems += [f"{name!r}: updatable in the .mlmodel but absent from the compiled model" for name in missing]
    if problems:
        raise BadInputError("the compiled model does not match the .mlmodel:\n  - " + "\n  - ".join(problems),
                            fix="pass the .mlmodel the device trained (the one the app shipped) and the "
                                ".mlmodelc it wrote after training")
    return new, copied
