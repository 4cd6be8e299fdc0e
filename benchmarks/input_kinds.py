"""Measure, per input kind and layer the input-contract tests cover, the converted model's largest
difference from Keras: ``python -m benchmarks.input_kinds [OUT.json]``.

The cases are the tests' own (``tests/converter/test_input_contract.py``, ``test_image_input.py``,
``test_mappers_recurrent.py``); each is converted, fed 64 random examples (images: raw 0-255 pixels) and
compared with Keras' predictions (the recurrent rows: the recurrent layer's own output, not a softmax).
Writes ``benchmarks/results/input_kinds.json``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = Path(__file__).resolve().parent / "results" / "input_kinds.json"


def main(out: Path = OUT) -> dict:
    import keras

    import emulator
    from converter.convert import convert
    from converter.image_input import ImageInput
    from ground.layout import source_batch_to_input
    from tests.converter import test_image_input as images
    from tests.converter import test_input_contract as contract
    from tests.converter import test_mappers_recurrent as rec
    from tests.converter.conftest import randomize
    from transforms.options import UpdateOptions

    rng = np.random.RandomState(7)
    results = {}
    for name, (build, shape, mapping) in sorted(contract.CASES.items()):
        keras.utils.set_random_seed(0)
        model = randomize(build(keras))
        spec = convert(model, options=UpdateOptions(updatable="last:1")).spec
        x = rng.rand(64, *model.input_shape[1:]).astype(np.float32)
        if name.startswith("embedding"):
            x = rng.randint(0, model.layers[1].input_dim, size=x.shape).astype(np.float32)
        got = emulator.load(spec).predict(source_batch_to_input(x, shape))[spec.description.output[0].name]
        diff = float(np.abs(got.reshape(len(x), -1) - model.predict(x, verbose=0)).max())
        results[name] = {"declared": shape, "mapping": ["RANK5", "EXACT"][mapping], "max_abs_diff": diff}
    for name, (build, text, scale, bias, _, feed) in sorted(images.CASES.items()):
        keras.utils.set_random_seed(0)
        model = randomize(build(keras))
        spec = convert(model, options=UpdateOptions(updatable="last:1",
                                                    image_inputs=(ImageInput.parse(text, scale, bias),))).spec
        pixels = rng.randint(0, 256, size=(64, 10, 10, model.input_shape[-1])).astype(np.float32)
        got = emulator.load(spec).predict(pixels.transpose(0, 3, 1, 2))[spec.description.output[0].name]
        diff = float(np.abs(got - model.predict(feed(pixels), verbose=0)).max())
        results[f"image-{name}"] = {"declared": f"image {text}", "max_abs_diff": diff}
    for kind, case, diff, scale in recurrent_rows(rng):
        row = {"declared": [1, 1, rec.T, rec.F], "mapping": "EXACT", "max_abs_diff": diff, "max_abs_output": scale}
        if case == "linear-tanh":
            row["note"] = ("a linear activation: Core ML clips each gate's pre-activation to [-50, 50] "
                           "(NeuralNetwork.proto), Keras does not; they differ where one leaves that range")
        results[f"recurrent-{kind}-{case}"] = row
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results.items():
        print(f"{name:32s} {str(r['declared']):20s} {r.get('mapping', ''):6s} {r['max_abs_diff']:.3g}")
    return results


def recurrent_rows(rng):
    """(kind, case, max |Keras - Core ML| of the recurrent layer's own output, max |output|) for every
    recurrent layer kind and option set the mapper tests cover (tests/converter/test_mappers_recurrent.py)."""
    import keras

    import emulator
    from converter.convert import to_inference_spec
    from ground.layout import source_batch_to_input
    from tests.converter import test_mappers_recurrent as rec
    from tests.converter.conftest import randomize

    for kind in sorted(rec.CORE):
        for case, options in sorted(rec.CASES.items()):
            if kind == "Bidirectional" and options.get("go_backwards"):
                continue                               # Keras itself refuses this Bidirectional
            keras.utils.set_random_seed(0)
            model = randomize(rec._sequence_model(keras, kind, **options))
            spec, _, _ = to_inference_spec(model)
            x = rng.normal(size=(64, rec.T, rec.F)).astype(np.float32)
            shape = list(spec.description.input[0].type.multiArrayType.shape)
            got = emulator.load(spec).predict(source_batch_to_input(x, shape))[spec.description.output[0].name]
            ref = model.predict(x, verbose=0)
            got = got.reshape(len(x), *ref.shape[1:][::-1]).transpose(0, 2, 1) if ref.ndim == 3 else got
            yield kind, case, float(np.abs(got.reshape(ref.shape) - ref).max()), float(np.abs(ref).max())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
