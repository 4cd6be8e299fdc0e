"""What the user (or the source's compile config) asks of the updatable model, as plain data."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UpdateOptions:
    """Settings for the passes that make a spec updatable.

    ``None`` means: take it from the source's compile config, else the project default.
    """

    updatable: str = "trainable"          # 'trainable' | 'all' | 'last:N' | 'NAME,NAME' | 're:PATTERN'
    loss: str = "auto"                    # 'auto' | 'cce' | 'mse'
    optimizer: str | None = None          # 'adam' | 'sgd'
    learning_rate: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    momentum: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    eps: float | None = None
    shuffle: bool | None = None
    seed: int | None = None
    # allowed values for per-run overrides on device: name -> (min, max) or a tuple of allowed values
    allowed_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    allowed_sets: dict[str, tuple[int, ...]] = field(default_factory=dict)
    class_labels: list[str] | list[int] | None = None
    target_name: str | None = None        # the training target feature's name
    loss_output: str | None = None        # the model output the loss attaches to (needed with several outputs)
    override_unsupported: bool = False    # accept Keras options Core ML cannot express (nearest setting)


@dataclass
class SourceFacts:
    """What the front end knows that the passes need, with Core ML layer names (never Keras objects)."""

    trainable_layers: set[str] = field(default_factory=set)   # Core ML layers whose source was trainable
    # False when the source has no trainable flags (ONNX): policy 'trainable' then takes those of
    # trainable_layers the loss reaches through layers Core ML back-propagates through (mark_updatable)
    trainable_flags: bool = True
    updatable_candidates_order: list[str] = field(default_factory=list)  # conv/innerProduct, input->output
    source_layer_of: dict[str, str] = field(default_factory=dict)        # Core ML layer -> source layer name
    blob_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # Core ML blob -> (C,H,W) or (C,)
    dropped_zero_biases: set[str] = field(default_factory=set)  # Core ML layers to give a zero bias (restore_biases)
    loss: str | None = None               # from compile: 'cce' | 'mse' | None
    loss_from_logits: bool = False
    label_smoothing: float = 0.0
    optimizer: str | None = None          # 'adam' | 'sgd' | other name (refused)
    optimizer_config: dict = field(default_factory=dict)
