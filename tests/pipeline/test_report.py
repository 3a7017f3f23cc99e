"""The visual scan report: numbers, failures by type, plots and a capped gallery; checked in a browser."""
import dataclasses
import datetime
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.report import ScanReport, with_failure_examples
from pipeline.report import main as report_main
from pipeline.visual_report import collect
from pipeline.visual_report.page import write_report
from transforms.records import BottleResult, Failure, ImageInfo, ScanContext
from transforms.rows import failure_row, summary_row
from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, Field, arrow_schema, parquet_fields

NOW = datetime.datetime(2026, 11, 24, tzinfo=datetime.timezone.utc)
CTX = ScanContext("r1", "det-1", "cls-1", "seg-1")


def bottle(index, x, is_target, source="mask", score=None):
    area = 40.0 * 100 if is_target else None
    score = score if score is not None else (0.9 if is_target else 0.1)
    return BottleResult(index, (x, 20.0, x + 40.0, 120.0), 0.9, score,
                        is_target, "target" if is_target else "other", score, 3000.0,
                        area if source == "mask" else None, area, source if is_target else None)


NEWER = ("folder", "captured_at", "mask_polygon")  # columns scans of this release added


def older_fields() -> tuple[Field, ...]:
    """The summary schema as scans before folder, captured_at and detections.mask_polygon wrote it."""
    return tuple(dataclasses.replace(f, fields=tuple(g for g in f.fields if g.name not in NEWER))
                 for f in SUMMARY_FIELDS if f.name not in NEWER)


def extend(row: dict, i: int) -> dict:
    """A row as a scan with the newer columns writes it: 3 stores x 2 months, outlines on targets."""
    row["folder"] = f"store{i % 3}/2026-0{1 + i % 2}"
    row["captured_at"] = (NOW - datetime.timedelta(minutes=i)).replace(tzinfo=None)  # the camera's clock
    for d in row["detections"]:
        x0, y0, x1, y1 = d["box"]
        d["mask_polygon"] = [x0 + 5, y0, x1 - 5, y0, x1, y1, x0, y1] if d["is_target"] else []
    return row


def write_scan(out, images: int, image_dir, failures: int = 0, *, scan_id: str = "r1", extended: bool = False,
               distinct: bool = False, targets=lambda i: i % 3, ctx: ScanContext = CTX,
               processed_at: datetime.datetime = NOW) -> None:
    """A scan's Parquet as pipeline.run writes it: `images` summaries over 4 real JPEGs, some failures.

    extended: rows carry folder, captured_at and outlines. distinct: each row its own URI (only the first
    four are real photos), in folders shop0..shop4. targets: target bottles of row i.
    """
    files = []
    for k in range(4):
        path = image_dir / f"shelf{k}.jpg"
        Image.fromarray(np.full((200, 300, 3), 60 * k, np.uint8)).save(path)
        files.append(str(path))
    rows = []
    ctx = dataclasses.replace(ctx, scan_id=scan_id)
    for i in range(images):
        n = targets(i)
        bottles = [bottle(j, 10 + 50 * j, j < n, "expected" if i % 7 == 0 else "mask",
                          score=0.5 + 0.001 * (i % 50) if j == 0 and n else None) for j in range(n + 2)]
        uri = files[i] if distinct and i < 4 else f"{image_dir}/shop{i % 5}/{i:06d}.jpg" if distinct else files[i % 4]
        row = summary_row(ImageInfo(uri, 300, 200, len(bottles)), bottles, ctx, processed_at)
        rows.append(extend(row, i) if extended else row)
    fail_rows = [failure_row(Failure(f"/in/bad{i}.jpg", "decode", "truncated" if i % 2 else "not_an_image",
                                     "re-export the file"), scan_id, processed_at) for i in range(failures)]
    fields = SUMMARY_FIELDS if extended else older_fields()
    for table, data, schema in (("summaries", rows, fields), ("failures", fail_rows, FAILURE_FIELDS)):
        folder = out / table / f"scan_id={scan_id}"  # as the commit log lays a scan out
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(data, arrow_schema(parquet_fields(schema))),
                       folder / "part-00000-of-00001.parquet")


