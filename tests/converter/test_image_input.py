"""Image inputs: ``--image-input NAME[:gray|rgb|bgr]`` declares Core ML's imageType; a leading Rescaling /
Normalization becomes the image preprocessing, so the model takes raw 0-255 pixels as an app gives them."""
from __future__ import annotations

import numpy as np
import pytest

from ground.errors import BadInputError

GRAY, RGB, BGR = 10, 20, 30


def _head(k, h):
    h = k.layers.Conv2D(3, 3, activation="relu")(h)
    h = k.layers.Flatten()(k.layers.MaxPooling2D(2)(h))
    return k.layers.Dense(4, activation="softmax")(h)


def _gray_rescaling(k):
    x = k.Input((10, 10, 1), name="image")
    return k.Model(x, _head(k, k.layers.Rescaling(1 / 255.0)(x)))


def _rgb_normalization(k):
    x = k.Input((10, 10, 3), name="image")
    norm = k.layers.Normalization(mean=[120.0, 110.0, 100.0], variance=[3600.0] * 3)
    return k.Model(x, _head(k, norm(x)))


def _rgb_per_channel_rescaling(k):    # one scale per channel: Core ML's scaler cannot hold it; the layer stays
    x = k.Input((10, 10, 3), name="image")
    return k.Model(x, _head(k, k.layers.Rescaling([0.01, 0.02, 0.03], offset=-0.5)(x)))


def _plain(k, c):
    x = k.Input((10, 10, c), name="image")
    return k.Model(x, _head(k, x))


CASES = {  # name: (builder, --image-input, scale, bias, colorSpace, what Keras is fed from the pixels)
    "gray-rescaling": (_gray_rescaling, "image", None, None, GRAY, lambda p: p),
    "rgb-normalization": (_rgb_normalization, "image:rgb", None, None, RGB, lambda p: p),
    "rgb-per-channel-rescaling": (_rgb_per_channel_rescaling, "image", None, None, RGB, lambda p: p),
    "bgr-scale-bias": (lambda k: _plain(k, 3), "image:bgr", 1 / 255.0, (-0.5, -0.4, -0.3), BGR,
                       lambda p: p / 255.0 + np.asarray([-0.5, -0.4, -0.3], np.float32)),
    "gray-scale": (lambda k: _plain(k, 1), "image:gray", 1 / 255.0, None, GRAY, lambda p: p / 255.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_image_input(case, keras_mod):
    import emulator
    from converter.convert import convert
    from converter.image_input import ImageInput
    from transforms.options import UpdateOptions
    from transforms.validate import violations

    from .conftest import randomize

    build, text, scale, bias, color, keras_feed = CASES[case]
    keras_mod.utils.set_random_seed(0)
    model = randomize(build(keras_mod))
    image = ImageInput.parse(text, scale, bias)
    result = convert(model, options=UpdateOptions(updatable="last:1", batch_size=4, epochs=1, image_inputs=(image,)))
    spec = result.spec
    t = spec.description.input[0].type
    assert t.WhichOneof("Type") == "imageType"
    assert (t.imageType.width, t.imageType.height, t.imageType.colorSpace) == (10, 10, color)
    assert spec.description.trainingInput[0].type == t
    assert violations(spec) == []
    first = spec.neuralNetwork.layers[0].WhichOneof("layer")
    assert (first == "scale") == (case == "rgb-per-channel-rescaling")      # folded into the scaler otherwise

    rng = np.random.RandomState(1)
    pixels = rng.randint(0, 256, size=(8, 10, 10, model.input_shape[-1])).astype(np.float32)
    cm = emulator.load(spec)
    got = cm.predict(pixels.transpose(0, 3, 1, 2))[spec.description.output[0].name]
    diff = float(np.abs(got - model.predict(keras_feed(pixels), verbose=0)).max())
    assert diff <= 1e-5, diff
    run = cm.update({"image": pixels.transpose(0, 3, 1, 2),
                     f"{spec.description.output[0].name}_true": rng.randint(0, 4, 8)}, epochs=1)
    assert len(run.batch_losses[0]) == 2 and np.all(np.isfinite(run.batch_losses[0]))


def test_image_input_errors(keras_mod):
    from converter.convert import convert
    from converter.image_input import ImageInput
    from transforms.options import UpdateOptions

    model = _gray_rescaling(keras_mod)
    with pytest.raises(BadInputError, match=r"'photo' is not a model input.*Fix: choose one of: image"):
        convert(model, options=UpdateOptions(image_inputs=(ImageInput("photo"),)))
    with pytest.raises(BadInputError, match=r"input 'image' has 1 channel\(s\); a rgb image has 3"):
        convert(model, options=UpdateOptions(image_inputs=(ImageInput("image", "rgb"),)))
    with pytest.raises(BadInputError, match=r"already scales input 'image' in layer 'rescaling"):
        convert(model, options=UpdateOptions(image_inputs=(ImageInput("image", None, 0.5),)))
    with pytest.raises(BadInputError, match=r"is not NAME\[:rgb\|bgr\|gray\]"):
        ImageInput.parse("image:cmyk")
