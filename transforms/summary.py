"""A model's layers, parameters and update settings as plain data (for ``inspect``, reports, metadata)."""
from __future__ import annotations

from typing import Any, Callable

from ground import nn_spec as S
from ground.errors import CoreMLUpdatableError
from ground.rules import graph as G
from ground.update_params import COREML_OF, NUMBER_OF_NEIGHBORS, Param, read, read_param

_ARRAY_TYPES = {65568: "Float32", 65600: "Double", 131104: "Int32", 65552: "Float16"}


def feature_type(fd: Any) -> str:
    """A feature's type in words, e.g. 'MultiArray<Int32>[1]', 'Int64', 'Image 28x28'."""
    kind = fd.type.WhichOneof("Type")
    if kind == "multiArrayType":
        t = fd.type.multiArrayType
        return f"MultiArray<{_ARRAY_TYPES.get(t.dataType, t.dataType)}>[{','.join(str(d) for d in t.shape)}]"
    if kind == "imageType":
        return f"Image {fd.type.imageType.width}x{fd.type.imageType.height}"
    return {"int64Type": "Int64", "doubleType": "Double", "stringType": "String",
            "dictionaryType": "Dictionary"}.get(kind, str(kind))


def _param(p: Param) -> dict:
    """A parameter's default and its allowed range or set."""
    out: dict[str, Any] = {"default": p.default}
    if p.allowed is not None:
        out[p.allowed[0]] = list(p.allowed[1])
    return out


def update_settings(spec: Any) -> dict:
    """Loss, optimizer with hyperparameters (and their allowed values), epochs, shuffle, seed, training inputs
    (read by :func:`ground.update_params.read`, the one reader of ``updateParams``)."""
    params = read(S.nn_of(spec))
    words = {"categoricalCrossEntropyLossLayer": "categorical cross-entropy",
             "meanSquaredErrorLossLayer": "mean squared error"}
    losses = [{**layer, "type": words.get(layer["type"], layer["type"])} for layer in params.loss_layers]
    optimizer = None
    if params.optimizer_message:
        optimizer = {"type": params.optimizer or params.optimizer_message,
                     "parameters": {COREML_OF[k]: _param(p) for k, p in params.params.items()
                                    if k not in ("epochs", "shuffle", "seed")}}
    epochs = params.params.get("epochs")
    return {
        "loss": losses,
        "optimizer": optimizer,
        "epochs": _param(epochs) if epochs is not None else None,
        "shuffle": params.default("shuffle"),
        "seed": params.default("seed"),
        "training_inputs": [{"name": f.name, "type": feature_type(f)} for f in spec.description.trainingInput],
    }


def summarize(spec: Any, shapes: dict[str, tuple[int, ...]] | None = None,
              resolve: Callable[[Any], tuple[str, Any]] | None = None) -> dict:
    """The model's table as data.

    ``shapes``: blob name -> Core ML shape (C,H,W) or (C,), e.g. measured by running the emulator; a
    layer whose output is missing there gets ``None``. ``resolve``: a ``linkedModel`` spec -> (path, the
    spec of the file it links to); without it a link is shown by its file name only.
    """
    kind = S.model_kind(spec)
    out: dict[str, Any] = {"model_type": kind, "specification_version": spec.specificationVersion,
                           "updatable": bool(spec.isUpdatable),
                           "inputs": [{"name": f.name, "type": feature_type(f)} for f in spec.description.input],
                           "outputs": [{"name": f.name, "type": feature_type(f)} for f in spec.description.output]}
    if kind in S.PIPELINE_TYPES:
        models = S.sub_models(spec)
        pipe = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
        names = list(pipe.names) if len(pipe.names) == len(models) else [f"model {i}" for i in range(len(models))]
        out["models"] = [{"name": name, "trains": bool(m.isUpdatable), **summarize(m, shapes, resolve)}
                         for name, m in zip(names, models)]
        out["training_inputs"] = [{"name": f.name, "type": feature_type(f)} for f in spec.description.trainingInput]
        return out
    if kind == "kNearestNeighborsClassifier":
        out["knn"] = knn_summary(spec)
        return out
    if kind == "linkedModel":
        link = spec.linkedModel.linkedModelFile
        out["linked"] = {"file": link.linkedModelFileName.defaultValue,
                         "search_path": link.linkedModelSearchPath.defaultValue}
        if resolve is not None:
            try:
                path, target = resolve(spec)
            except CoreMLUpdatableError as exc:
                out["linked"]["error"] = str(exc).splitlines()[0]
            else:
                out["linked"]["resolved"] = str(path)
                out["linked"]["model"] = summarize(target, shapes, resolve)
        return out
    if kind not in S.NN_TYPES:
        return out
    nn = S.nn_of(spec)
    path = G.backprop_path(spec) if spec.isUpdatable else set()
    rows = []
    for layer in nn.layers:
        shape = (shapes or {}).get(layer.output[0]) if layer.output else None
        rows.append({"name": layer.name, "type": S.kind(layer), "output_shape": list(shape) if shape else None,
                     "parameters": S.param_count(layer), "updatable": bool(layer.isUpdatable),
                     "backprop_path": layer.name in path})
    out["layers"] = rows
    out["totals"] = {"layers": len(rows), "parameters": sum(r["parameters"] for r in rows),
                     "updatable_parameters": sum(r["parameters"] for r in rows if r["updatable"])}
    out["update"] = update_settings(spec) if spec.isUpdatable else None
    return out


