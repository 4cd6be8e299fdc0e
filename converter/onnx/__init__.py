"""The ONNX front end: ``read_onnx(path_or_modelproto) -> SourceGraph`` and the op mappers.

Conventions (see ``converter/onnx/axes.py``): axis 0 of every ONNX tensor is the batch; the Core ML
model always takes and gives ``(C, H, W)`` (or ``(F,)``) arrays. An ONNX input laid out
``(N, H, W, C)`` whose only uses convert it to NCHW (Keras / tf2onnx exports) is declared ``(C, H, W)``:
feed ``x.transpose(0, 3, 1, 2)``. Outputs keep the ONNX output's own axis order.
"""
