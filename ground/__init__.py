"""The ground floor: what every other package stands on, and which imports none of them.

spec_io (read/write specs, atomic writes, output-path checks), protos (coremltools' protobuf modules),
errors (the hierarchy), weight_params, nn_spec (protobuf helpers over NeuralNetwork specs), rules (the
only copy of Apple's rules and messages), update_params (updateParams <-> one settings type, one name
map), layout (every CHW/HWC reordering), quiet (quiet backend imports).
"""
__version__ = "0.1.0"
