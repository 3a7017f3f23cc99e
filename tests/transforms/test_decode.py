"""Decoding: every awkward input either decodes to upright RGB or fails with a named reason."""
import resource

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.corpus import bomb_png, write_bad_corpus
from transforms.decode import DecodeError, DecodeImages, decode_image

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, write_bad_corpus(folder)


def test_each_corpus_file_decodes_or_fails_as_expected(corpus):
    folder, expected = corpus
    for name, error_type in expected.items():
        data = (folder / name).read_bytes()
        if error_type is None:
            image = decode_image(name, data, MAX_PIXELS)
            assert image.pixels.dtype == np.uint8 and image.pixels.shape[2] == 3, name
            assert image.pixels.flags["C_CONTIGUOUS"], name
        else:
            with pytest.raises(DecodeError) as error:
                decode_image(name, data, MAX_PIXELS)
            assert error.value.error_type == error_type, name
            assert name in str(error.value)


def test_exif_orientation_swaps_width_and_height(corpus):
    folder, _ = corpus
    plain = decode_image("good.jpg", (folder / "good.jpg").read_bytes(), MAX_PIXELS)
    rotated = decode_image("exif_rotated.jpg", (folder / "exif_rotated.jpg").read_bytes(), MAX_PIXELS)
    assert (plain.width, plain.height) == (160, 120)
    assert (rotated.width, rotated.height) == (120, 160)
    # orientation 6: the stored top-left corner ends up top-right
    np.testing.assert_allclose(rotated.pixels[0, -1], plain.pixels[0, 0], atol=12)


def test_sixteen_bit_is_scaled_not_clipped(corpus):
    folder, _ = corpus
    image = decode_image("gray16.png", (folder / "gray16.png").read_bytes(), MAX_PIXELS)
    assert np.all(image.pixels == 128)


def test_alpha_is_composited_on_white(corpus):
    folder, _ = corpus
    image = decode_image("rgba.png", (folder / "rgba.png").read_bytes(), MAX_PIXELS)
    assert image.pixels[0, 0].tolist() == [200, 0, 0]
    assert image.pixels[0, -1].tolist() == [255, 255, 255]


def test_the_pixel_limit_is_checked_before_decoding():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DecodeError, match="over the 1 MP limit") as error:
        decode_image("bomb.png", bomb_png(side=2000), 1_000_000)
    assert error.value.error_type == "too_many_pixels"
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 50_000, "the bomb was decoded"


def test_decode_transform_splits_images_and_failures(corpus):
    folder, expected = corpus
    inputs = [(name, (folder / name).read_bytes()) for name in sorted(expected)]
    good = sorted(name for name, error in expected.items() if error is None)
    bad = sorted((name, error) for name, error in expected.items() if error is not None)
    with TestPipeline() as p:
        out = p | beam.Create(inputs) | DecodeImages(MAX_PIXELS)
        assert_that(out["images"] | "Uris" >> beam.Map(lambda im: im.uri), equal_to(good), label="images")
        assert_that(out["failures"] | "Kinds" >> beam.Map(lambda f: (f.image_uri, f.error_type)),
                    equal_to(bad), label="failures")
        assert_that(out["failures"] | "Stages" >> beam.Map(lambda f: f.stage) | beam.Distinct(),
                    equal_to(["decode"]), label="stage")
