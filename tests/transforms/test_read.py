"""Reading: globs and lists in, (uri, bytes) out, each file once; what matches nothing is a failure."""
import os
import time

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.read import ReadImages, parse_input_list


def test_input_lists_skip_blanks_and_comments():
    text = "# archive 2026\ngs://b/a.jpg\n\n  /data/b.jpg  # from the audit\n"
    assert parse_input_list(text) == ["gs://b/a.jpg", "/data/b.jpg"]


def _files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.jpg", "b.jpg", "c.png", "sub/d.jpg"):
        (tmp_path / name).write_bytes(name.encode())
    return tmp_path


def test_overlapping_patterns_read_each_file_once_and_empty_ones_fail(tmp_path):
    root = _files(tmp_path)
    missing = str(root / "nothing" / "*.jpg")
    with TestPipeline() as p:
        out = p | ReadImages([str(root / "*.jpg"), str(root / "a.*"), str(root / "*"), missing])
        assert_that(out["images"], equal_to([(str(root / n), n.encode()) for n in ("a.jpg", "b.jpg", "c.png")]),
                    label="images")
        assert_that(out["failures"] | beam.Map(lambda f: (f.image_uri, f.stage, f.error_type)),
                    equal_to([(missing, "read", "not_found")]), label="failures")


def test_input_list_adds_uris_and_reports_missing_ones(tmp_path):
    root = _files(tmp_path)
    listing = root / "list.txt"
    listing.write_text(f"# two files and a ghost\n{root / 'sub' / 'd.jpg'}\n{root / 'ghost.jpg'}\n{root / 'a.jpg'}\n")
    with TestPipeline() as p:
        out = p | ReadImages([str(root / "a.jpg")], input_list=str(listing))
        assert_that(out["images"] | beam.Keys(), equal_to([str(root / "a.jpg"), str(root / "sub" / "d.jpg")]),
                    label="images")
        assert_that(out["failures"] | beam.Map(lambda f: f.image_uri), equal_to([str(root / "ghost.jpg")]),
                    label="failures")


def test_modified_after_leaves_out_older_files(tmp_path):
    root = _files(tmp_path)
    old = time.time() - 3 * 86400
    os.utime(root / "a.jpg", (old, old))
    with TestPipeline() as p:
        out = p | ReadImages([str(root / "*.jpg")], modified_after=time.time() - 86400)
        assert_that(out["images"] | beam.Keys(), equal_to([str(root / "b.jpg")]))
