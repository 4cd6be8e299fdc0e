"""coreml-updatable: Keras/ONNX -> updatable Core ML, with a Linux runtime that proves it trains.

The packages beside this one do the work:
  converter/   front ends (Keras, ONNX), layer mappers, the conversion driver
  transforms/  ordered passes over Core ML specs (mark updatable, loss, optimizer, validate)
  emulator/    a runtime for Core ML NeuralNetwork specs: predict and on-device-style update
  parity/      train the source model and the converted model side by side, report and plot
This package holds what they share: the error hierarchy, data loading, and the CLI.
"""
__version__ = "0.1.0"
