"""The backbone's ImageNet weights are right: real photos from registry packages get their classes."""
import pickle

import numpy as np
import pytest
from PIL import Image

from models.backbone import efficientnet, torch_legacy

pytestmark = pytest.mark.slow  # builds the backbone and loads its weights

@pytest.fixture(scope="module")
def classifier():
    return efficientnet.efficientnet_lite0(include_top=True, input_shape=(224, 224, 3))


def _top1(model, pixels: np.ndarray) -> int:
    logits = model.predict(efficientnet.preprocess_photo(pixels)[None], verbose=0)[0]
    return int(np.argmax(logits))


def test_coffee_is_espresso(classifier):
    import skimage.data

    assert _top1(classifier, skimage.data.coffee()) == 967


def test_grace_hopper_wears_a_military_uniform(classifier):
    import matplotlib.cbook

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        assert _top1(classifier, np.asarray(image.convert("RGB"))) == 652


def test_every_stored_parameter_has_a_place_in_the_model(classifier):
    state = torch_legacy.load_state_dict(efficientnet.weights_path())
    stored = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert stored == classifier.count_params() == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].dtype == np.float32


def test_reader_rejects_other_files(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(pickle.dumps({"not": "torch"}))
    with pytest.raises(torch_legacy.TorchFormatError, match="not a legacy torch file"):
        torch_legacy.load_state_dict(path)


def test_feature_extractor_embeds_uint8_batches():
    model = efficientnet.feature_extractor(224)
    batch = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    features = model.predict(batch.astype(np.float32), verbose=0)
    assert features.shape == (2, efficientnet.EMBEDDING_SIZE)
    assert np.all(np.isfinite(features)) and features.std() > 0


def test_endpoints_by_stride_for_any_input_size():
    fixed = efficientnet.endpoints(efficientnet.efficientnet_lite0(input_shape=(256, 256, 3), weights=None))
    assert {s: t.shape[1] for s, t in fixed.items()} == {2: 128, 4: 64, 8: 32, 16: 16, 32: 8}
    free = efficientnet.endpoints(efficientnet.efficientnet_lite0(weights=None))
    assert {s: t.shape[-1] for s, t in free.items()} == {2: 16, 4: 24, 8: 40, 16: 112, 32: 1280}
