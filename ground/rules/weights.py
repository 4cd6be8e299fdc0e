"""Apple's weight checks of ``NeuralNetworkLayerValidator.cpp``: how a layer's ``WeightParams`` must be
stored and how many values each must hold.

Restated from ``ValidatorUtils-inl.hpp`` (``valueType``), ``NeuralNetworkValidatorUtils.hpp``
(``validateGeneralWeightParams``, ``isWeightParamTypeCompatible``) and ``QuantizationValidationUtils.cpp``
(byte counts, linear-quantization scale/bias lengths, lookup-table sizes). Each check returns Apple's
message for the first thing it finds wrong, or None; messages are Apple's, word for word (only the
whitespace Apple's C++ line continuations put inside a few messages is collapsed to one space).
"""
from __future__ import annotations

from typing import Any, Iterable

FLOAT32, FLOAT16, QUINT, QINT, UNSPECIFIED, EMPTY = "FLOAT32", "FLOAT16", "QUINT", "QINT", "UNSPECIFIED", "EMPTY"
Problem = tuple[str, str]
"""(Apple's message, the fix)"""

FIX_SIZE = "store exactly the number of values the layer's sizes imply (Core ML's layout), or correct the sizes"
FIX_ONE_STORAGE = "fill exactly one of floatValue, float16Value, rawValue (with quantization) per WeightParams"
FIX_SAME_PRECISION = "store every parameter of the layer as float32, or every one as float16"


def value_type(wp: Any) -> str:
    """Apple's ``valueType``: which storage a WeightParams uses (UNSPECIFIED when more than one is filled;
    raw or int8 bytes count as quantized only with a quantization message, else EMPTY)."""
    filled = [bool(len(wp.floatValue)), bool(len(wp.float16Value)), bool(len(wp.rawValue)), bool(len(wp.int8RawValue))]
    if sum(filled) > 1:
        return UNSPECIFIED
    if filled[0]:
        return FLOAT32
    if filled[1]:
        return FLOAT16
    if filled[2] and wp.HasField("quantization"):
        return QUINT
    if filled[3] and wp.HasField("quantization"):
        return QINT
    return EMPTY


def float_count(wp: Any) -> int:
    """Number of float32 or float16 values stored."""
    return len(wp.floatValue) if len(wp.floatValue) else len(wp.float16Value) // 2


def _byte_count(wp: Any, kind: str) -> int:
    return {FLOAT32: 4 * len(wp.floatValue), FLOAT16: len(wp.float16Value), QUINT: len(wp.rawValue),
            QINT: len(wp.int8RawValue)}.get(kind, 0)


def valid_quantization(wp: Any, expect: int) -> bool:
    """Apple's ``hasValidQuantizationParams``: 1-8 bits; linear scale of 1 or ``expect`` values and a bias
    empty or as long as the scale; or a lookup table of 2**bits entries."""
    if not wp.HasField("quantization"):
        return False
    q = wp.quantization
    if not 1 <= q.numberOfBits <= 8:
        return False
    which = q.WhichOneof("QuantizationType")
    if which == "linearQuantization":
        scale, bias = len(q.linearQuantization.scale), len(q.linearQuantization.bias)
        return scale in (1, expect) and bias in (0, scale)
    if which == "lookupTableQuantization":
        return len(q.lookupTableQuantization.floatValue) == 2 ** q.numberOfBits
    return False


def general(wp: Any, units: int, out_channels: int, cls: str, name: str, what: str) -> Problem | None:
    """Apple's ``validateGeneralWeightParams``: ``units`` float values, or enough quantized bytes with valid
    quantization parameters; refused when empty (an int8 WeightParams counts as empty here) or ambiguous."""
    kind = value_type(wp)
    if kind in (FLOAT32, FLOAT16):
        size = float_count(wp)
        if size != units:
            return (f"{cls}Layer '{name}' has incorrect {what} size {size} (expected {units}).", FIX_SIZE)
        return None
    if kind == QUINT:
        need = -(-wp.quantization.numberOfBits * units // 8)
        if _byte_count(wp, kind) < need:
            return (f"{cls}Layer '{name}' has insufficient bytes for quantized {what} with {units}units.",
                    f"store at least {need} bytes in rawValue ({wp.quantization.numberOfBits} bits x {units} values)")
        if not valid_quantization(wp, out_channels):
            return (f"{cls}Layer '{name}' has invalid quantization parameters for quantized {what}.",
                    "use 1-8 bits, a linear scale of 1 or one value per output channel (bias empty or as long), "
                    "or a lookup table of 2**bits entries")
        return None
    if kind == UNSPECIFIED:
        return f"{cls}Layer '{name}' has unspecified {what}.", FIX_ONE_STORAGE
    return f"{cls}Layer '{name}' has empty {what}.", f"store the {what} values"


def first(problems: Iterable[Problem | None]) -> Problem | None:
    """The first problem of a sequence checked in Apple's order (Apple stops there), or None."""
    return next((p for p in problems if p is not None), None)


def compatible(kinds: Iterable[str]) -> bool:
    """Apple's ``isWeightParamTypeCompatible``: float32 and float16 are not mixed (quantized ones always fit)."""
    kinds = list(kinds)
    return not (FLOAT32 in kinds and FLOAT16 in kinds)


def mixed_float(a: str, b: str) -> bool:
    """One of the two is float32 and the other float16."""
    return {a, b} == {FLOAT32, FLOAT16}


def int8_requirements(wp: Any, layer_type: str, name: str) -> Problem | None:
    """Apple's ``validateInt8Requirements`` for ``int8DynamicQuantize`` layers."""
    head = f"Layer '{name}' of type '{layer_type} : "
    fix = "store the weights as int8RawValue with 8-bit linear quantization, one scale and no bias"
    if value_type(wp) != QINT:
        return head + "when flag 'int8DynamicQuantize' is set to true, weights must be stored in the int8 format.", fix
    q = wp.quantization
    if q.numberOfBits != 8:
        return head + "Number of bits must equal 8 when flag 'int8DynamicQuantize' is set to true.", fix
    if q.WhichOneof("QuantizationType") != "linearQuantization":
        return head + "Linear quantization must be used when flag 'int8DynamicQuantize' is set to true.", fix
    if len(q.linearQuantization.scale) != 1:
        return head + "Linear quantization scale must be size 1 when flag 'int8DynamicQuantize' is set to true.", fix
    if len(q.linearQuantization.bias) != 0:
        return head + "Linear quantization bias must be empty when flag 'int8DynamicQuantize' is set to true.", fix
    return None
