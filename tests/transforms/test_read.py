"""Reading: globs and lists in, (uri, bytes) out, each file once; what matches nothing is a failure."""
import os
import time

import apache_beam as beam
import pytest
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from google.api_core.exceptions import Forbidden

from transforms.read import ReadImages, _Read, parse_input_list, read_input_list


def test_input_lists_skip_blanks_and_comments():
    text = "# archive 2026\ngs://b/a.jpg\n\n  /data/b.jpg  # from the audit\n"
    assert parse_input_list(text) == ["gs://b/a.jpg", "/data/b.jpg"]


def test_a_hash_inside_a_uri_is_not_a_comment():
    assert parse_input_list("gs://b/shelf#2.jpg\ngs://b/c.jpg\t# later\n#gs://b/d.jpg\n") == [
        "gs://b/shelf#2.jpg", "gs://b/c.jpg"]


def test_an_unreadable_input_list_names_the_option(tmp_path):
    with pytest.raises(OSError, match="--input_list .*missing.txt"):
        read_input_list(str(tmp_path / "missing.txt"))


class _Refused(fileio.ReadableFile):
    def read(self, mime_type="application/octet-stream"):
        raise Forbidden("caller does not have storage.objects.get access")


def test_read_errors_become_failures_not_crashes(tmp_path):
    vanished = str(tmp_path / "gone.jpg")
    local = list(_Read().process(fileio.ReadableFile(FileMetadata(vanished, 10))))
    cloud = list(_Read().process(_Refused(FileMetadata("gs://b/private.jpg", 10))))
    assert [(o.value.image_uri, o.value.stage, o.value.error_type) for o in local + cloud] == [
        (vanished, "read", "FileNotFoundError"), ("gs://b/private.jpg", "read", "Forbidden")]
    assert "storage.objects.get" in cloud[0].value.message


def _files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.jpg", "b.jpg", "c.png", "sub/d.jpg"):
        (tmp_path / name).write_bytes(name.encode())
    return tmp_path


def test_overlapping_patterns_read_each_file_once_and_empty_ones_fail(tmp_path):
    root = _files(tmp_path)  # root/* also matches the folder root/sub, which is skipped
    missing = str(root / "nothing" / "*.jpg")
    p = TestPipeline()
    out = p | ReadImages([str(root / "*.jpg"), str(root / "a.*"), str(root / "*"), missing])
    assert_that(out["images"], equal_to([(str(root / n), n.encode()) for n in ("a.jpg", "b.jpg", "c.png")]),
                label="images")
    assert_that(out["failures"] | beam.Map(lambda f: (f.image_uri, f.stage, f.error_type)),
                equal_to([(missing, "read", "not_found")]), label="failures")
    assert_that(out["failures"] | "Messages" >> beam.Map(lambda f: f.message),
                equal_to([f"no files match {missing}; check the path, the glob and your read access"]),
                label="message")
    result = p.run()
    result.wait_until_finish()
    read = result.metrics().query(MetricsFilter().with_namespace("shelfscan").with_name("images_read"))
    assert sum(c.committed for c in read["counters"]) == 3


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
