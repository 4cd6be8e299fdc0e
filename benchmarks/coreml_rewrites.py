"""Measure the Core ML front end: each rewrite's largest difference between original and rewritten model.

Builds ``coremltools.convert`` NeuralNetwork models (fixtures/coreml_models.py: a Keras MLP, the seeds'
LeNet, a small CNN with BatchNormalization and global pooling, MobileNetV2 (alpha 0.35, 96x96), a PyTorch
CNN when torch is installed), converts each with ``converter.convert.convert``, runs the original and the
rewritten model in the runtime on the same random inputs, and writes per model the rewrites that fired
and max |difference|, and per rewrite the largest difference over the models it fired in. A rewrite's
effect can only be measured on a whole model: the rewritten layers mean the same as the original only
once the network is lowered to the rank-5 interpretation.

    python benchmarks/coreml_rewrites.py [--examples 256] [--out benchmarks/results/coreml_rewrites.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(name: str, built, updatable: str, examples: int, seed: int = 0) -> dict:
    import emulator
    from converter.convert import convert
    from ground.rules import violations
    from transforms.options import UpdateOptions

    _, mlmodel = built
    original = mlmodel.get_spec()
    started = time.perf_counter()
    result = convert(original, options=UpdateOptions(updatable=updatable))
    seconds = time.perf_counter() - started
    source, target = emulator.load(original), emulator.load(result.spec)
    feature = source.inputs[0]
    x = np.random.default_rng(seed).random((examples, *feature.shape), dtype=np.float32)
    new_shape = tuple(target.inputs[0].shape)
    channels_first = any("channels first" in e.subject + e.reason for e in result.report.entries)
    x_new = x[:, 0].transpose(0, 3, 1, 2) if channels_first else x.reshape(examples, *new_shape)
    a = next(iter(source.predict(x).values()))
    b = next(iter(target.predict(x_new).values()))
    diff = float(np.abs(a.reshape(examples, -1) - b.reshape(examples, -1)).max())
    fired = sorted({e.reason.split(":")[0] for e in result.report.entries if e.action == "rewritten"})
    return {"model": name, "layers_before": len(original.neuralNetwork.layers),
            "layers_after": len(result.spec.neuralNetwork.layers), "rewrites": fired,
            "updatable": [l.name for l in result.spec.neuralNetwork.layers if l.isUpdatable],
            "valid": violations(result.spec) == [], "max_abs_diff": diff, "examples": examples,
            "convert_s": round(seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "coreml_rewrites.json"))
    args = parser.parse_args(argv)
    from fixtures import coreml_models as M

    cases = [("keras MLP", M.keras_mlp, "trainable"), ("keras LeNet", M.keras_lenet, "trainable"),
             ("keras CNN + BatchNorm + GAP", M.keras_gap_cnn, "trainable"),
             ("keras MobileNetV2 0.35 96", M.keras_mobilenet_v2, "last:1")]
    if M.torch_available():
        cases.append(("pytorch CNN", M.torch_cnn, "all"))
    models = [measure(name, build(), updatable, args.examples) for name, build, updatable in cases]
    per_rewrite: dict[str, dict] = {}
    for m in models:
        for r in m["rewrites"]:
            entry = per_rewrite.setdefault(r, {"models": [], "max_abs_diff": 0.0})
            entry["models"].append(m["model"])
            entry["max_abs_diff"] = max(entry["max_abs_diff"], m["max_abs_diff"])
    out = {"command": "python benchmarks/coreml_rewrites.py", "python": platform.python_version(),
           "models": models, "per_rewrite": per_rewrite}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    for m in models:
        print(f"{m['model']:30s} max|diff| {m['max_abs_diff']:.3g}  valid {m['valid']}  rewrites {m['rewrites']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
