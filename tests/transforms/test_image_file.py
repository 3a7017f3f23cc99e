"""The guarded reader every image read goes through: the scan, the report and the labeling page."""
import io
import os
import threading

import pytest
from PIL import Image

from tests.corpus import _encoded, _photo, header_liar_jpeg, mistyped_exif_jpeg
from transforms.image_file import DecodeError, Limits, decode_image, load_image, read_bytes

MAX_PIXELS = 50_000_000


def test_a_header_promising_more_pixels_than_the_data_holds_is_truncated():
    with Image.open(io.BytesIO(header_liar_jpeg())) as raw:
        raw.load()  # what let it through: libjpeg pads and Pillow reports success
        assert raw.size == (7000, 7000)
    with pytest.raises(DecodeError, match="header says 7000x7000") as error:
        decode_image("liar.jpg", header_liar_jpeg(), MAX_PIXELS)
    assert error.value.error_type == "truncated"


@pytest.mark.parametrize("colour, side, progressive", [((255, 255, 255), 4032, False), ((0, 0, 0), 3000, True),
                                                       ((128, 20, 200), 1, False)])
def test_blank_photos_compress_far_above_the_truncation_bound(colour, side, progressive):
    data = _encoded(Image.new("RGB", (side, side), colour), "JPEG", quality=30, progressive=progressive,
                    optimize=True)
    assert decode_image("blank.jpg", data, MAX_PIXELS).width == side


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    done = threading.Event()

    def read():
        with pytest.raises(DecodeError) as error:
            read_bytes(str(fifo), 1000)
        assert error.value.error_type == "not_a_file"
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(10), "read_bytes blocked on a FIFO"


def test_a_link_to_a_device_is_refused_and_reading_stops_at_the_cap(tmp_path):
    link = tmp_path / "zero.jpg"
    link.symlink_to("/dev/zero")
    with pytest.raises(DecodeError) as error:
        load_image(str(link))
    assert error.value.error_type == "not_a_file"
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * 5000)
    with pytest.raises(DecodeError, match="over 4096 bytes") as error:
        read_bytes(str(big), 4096)
    assert error.value.error_type == "too_large"


def test_load_image_tolerates_bad_exif_and_decodes_no_more_than_asked(tmp_path):
    path = tmp_path / "bad_exif.jpg"
    path.write_bytes(mistyped_exif_jpeg(0x0128))
    heard = []
    image = load_image(str(path), warn=heard.append)
    assert (image.width, image.height) == (160, 120) and len(heard) == 1
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(_encoded(_photo(1600, 1200), "JPEG"))
    small = load_image(str(photo), Limits(max_pixels=2_000_000), max_side=400)
    assert (small.width, small.height) == (1600, 1200)  # the original size is kept
    assert max(small.pixels.shape[:2]) == 400
    with pytest.raises(DecodeError, match="over the 1 MP limit"):
        load_image(str(photo), Limits(max_pixels=1_000_000))


@pytest.mark.parametrize("stamp, want", [("2026:11:02 17:45:09", "2026-11-02 17:45:09"),
                                         ("0000:00:00 00:00:00", None), ("not a date", None)])
def test_capture_time_comes_from_exif_date_time_original(stamp, want):
    import datetime

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = stamp
    data = _encoded(_photo(), "JPEG", exif=exif.tobytes())
    got = decode_image("p.jpg", data, MAX_PIXELS).captured_at
    assert got == (datetime.datetime.fromisoformat(want) if want else None)
    assert decode_image("p.jpg", _encoded(_photo(), "JPEG"), MAX_PIXELS).captured_at is None
