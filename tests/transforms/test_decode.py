"""Decoding: every awkward input either decodes to upright RGB or fails with a named reason."""
import io
import resource
import time
import warnings

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image, ImageFile

from tests.corpus import _encoded, _photo, bomb_png, write_bad_corpus
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


def test_the_corpus_bomb_is_refused_from_its_header():
    start = time.perf_counter()
    with pytest.raises(DecodeError, match="900000000 pixels.*downscale it") as error:
        decode_image("bomb.png", bomb_png(), MAX_PIXELS)
    assert error.value.error_type == "too_many_pixels"
    assert time.perf_counter() - start < 1.0


def test_between_our_limit_and_pillows_the_header_check_refuses_without_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DecodeError, match="10000x10000 = 100 MP, over the 50 MP limit"):
            decode_image("big.png", bomb_png(side=10_000), MAX_PIXELS)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_truncated_images_are_never_padded():
    import pipeline.graph  # noqa: F401  (loads every scan module: none may turn LOAD_TRUNCATED_IMAGES on)

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    jpeg, png = _encoded(_photo(), "JPEG"), _encoded(_photo(), "PNG")
    # cut in the header, in the first scan, in the pixel data; some fail in Image.open already
    for name, data in [("a.jpg", jpeg[:20]), ("b.jpg", jpeg[:200]), ("c.jpg", jpeg[:-40]),
                       ("d.png", png[:20]), ("e.png", png[:40]), ("f.png", png[:-30]),
                       ("g.webp", _encoded(_photo(), "WEBP")[:300])]:
        with pytest.raises(DecodeError) as error:
            decode_image(name, data, MAX_PIXELS)
        assert error.value.error_type == "truncated", (name, str(error.value))
        assert "re-upload" in str(error.value)


def test_a_damaged_stream_with_its_end_is_corrupt_not_truncated():
    jpeg = _encoded(_photo(), "JPEG")
    damaged = jpeg[:4] + b"\x00" * 200 + jpeg[204:]
    with pytest.raises(DecodeError) as error:
        decode_image("damaged.jpg", damaged, MAX_PIXELS)
    assert error.value.error_type == "corrupt"


def test_heic_photos_say_what_to_do():
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    with pytest.raises(DecodeError, match="HEIC.*convert it to JPEG") as error:
        decode_image("IMG_0001.HEIC", heic, MAX_PIXELS)
    assert error.value.error_type == "not_an_image"


@pytest.mark.parametrize("fmt, options", [("WEBP", {"lossless": True}), ("TIFF", {})])
def test_multi_frame_files_give_their_first_frame(fmt, options):
    frames = [Image.new("RGB", (30, 20), (80 * i, 10, 10)) for i in (1, 0, 2)]
    data = _encoded(frames[0], fmt, save_all=True, append_images=frames[1:], **options)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    image = decode_image(f"multi.{fmt.lower()}", data, MAX_PIXELS)
    assert image.pixels.shape == (20, 30, 3) and image.pixels[0, 0].tolist() == [80, 10, 10]


def test_other_modes_come_out_as_rgb():
    photo = _photo()
    wide = Image.fromarray(np.full((4, 4), 1_000_000, np.int32))  # 32-bit: scaled by its peak
    for name, image in [("one.png", photo.convert("1")), ("grey.png", photo.convert("L")),
                        ("la.png", photo.convert("LA")), ("wide.tif", wide),
                        ("trns.png", photo.convert("P", palette=Image.ADAPTIVE))]:
        fmt = "TIFF" if name.endswith("tif") else "PNG"
        data = _encoded(image, fmt, **({"transparency": 0} if name == "trns.png" else {}))
        decoded = decode_image(name, data, MAX_PIXELS)
        assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape[2] == 3, name
    assert decoded.pixels.shape[:2] == (120, 160)
    assert decode_image("wide.tif", _encoded(wide, "TIFF"), MAX_PIXELS).pixels.max() == 255


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