def test_stats_count_every_row_and_cap_the_gallery(tmp_path):
    write_scan(tmp_path / "out", 3000, tmp_path, failures=9)
    s = collect.collect(str(tmp_path / "out"), "r1")
    assert (s.images, s.failures) == (3000, 9)
    assert s.targets == sum(i % 3 for i in range(3000))
    assert s.failure_types[("decode", "truncated")] == 4 and s.failure_types[("decode", "not_an_image")] == 5
    assert all(len(v) <= collect.FAILURE_EXAMPLES for v in s.failure_examples.values())
    for pool in (s.largest.items(), s.uncertain.items(), s.fallbacks.items(), s.sample.items):
        assert 0 < len(pool) <= collect.GALLERY
    assert all(r["target_bottles"] for r in s.largest.items())
    assert all(any(d["area_source"] == "expected" for d in r["detections"]) for r in s.fallbacks.items())
    assert s.threshold == pytest.approx(0.5)
    assert abs(min(abs(d["target_score"] - 0.5) for d in s.uncertain.items()[0]["detections"])) < 1e-9


def test_reservoir_is_uniform_enough():
    counts = np.zeros(10)
    for seed in range(300):
        r = collect.Reservoir(3, seed)
        for i in range(10):
            r.offer(i)
        counts[r.items] += 1
    assert counts.min() > 50 and counts.max() < 130  # expected 90 each


def test_missing_scan_names_the_place(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no Parquet files for scan 'nope'"):
        report_main([str(tmp_path), "--scan_id", "nope"])


def test_an_unsafe_scan_id_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        report_main([str(tmp_path), "--scan_id", "../x"])
    assert refused.value.code == 2
    assert capsys.readouterr().err.strip() == ("pipeline.report: --scan_id '../x' is not a safe name: use up to 128 "
                                               "letters, digits, '-', '_' or '.' (not '.' or '..'), e.g. "
                                               "store12-2026-11-24")


def test_the_closing_table_shows_an_example_of_the_common_failures(tmp_path):
    write_scan(tmp_path / "out", 3, tmp_path, failures=5)  # 3 not_an_image, 2 truncated
    types = {"decode/truncated": 2, "decode/not_an_image": 3, "read/not_found": 1, "detect/Oops": 1}
    report = with_failure_examples(ScanReport("r1", 8, 0, 0, 5, 1.0, "out", failure_types=types), str(tmp_path / "out"))
    assert report.failure_examples == {"decode/not_an_image": "/in/bad0.jpg: re-export the file",
                                       "decode/truncated": "/in/bad1.jpg: re-export the file"}
    lines = report.table().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("failures"))
    assert lines[at].endswith("5: 3 decode/not_an_image, 2 decode/truncated, 1 detect/Oops, 1 read/not_found")
    assert [line.strip() for line in lines[at + 1:at + 3]] == [
        "decode/not_an_image, e.g. /in/bad0.jpg: re-export the file",
        "decode/truncated, e.g. /in/bad1.jpg: re-export the file"]
    assert lines[at + 3].startswith("wall time"), "a type without an example row in the Parquet shows none"


def test_report_renders_with_images_and_plots(tmp_path, page):
    write_scan(tmp_path / "out", 40, tmp_path, failures=3)
    report_main([str(tmp_path / "out"), "--scan_id", "r1"])
    path = tmp_path / "out" / "reports" / "r1.html"
    text = path.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched at view time
    page.goto(path.as_uri())
    numbers = page.inner_text(".numbers")
    assert "43\ninputs" in numbers and "3\nfailed" in numbers
    failures = page.inner_text("table.failures")
    assert "truncated" in failures and "/in/bad1.jpg" in failures
    assert page.locator("svg.plot").count() == 5
    assert page.locator("svg.plot rect").count() > 10
    images = page.locator(".gallery img")
    assert images.count() >= 4
    assert all(images.nth(i).evaluate("i => i.complete && i.naturalWidth > 0") for i in range(images.count()))
    assert page.locator("h3", has_text="Target area from the box").count() == 1
    assert page.locator("#images tbody tr").count() == 4  # 40 rows of 4 photos: each photo once
    assert page.locator(".banner").count() == 0  # cls-1 is not the demo classifier