def knn_summary(spec: Any) -> dict:
    """A k-NN classifier's settings and stored examples as plain data."""
    k = spec.kNearestNeighborsClassifier
    index = k.nearestNeighborsIndex
    which = k.WhichOneof("ClassLabels")
    labels = list(getattr(k, which).vector) if which else []
    default = k.WhichOneof("DefaultClassLabel")
    index_type = index.WhichOneof("IndexType")
    return {"dimensions": index.numberOfDimensions, "stored_examples": len(index.floatSamples),
            "labels": list(dict.fromkeys(labels)), "label_type": "Int64" if "int64" in (which or default or "").lower() else "String", "default_label": getattr(k, default) if default else None,
            "number_of_neighbors": _param(read_param(k.numberOfNeighbors, NUMBER_OF_NEIGHBORS.kind)),
            "weighting": {"uniformWeighting": "uniform", "inverseDistanceWeighting": "inverse distance"}.get(
                k.WhichOneof("WeightingScheme"), "unset"),
            "index": ({"linearIndex": "linear", "singleKdTreeIndex": f"kd-tree (leaf size {index.singleKdTreeIndex.leafSize})"}
                      .get(index_type, "unset")),
            "distance": "squared Euclidean" if index.WhichOneof("DistanceFunction") else "unset"}


def _knn_lines(knn: dict) -> list[str]:
    k = knn["number_of_neighbors"]
    allowed = (f" range [{k['range'][0]}, {k['range'][1]}]" if "range" in k else
               f" set {{{', '.join(map(str, k['set']))}}}" if "set" in k else "")
    shown = ", ".join(map(str, knn["labels"][:10])) + (", ..." if len(knn["labels"]) > 10 else "")
    return [f"k-NN: k {k['default']}{allowed}; {knn['weighting']} weighting; {knn['index']} index; "
            f"{knn['distance']} distance",
            f"stored examples: {knn['stored_examples']} of {knn['dimensions']} values; labels ({knn['label_type']}): "
            f"{shown or 'none yet'}; default label: {knn['default_label']}"]


def format_table(summary: dict) -> list[str]:
    """Human-readable lines for a :func:`summarize` result."""
    lines = [f"model type: {summary['model_type']} (specification version {summary['specification_version']}), "
             f"{'updatable' if summary['updatable'] else 'not updatable'}"]
    for key in ("inputs", "outputs"):
        lines.append(f"{key}: " + ", ".join(f"{f['name']} {f['type']}" for f in summary[key]))
    if "models" in summary:
        trains = [f"model {i} '{m['name']}'" for i, m in enumerate(summary["models"]) if m["trains"]]
        lines.append("trains: " + (", ".join(trains) + " (the others are frozen)" if trains else "nothing (frozen)"))
        if summary.get("training_inputs"):
            lines.append("training inputs: " + ", ".join(f"{f['name']} {f['type']}" for f in summary["training_inputs"]))
        for i, m in enumerate(summary["models"]):
            lines.append(f"--- pipeline model {i} '{m['name']}': {m['model_type']}, "
                         f"{'TRAINS' if m['trains'] else 'frozen'} ---")
            lines += ["  " + line for line in format_table(m)[1:]]
        return lines
    if "knn" in summary:
        return lines + _knn_lines(summary["knn"])
    if "linked" in summary:
        link = summary["linked"]
        lines.append(f"linked model: '{link['file']}' (search path '{link['search_path'] or '.'}')"
                     + (f" -> {link['resolved']}" if "resolved" in link else "")
                     + (f": {link['error']}" if "error" in link else ""))
        if "model" in link:
            lines += format_table(link["model"])
        return lines
    if "layers" not in summary:
        return lines
    rows = [("layer", "type", "output shape", "params", "updatable", "backprop path")]
    for r in summary["layers"]:
        shape = "(" + ", ".join(map(str, r["output_shape"])) + ("," if len(r["output_shape"]) == 1 else "") + ")" \
            if r["output_shape"] else "?"
        rows.append((r["name"], r["type"], shape, f"{r['parameters']:,}", "yes" if r["updatable"] else "",
                     "yes" if r["backprop_path"] else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  ".join(cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                     .rstrip())
    t = summary["totals"]
    lines.append(f"total parameters: {t['parameters']:,}; updatable: {t['updatable_parameters']:,}")
    up = summary.get("update")
    if up:
        for loss in up["loss"]:
            lines.append(f"loss: {loss['type']} '{loss['name']}' (input {loss['input']}, target {loss['target']})")
        if up["optimizer"]:
            parts = []
            for name, p in up["optimizer"]["parameters"].items():
                allowed = (f" range [{p['range'][0]:g}, {p['range'][1]:g}]" if "range" in p else
                           f" set {{{', '.join(map(str, p['set']))}}}" if "set" in p else "")
                parts.append(f"{name} {p['default']:g}{allowed}")
            lines.append(f"optimizer: {up['optimizer']['type']}: " + "; ".join(parts))
        if up["epochs"]:
            e = up["epochs"]
            allowed = (f" range [{e['range'][0]}, {e['range'][1]}]" if "range" in e else
                       f" set {{{', '.join(map(str, e['set']))}}}" if "set" in e else "")
            lines.append(f"epochs: {e['default']}{allowed}")
        lines.append(f"shuffle: {up['shuffle']}; seed: {up['seed'] if up['seed'] is not None else 'none'}")
        lines.append("training inputs: " + ", ".join(f"{f['name']} {f['type']}" for f in up["training_inputs"]))
    return lines
