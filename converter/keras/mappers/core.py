"""Core Keras layers: InputLayer, Dense, Embedding, Flatten, Reshape, Permute, normalization, identities."""
from __future__ import annotations

import numpy as np

from converter import coreml_layers as L
from ground import layout
from converter.context import MapContext
from converter.ir import SourceLayer
from converter.registry import keras_layer

from .activations import fused

IDENTITIES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
              "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")


@keras_layer("InputLayer", coreml="(model input)", notes="rank 1, 2 (sequences) or 3 (images), fixed shape")
def map_input(layer: SourceLayer, ctx: MapContext) -> list:
    return []  # the driver declares model inputs; nothing to compute


@keras_layer(*IDENTITIES, coreml="activation linear (identity, dropped by the transforms)",
             notes="inference behaviour: the identity")
def map_identity(layer: SourceLayer, ctx: MapContext) -> list:
    return [L.identity(layer.name, ctx.inp(layer).name, ctx.out(layer))]


@keras_layer("Dense", coreml="innerProduct (+ activation / softmax)",
             notes="on a rank-2/3 channels-last input: a 1x1 convolution")
def map_dense(layer: SourceLayer, ctx: MapContext) -> list:
    blob = ctx.inp(layer)
    kernel = layer.weights["kernel"]
    bias = layer.weights.get("bias") if layer.config.get("use_bias", True) else None
    act = layer.config.get("activation") or "linear"
    pre = ctx.out(layer) if act == "linear" else ctx.tmp(layer, "preact", ctx.out_shape(layer))
    if blob.rank == 1:
        main = L.inner_product(layer.name, blob.name, pre, layout.dense_kernel(kernel), bias)
    else:
        ctx.require(ctx.channels_last, layer, "data_format",
                    "Dense acts on the last axis, which is not the channel axis of a channels-first tensor",
                    "flatten first, or use a channels-last model")
        main = L.convolution(layer.name, blob.name, pre, layout.dense_as_conv1x1(kernel), bias)
    return [main] if act == "linear" else fused(layer, ctx, [main], pre)


@keras_layer("Embedding", coreml="embedding / embeddingND + transpose",
             notes="one index per example (embedding), or a sequence of T indices (embeddingND, then the "
                   "(features, 1, time) layout); frozen on device")
def map_embedding(layer: SourceLayer, ctx: MapContext) -> list:
    shape = tuple(layer.input_shapes[0])
    ctx.require(len(shape) == 1, layer, "input shape",
                f"input shape {shape}: an embedding reads one index or a sequence of indices per example",
                "feed indices of shape (1,) or (T,)")
    ctx.require(not layer.config.get("mask_zero") or ctx.override_unsupported, layer, "mask_zero",
                "Core ML has no masks", "set mask_zero=False, or pass --override-unsupported to ignore the mask")
    weights = layout.embedding_matrix(layer.weights["embeddings"])
    if shape == (1,):
        return [L.embedding(layer.name, ctx.inp(layer).name, ctx.out(layer), weights)]
    # indices [1, T, 1, 1] (B, C, H, W) -> embeddingND (1, T, 1, E) -> transpose -> (1, E, 1, T)
    t, e = shape[0], int(weights.shape[0])
    tmp = ctx.tmp(layer, "embedded", (t, 1, e))
    return [L.embedding_nd(ctx.lname(layer, "lookup"), ctx.inp(layer).name, tmp, weights),
            L.transpose(layer.name, tmp, ctx.out(layer), [0, 3, 2, 1])]


@keras_layer("Flatten", coreml="flatten",
             notes="channels-last images flatten in HWC order (CHANNEL_LAST); the transforms switch to "
                   "CHANNEL_FIRST and reorder the next Dense for training")
def map_flatten(layer: SourceLayer, ctx: MapContext) -> list:
    blob = ctx.inp(layer)
    channel_last = ctx.channels_last and blob.rank > 1
    return [L.flatten(layer.name, blob.name, ctx.out(layer), channel_last)]


@keras_layer("Reshape", coreml="reshape", notes="target rank 1, 2 or 3")
def map_reshape(layer: SourceLayer, ctx: MapContext) -> list:
    target = ctx.out_shape(layer)
    target3 = tuple(target) + (1,) * (3 - len(target))
    return [L.reshape(layer.name, ctx.inp(layer).name, ctx.out(layer), target3, ctx.channels_last)]


@keras_layer("Permute", coreml="permute")
def map_permute(layer: SourceLayer, ctx: MapContext) -> list:
    dims = tuple(int(d) for d in layer.config["dims"])
    return [L.permute(layer.name, ctx.inp(layer).name, ctx.out(layer),
                      layout.permute_axes(dims, ctx.channels_last))]


@keras_layer("BatchNormalization", coreml="batchnorm", notes="inference form: moving mean and variance; "
             "channel axis only")
def map_batchnorm(layer: SourceLayer, ctx: MapContext) -> list:
    cfg = layer.config
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    ctx.require(isinstance(axis, int) and ctx.axis(layer, axis) == "C", layer, "axis",
                f"normalizes over axis {axis}, not the channels; Core ML's batchnorm is per channel",
                "normalize over the channel axis")
    w = layer.weights
    mean = w["moving_mean"]
    n = len(mean)
    gamma = w["gamma"] if cfg.get("scale", True) else np.ones(n, np.float32)
    beta = w["beta"] if cfg.get("center", True) else np.zeros(n, np.float32)
    return [L.batchnorm(layer.name, ctx.inp(layer).name, ctx.out(layer), gamma=gamma, beta=beta,
                        mean=mean, variance=w["moving_variance"], epsilon=float(cfg.get("epsilon", 1e-3)))]


@keras_layer("Rescaling", coreml="activation linear / scale", notes="scalar or per-channel scale and offset")
def map_rescaling(layer: SourceLayer, ctx: MapContext) -> list:
    blob = ctx.inp(layer)
    s = np.asarray(layer.config.get("scale", 1.0), np.float32)
    o = np.asarray(layer.config.get("offset", 0.0), np.float32)
    if s.size == 1 and o.size == 1:
        return [L.linear(layer.name, blob.name, ctx.out(layer), float(s.ravel()[0]), float(o.ravel()[0]))]
    c = blob.channels
    ctx.require(s.size in (1, c) and o.size in (1, c), layer, "scale/offset",
                f"scale/offset sizes {s.size}/{o.size} are neither scalars nor per-channel ({c})",
                "use scalars or one value per channel")
    return [L.scale(layer.name, blob.name, ctx.out(layer), np.broadcast_to(s.ravel(), (c,)),
                    np.broadcast_to(o.ravel(), (c,)))]


@keras_layer("Normalization", coreml="scale", notes="adapted mean/variance over the channel axis; invert refused")
def map_normalization(layer: SourceLayer, ctx: MapContext) -> list:
    blob = ctx.inp(layer)
    ctx.require(not layer.config.get("invert"), layer, "invert", "the inverse normalization is not mapped",
                "use invert=False")
    mean = np.asarray(layer.weights.get("mean", layer.config.get("mean")), np.float32).ravel()
    var = np.asarray(layer.weights.get("variance", layer.config.get("variance")), np.float32).ravel()
    c = blob.channels
    ctx.require(mean.size in (1, c), layer, "axis", f"{mean.size} statistics for {c} channels",
                "normalize over the channel axis (axis=-1)")
    s = 1.0 / np.maximum(np.sqrt(var), 1e-7)
    return [L.scale(layer.name, blob.name, ctx.out(layer), np.broadcast_to(s, (c,)),
                    np.broadcast_to(-mean * s, (c,)))]