@pytest.mark.parametrize("tag, cause", [(0x0128, "error"), (0x011A, "TypeError")])
def test_exif_that_cannot_be_applied_keeps_the_stored_orientation_and_warns(tag, cause):
    from tests.corpus import mistyped_exif_jpeg

    data = mistyped_exif_jpeg(tag)
    from PIL import ImageOps

    with Image.open(io.BytesIO(data)) as raw, pytest.raises(Exception) as pillow:
        raw.load()
        ImageOps.exif_transpose(raw)  # what used to fail the whole scan
    assert type(pillow.value).__name__ == cause
    heard = []
    image = decode_image("bad_exif.jpg", data, MAX_PIXELS, heard.append)
    assert (image.width, image.height) == (160, 120)
    assert len(heard) == 1 and "EXIF orientation not applied" in heard[0] and cause in heard[0]


@pytest.mark.parametrize("name, cause", [("corrupt.tif", "TypeError"), ("corrupt.avif", "RuntimeError")])
def test_any_decoder_exception_is_a_failure_naming_its_cause(corpus, name, cause):
    folder, _ = corpus
    with pytest.raises(DecodeError) as error:
        decode_image(name, (folder / name).read_bytes(), MAX_PIXELS)
    assert error.value.error_type == "corrupt" and cause in str(error.value) and name in str(error.value)


def test_our_own_mistakes_still_fail_loudly(monkeypatch):
    import transforms.image_file as image_file

    def broken(image):
        raise NameError("a bug in our code")

    monkeypatch.setattr(image_file, "_grey8", broken)  # not a decoder call: nothing may swallow it
    with pytest.raises(NameError):
        decode_image("gray16.png", _encoded(Image.fromarray(np.full((4, 4), 9, np.uint16)), "PNG"), MAX_PIXELS)


def test_sixteen_bit_decodes_without_a_float64_copy():
    """A 7000x7000 16-bit PNG: uint16 (98 MB) and uint8 copies, never 8 bytes per pixel for the whole image."""
    import tracemalloc

    side = 7000
    ramp = (np.arange(side, dtype=np.uint32) * 65535 // (side - 1)).astype(np.uint16)
    data = _encoded(Image.fromarray(np.tile(ramp, (side, 1))), "PNG")
    tracemalloc.start()
    try:
        image = decode_image("big16.png", data, MAX_PIXELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert image.pixels[0, 0].tolist() == [0, 0, 0] and image.pixels[0, -1].tolist() == [255, 255, 255]
    assert peak < 5 * side * side, f"peak {peak / 1e6:.0f} MB; a float64 copy alone is {8 * side * side / 1e6:.0f} MB"


def test_decoding_in_threads_keeps_every_count(corpus):
    """Beam drops metrics updated outside the bundle's thread: the counts must come out all the same."""
    from apache_beam.metrics.metric import MetricsFilter

    folder, expected = corpus
    inputs = [(name, (folder / name).read_bytes()) for name in sorted(expected)]
    counts = {}
    for threads in (0, 3):
        p = TestPipeline()
        out = p | beam.Create(inputs) | DecodeImages(MAX_PIXELS, threads=threads)
        assert_that(out["images"] | beam.Map(lambda im: im.uri),
                    equal_to(sorted(n for n, e in expected.items() if e is None)))
        result = p.run()
        result.wait_until_finish()
        found = result.metrics().query(MetricsFilter().with_namespace("shelfscan"))
        counts[threads] = {c.key.metric.name: c.committed or c.attempted for c in found["counters"]}
        counts[threads]["decode_micros"] = sum((d.committed or d.attempted).count for d in found["distributions"])
    assert counts[0] == counts[3]
    assert counts[3]["images_decoded"] == counts[3]["decode_micros"] == sum(e is None for e in expected.values())
    assert counts[3]["exif_not_applied"] == 2 and counts[3]["decode_failures"] == sum(
        e is not None for e in expected.values())
