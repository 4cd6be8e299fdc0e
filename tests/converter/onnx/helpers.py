"""Build small ONNX models in memory and check the converted spec against onnxruntime."""
from __future__ import annotations

import numpy as np

ATOL = 1e-5


def model(nodes, inputs, outputs, inits=None, opset: int = 13):
    """An onnx.ModelProto: ``inputs``/``outputs`` are (name, shape) pairs (input batch made symbolic 'N';
    output shapes None are inferred), ``inits`` name -> array."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N"] + list(s[1:])) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(m)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for out in m.graph.output:
        if not out.type.tensor_type.HasField("shape") and out.name in known:
            out.type.CopyFrom(known[out.name].type)
    onnx.checker.check_model(m)
    return m


def node(op: str, ins, outs, **attrs):
    from onnx import helper

    return helper.make_node(op, list(ins), list(outs), name=f"{op.lower()}_{outs[0]}", **attrs)


def rand(*shape, seed: int = 0, lo: float | None = None) -> np.ndarray:
    rng = np.random.RandomState(seed)
    if lo is not None:
        return rng.uniform(lo, lo + 1.0, shape).astype(np.float32)
    return rng.normal(0, 1, shape).astype(np.float32)


def onnx_run(m, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def check(m, x: np.ndarray, *, atol: float = ATOL):
    """Convert ``m`` (inference spec), run it in the emulator on ``x`` (ONNX layout), compare; return spec."""
    import emulator
    from converter.convert import to_inference_spec
    from parity.onnx_forward import to_coreml_input

    spec, _, graph = to_inference_spec(m)
    ref = onnx_run(m, x)
    em = emulator.load(spec)
    got = em.predict(to_coreml_input(x, graph))[spec.description.output[0].name]
    assert got.size == ref.size, (got.shape, ref.shape)
    diff = float(np.abs(got.reshape(ref.shape) - ref).max())
    assert diff <= atol, f"max abs diff {diff}"
    return spec


def kinds(spec) -> list[str]:
    return [layer.WhichOneof("layer") for layer in spec.neuralNetwork.layers]
