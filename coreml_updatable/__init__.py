"""coreml-updatable: Keras/ONNX -> updatable Core ML, with a Linux runtime that proves it trains.

This package is the CLI only (floor 4, the top of the house); the packages below do the work:
  parity/        train the source model and the converted model side by side, report and plot
  converter/     front ends (Keras, ONNX), layer mappers, the conversion driver (uses transforms/)
  transforms/    ordered passes over Core ML specs (mark updatable, loss, optimizer, validate)
  emulator/      a runtime for Core ML NeuralNetwork specs: predict and on-device-style update
  data_loading/  datasets (npz, IDX, keras:mnist) in the layouts Keras and Core ML take
  ground/        errors, spec I/O, protos, Apple's rules, update parameters, layout
"""
from ground import __version__  # noqa: F401