@pytest.mark.slow  # starts a process or builds many scenes
def test_a_large_scan_gives_a_small_report(tmp_path):
    write_scan(tmp_path / "out", 20000, tmp_path, failures=500, distinct=True)
    where = write_report(str(tmp_path / "out"), "r1")
    text = open(where).read()
    assert len(text) < 2_000_000  # 4 readable photos here; the table's 2,000 rows are most of it
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    assert len(data["rows"]) == collect.TABLE_ROWS
    assert len(re.findall(r"/in/bad\d+\.jpg", text)) <= 2 * collect.FAILURE_EXAMPLES


def test_report_of_a_gs_scan_is_written_to_gs(tmp_path, gcs_emulator):
    local = tmp_path / "out"
    write_scan(local, 6, tmp_path, failures=1)
    prefix = f"report-{tmp_path.name}"  # the emulator's bucket is shared by the session's tests
    uri = gcs_emulator.upload_dir(local, prefix)
    where = write_report(uri, "r1")
    assert where == f"{uri}/reports/r1.html"
    bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
    text = bucket.blob(f"{prefix}/reports/r1.html").download_as_text()
    assert "<b>7</b>inputs" in text and text.count("data:image/jpeg;base64,") >= 2
    assert len(bucket.blob(f"{prefix}/reports/r1.csv").download_as_text().splitlines()) == 1 + 7
    from pipeline.visual_report.scans import scans

    assert [(s.scan_id, s.rows) for s in scans(uri)] == [("r1", 7)]  # gs:// has no folders to list


@pytest.mark.slow  # starts a process or builds many scenes
def test_embedded_photos_of_distinct_images_stay_within_a_few_megabytes(tmp_path):
    """Every candidate a different large photo: the most a report can hold, whatever the scan size."""
    rng = np.random.default_rng(0)
    files = []
    for k in range(60):
        y, x = np.mgrid[0:900, 0:1200]
        base = np.stack([(x * (k + 1)) % 256, (y * 3 + k * 40) % 256, (x + y) % 256], -1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        files.append(tmp_path / f"photo{k}.jpg")
        Image.fromarray(pixels).save(files[-1], quality=90)
    rows = []
    for i, f in enumerate(files):
        bottles = [bottle(0, 100.0, True, "expected" if i % 2 else "mask", score=0.5 + i / 200),
                   bottle(1, 300.0, False)]
        rows.append(summary_row(ImageInfo(str(f), 1200, 900, 2), bottles, CTX, NOW))
    folder = tmp_path / "out" / "summaries" / "scan_id=r1"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, arrow_schema(parquet_fields(SUMMARY_FIELDS))), folder / "part-0.parquet")
    text = open(write_report(str(tmp_path / "out"), "r1")).read()
    embedded = re.findall(r'"(data:image/jpeg;base64,[^"]+)"', text)
    assert len(embedded) >= 8 and len(set(embedded)) == len(embedded)  # each photo once, however often shown
    assert len(text) < 4_000_000, f"{len(text) / 1e6:.1f} MB for {len(embedded)} photos"


def test_a_scan_where_everything_failed_still_reports(tmp_path):
    write_scan(tmp_path / "out", 0, tmp_path, failures=3)
    text = open(write_report(str(tmp_path / "out"), "r1")).read()
    assert "<b>3</b>failed" in text and "No summarized images" in text and text.count("<svg") >= 5


def test_the_report_is_written_whatever_became_of_the_photos(tmp_path):
    """Photos summarized fine, then swapped: a FIFO (used to hang the report), a link to /dev/zero (17 GB
    read), malformed EXIF (used to kill it with a traceback). Each becomes a placeholder with its reason."""
    import os

    from tests.corpus import mistyped_exif_jpeg

    write_scan(tmp_path / "out", 4, tmp_path)
    (tmp_path / "shelf0.jpg").unlink()
    os.mkfifo(tmp_path / "shelf0.jpg")
    (tmp_path / "shelf1.jpg").unlink()
    (tmp_path / "shelf1.jpg").symlink_to("/dev/zero")
    (tmp_path / "shelf2.jpg").write_bytes(mistyped_exif_jpeg(0x011A))
    text = open(write_report(str(tmp_path / "out"), "r1")).read()
    assert f"{tmp_path}/shelf0.jpg is not a regular file" in text
    assert f"{tmp_path}/shelf1.jpg is not a regular file" in text
    drawn = set(re.findall(r'"(data:image/jpeg;base64,[^"]+)"', text))
    assert len(drawn) == 2  # shelf2 (bad EXIF, drawn as the scan saw it) and shelf3
