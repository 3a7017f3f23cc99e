"""Reading: globs and lists in, (uri, bytes) out, each file once; what matches nothing is a failure."""
import os
import time
import urllib.parse

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from google.api_core.exceptions import Forbidden

from transforms.read import ReadImages, _Read, file_uri, match_entries, parse_input_list, read_input_list
from transforms.records import FileEntry


def test_input_list_lines_are_literal_names():
    text = "# archive 2026\ngs://b/a.jpg\n\n  /data/b.jpg  \n  # indented comment\n/data/shelf #2.jpg\n"
    assert parse_input_list(text) == ["gs://b/a.jpg", "/data/b.jpg", "/data/shelf #2.jpg"]


def test_an_unreadable_input_list_names_the_option(tmp_path):
    with pytest.raises(OSError, match="--input_list .*missing.txt"):
        read_input_list(str(tmp_path / "missing.txt"))



def test_read_errors_become_failures_not_crashes(tmp_path, monkeypatch):
    vanished = str(tmp_path / "gone.jpg")
    local = list(_Read().process(FileEntry(vanished, vanished, 10)))

    def refuse(*args, **kwargs):
        raise Forbidden("caller does not have storage.objects.get access")

    monkeypatch.setattr(FileSystems, "open", refuse)  # a permission GCS refuses: no emulator enforces ACLs
    cloud = list(_Read().process(FileEntry("gs://b/private.jpg", "gs://b/private.jpg", 10)))
    assert [(o.value.image_uri, o.value.stage, o.value.error_type) for o in local + cloud] == [
        (vanished, "read", "FileNotFoundError"), ("gs://b/private.jpg", "read", "Forbidden")]
    assert "storage.objects.get" in cloud[0].value.message


def _files(tmp_path):
    (tmp_path / "sub").mkdir(parents=True)
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


def test_a_folder_input_reads_every_file_under_it(tmp_path):
    root = _files(tmp_path / "in")
    (root / "sub" / "deeper").mkdir()
    (root / "sub" / "deeper" / "e.jpg").write_bytes(b"e")
    with TestPipeline() as p:
        out = p | ReadImages([str(root)])
        assert_that(out["images"] | beam.Keys(), equal_to([str(root / n) for n in (
            "a.jpg", "b.jpg", "c.png", "sub/d.jpg", "sub/deeper/e.jpg")]))


def test_a_gs_folder_is_every_object_under_it(gcs_emulator, tmp_path):
    uri = gcs_emulator.upload_dir(_files(tmp_path / "in"), "read-folder")
    names = {"a.jpg", "b.jpg", "c.png", "sub/d.jpg"}
    for folder in (uri, uri + "/"):
        assert {e.uri.removeprefix(uri + "/") for e in match_entries(folder)} == names
    assert [e.uri for e in match_entries(f"{uri}/*.jpg")] == [f"{uri}/a.jpg", f"{uri}/b.jpg"]
    assert len(match_entries(f"{uri}/**", limit=1)) == 1


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


def _hostile(root):
    """Files no scan may read: a FIFO, a device behind an image name, a dangling link, a large file."""
    os.mkfifo(root / "fifo.jpg")
    (root / "zero.jpg").symlink_to("/dev/zero")
    (root / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    (root / "big.jpg").write_bytes(b"\xff\xd8" + b"\0" * 5000)
    (root / "ok.jpg").write_bytes(b"small")
    raw = os.fsencode(str(root)) + b"/caf\xe9.jpg"  # Latin-1, not UTF-8
    with open(raw, "wb") as f:
        f.write(b"latin")
    return "file://" + str(root) + "/caf%E9.jpg"


def test_hostile_files_become_one_failure_each_without_being_read(tmp_path):
    latin = _hostile(tmp_path)
    with TestPipeline() as p:
        out = p | ReadImages([str(tmp_path / "*")], max_bytes=1000)
        assert_that(out["images"], equal_to([(str(tmp_path / "ok.jpg"), b"small"), (latin, b"latin")]),
                    label="images")
        assert_that(out["failures"] | beam.Map(lambda f: (os.path.basename(f.image_uri), f.error_type)),
                    equal_to([("fifo.jpg", "not_a_file"), ("zero.jpg", "not_a_file"),
                              ("dangling.jpg", "dangling_link"), ("big.jpg", "too_large")]), label="failures")


def test_a_non_utf8_name_has_a_lossless_uri(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9 100%.jpg"
    uri = file_uri(os.fsdecode(raw))
    assert uri == "file://" + str(tmp_path) + "/caf%E9%20100%25.jpg"
    assert urllib.parse.unquote_to_bytes(uri.removeprefix("file://")) == raw
    assert file_uri(str(tmp_path / "café.jpg")) == str(tmp_path / "café.jpg"), "UTF-8 names stay as they are"


def test_size_limit_is_enforced_while_reading_too(tmp_path):
    path = tmp_path / "grew.jpg"
    path.write_bytes(b"x" * 5000)
    stale = FileEntry(str(path), str(path), 10)  # listed when it was small
    (failure,) = [o.value for o in _Read(max_bytes=1000).process(stale)]
    assert failure.error_type == "too_large" and "it grew" in failure.message


def test_listed_names_are_not_globs(tmp_path):
    (tmp_path / "img[1].jpg").write_bytes(b"bracket")
    (tmp_path / "img1.jpg").write_bytes(b"other")
    (tmp_path / "shelf #2.jpg").write_bytes(b"hash")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'img[1].jpg'}\n{tmp_path / 'shelf #2.jpg'}\n{tmp_path / 'img?.jpg'}\n")
    with TestPipeline() as p:
        out = p | ReadImages([], input_list=str(listing))
        assert_that(out["images"], equal_to([(str(tmp_path / "img[1].jpg"), b"bracket"),
                                             (str(tmp_path / "shelf #2.jpg"), b"hash")]), label="images")
        assert_that(out["failures"] | beam.Map(lambda f: (f.image_uri, f.error_type)),
                    equal_to([(str(tmp_path / "img?.jpg"), "not_found")]), label="failures")
