"""The report as a tool: its table (sort, filter, photo viewer), the CSV beside it, --compare, the latest
scan by default, the demo classifier's banner, and the size bound. Checked in a real browser."""
import csv
import datetime
import json
import re

import pytest

from pipeline.report import main as report_main
from pipeline.visual_report import collect
from pipeline.visual_report.image_row import captured, folder_of, photo_link
from pipeline.visual_report.page import write_report
from tests.pipeline.test_report import CTX, NOW, write_scan


def rows_of(page) -> list[list[str]]:
    return [line.split("\t") for line in page.inner_text("#images tbody").split("\n") if line.strip()]


def column(page, name: str) -> list[str]:
    heads = [h.strip(" ↕↑↓") for h in page.locator("#images thead th").all_inner_texts()]
    k = heads.index(name)
    return [r[k].strip() for r in rows_of(page)]


def test_table_sorts_and_filters(tmp_path, page):
    write_scan(tmp_path / "out", 30, tmp_path, extended=True, distinct=True)
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1"))
    assert page.locator("#images tbody tr").count() == 30
    page.click("#images th[data-key=t]")
    assert page.get_attribute("#images th[data-key=t]", "aria-sort") == "descending"
    targets = [int(v) for v in column(page, "targets")]
    assert targets == sorted(targets, reverse=True) and targets[0] == 2
    page.click("#images th[data-key=t]")
    assert [int(v) for v in column(page, "targets")] == sorted(targets)
    page.click("#images th[data-key=n]")
    names = column(page, "image")
    assert names == sorted(names) and page.get_attribute("#images th[data-key=t]", "aria-sort") is None

    page.select_option("#f-folder", "store1/2026-02")  # rows i % 3 == 1 and i % 2 == 1
    assert sorted(column(page, "folder")) == ["store1/2026-02"] * 5
    page.select_option("#f-folder", "")
    page.fill("#f-tmin", "2")
    assert set(column(page, "targets")) == {"2"} and len(column(page, "targets")) == 10
    page.fill("#f-tmin", "")
    page.fill("#f-smin", "0.52")  # best score 0.5 + 0.001 * i for rows with a target, 0.1 without
    best = [float(v) for v in column(page, "best score")]
    assert best and min(best) >= 0.52 and len(best) < 20
    assert "of 30 rows shown" in page.inner_text("#count")


def test_a_row_opens_its_photo_large_with_boxes_outlines_and_scores(tmp_path, page):
    write_scan(tmp_path / "out", 4, tmp_path, extended=True, distinct=True)
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1"))
    page.locator("#images tbody tr", has_text="shelf2.jpg").locator("td").nth(4).click()
    assert page.locator("#photo").evaluate("d => d.open")
    assert page.inner_text("#dlg-title").endswith("shelf2.jpg")
    img = page.locator("#dlg-img")
    assert img.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert img.evaluate("i => i.complete && i.naturalWidth") == 300  # smaller than 1600: as it is
    svg = page.locator("#dlg-svg")
    assert svg.locator("polygon").count() == 2  # the two targets' outlines
    assert svg.locator("rect[fill=none]").count() == 4  # every bottle's box
    details = page.inner_text("#dlg-dets")
    assert "0.50" in details and "6.7 % of the photo, from the outline" in details
    assert "store2/2026-01" in page.inner_text("#dlg-sub")
    page.click("#dlg-next")
    assert page.inner_text("#dlg-title") != f"{tmp_path}/shelf2.jpg"
    page.click("#dlg-close")
    assert not page.locator("#photo").evaluate("d => d.open")


def test_a_photo_not_embedded_is_opened_from_its_link(tmp_path, page):
    write_scan(tmp_path / "out", 40, tmp_path, distinct=True)
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1"))
    cell = page.locator("#images tbody tr", has_text="000039.jpg").locator("td").first
    assert cell.inner_text() == "not embedded"
    cell.click()
    page.wait_for_function("document.getElementById('dlg-note').textContent.length > 0")
    assert "not embedded" in page.inner_text("#dlg-note")  # the file does not exist: said, boxes on grey
    assert page.locator("#dlg-svg rect[fill=none]").count() == 2 + 39 % 3


def test_the_demo_classifier_is_said_at_the_top(tmp_path, page):
    import dataclasses

    from models import slots
    from models.builtin import lookup

    demo = dataclasses.replace(CTX, classifier_version=slots.builtin_version(lookup("classifier", "demo")))
    write_scan(tmp_path / "out", 12, tmp_path, ctx=demo)
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1"))
    banner = page.locator(".banner")
    assert banner.is_visible() and banner.bounding_box()["y"] < 50
    assert "micellar_rose" in banner.inner_text() and "models.train_classifier" in banner.inner_text()
    assert "classifier demo" in page.inner_text(".sub")
    assert page.locator(".numbers .muted").count() == 3  # the target numbers, greyed
    assert "demo classifier" in page.locator(".numbers .muted").first.inner_text()
    assert "classifier: demo (sha256:" in page.inner_text("ul")


def test_csv_has_every_image_beyond_the_tables_cap(tmp_path, page):
    n = collect.TABLE_ROWS + 500
    write_scan(tmp_path / "out", n, tmp_path, failures=7, distinct=True)
    where = write_report(str(tmp_path / "out"), "r1")
    with open(where[:-len(".html")] + ".csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == n + 7
    assert {r["image_uri"] for r in table[:n]} == {f"{tmp_path}/shelf{i}.jpg" for i in range(4)} | {
        f"{tmp_path}/shop{i % 5}/{i:06d}.jpg" for i in range(4, n)}
    row = next(r for r in table if r["image_uri"].endswith("/000005.jpg"))
    assert row["folder"] == "shop0" and row["targets"] == "2" and row["bottles"] == "4"
    assert row["target_area_pct"] == "13.333" and row["link"] == f"file://{tmp_path}/shop0/000005.jpg"
    assert row["area_sources"] == "outline 2" and row["mean_target_score"] == "0.703"
    assert table[-1]["problem"].startswith("failed at decode")
    page.goto("file://" + where)
    assert page.locator("#images tbody tr").count() == collect.TABLE_ROWS
    assert f"The table holds {collect.TABLE_ROWS:,} of the {n:,} images" in page.inner_text("body")
    assert page.get_attribute("#csv", "href") == "r1.csv"
    with_targets = [v for v in column(page, "targets") if v != "0"]
    assert len(with_targets) == sum(1 for i in range(n) if i % 3)  # every image with targets, then others


def test_folders_without_a_folder_column_are_directories_below_the_common_root(tmp_path, page):
    write_scan(tmp_path / "out", 20, tmp_path, distinct=True)
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1"))
    folders = page.inner_text("table.folders")
    assert "(top folder)\t4\t" in folders and "shop4\t4\t" in folders and "shop1\t3\t" in folders
    page.click("table.folders a[data-folder=shop1]")
    assert set(column(page, "folder")) == {"shop1"}


def test_compare_lists_the_changed_images(tmp_path, page):
    changed = {5, 11, 17}
    write_scan(tmp_path / "out", 30, tmp_path, scan_id="r1", distinct=True)
    write_scan(tmp_path / "out", 31, tmp_path, scan_id="r2", distinct=True,
               targets=lambda i: (i % 3 + (i in changed)) % 3)
    report_main([str(tmp_path / "out"), "--scan_id", "r2", "--compare", "r1"])
    page.goto((tmp_path / "out" / "reports" / "r2.html").as_uri())
    listed = page.inner_text("table.changed")
    for i in changed | {30}:
        assert f"/{i:06d}.jpg" in listed
    assert "not in this scan" in listed and listed.count("\n") == 4
    assert "4 images changed" in page.inner_text("body") and "1 are new in this scan" in page.inner_text("body")
    link = page.locator("table.changed a", has_text="000005.jpg")
    assert link.get_attribute("href") == f"file://{tmp_path}/shop0/000005.jpg"
    page.check("#f-changed")
    assert len(rows_of(page)) == 4 and "targets 2 → 0" in page.inner_text("#images tbody")

    report_main([str(tmp_path / "out"), "--scan_id", "r1", "--compare", "r2"])  # the other way: one is gone
    page.goto((tmp_path / "out" / "reports" / "r1.html").as_uri())
    assert "1 are gone" in page.inner_text("body") and "/000030.jpg" in page.inner_text("table.changed")


def test_compare_caps_the_list_and_counts_the_rest(tmp_path):
    write_scan(tmp_path / "out", 500, tmp_path, scan_id="r1", distinct=True, targets=lambda i: 0)
    write_scan(tmp_path / "out", 500, tmp_path, scan_id="r2", distinct=True, targets=lambda i: 1)
    text = open(write_report(str(tmp_path / "out"), "r2", compare="r1")).read()
    assert "500 images changed" in text and "and 300 more changed images" in text
    assert text.count("0 targets</td>") == 200


def test_the_latest_scan_is_the_default(tmp_path, capsys):
    write_scan(tmp_path / "out", 3, tmp_path, scan_id="r1", processed_at=NOW)
    write_scan(tmp_path / "out", 3, tmp_path, scan_id="r2", processed_at=NOW - datetime.timedelta(days=1))
    write_scan(tmp_path / "out", 0, tmp_path, scan_id="r3", failures=2, processed_at=NOW - datetime.timedelta(hours=2))
    report_main([str(tmp_path / "out")])
    said = capsys.readouterr().out
    assert "latest scan: r1 (2026-11-24 00:00 UTC)" in said
    assert said.index("r3 (2026-11-23 22:00 UTC)") < said.index("r2 (2026-11-23 00:00 UTC)")
    text = (tmp_path / "out" / "reports" / "r1.html").read_text()
    assert re.search(r"Other scans in this output, newest first: <b>r3</b>.*<b>r2</b>", text)


def test_an_output_without_scans_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no scans under"):
        report_main([str(tmp_path)])


def test_the_page_fits_a_phone(tmp_path, browser):
    write_scan(tmp_path / "out", 30, tmp_path, extended=True, distinct=True, failures=2)
    where = write_report(str(tmp_path / "out"), "r1")
    context = browser.new_context(viewport={"width": 390, "height": 800})
    try:
        page = context.new_page()
        page.goto("file://" + where)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls in its box
        assert page.locator(".tablebox.tall").evaluate("b => b.scrollWidth > b.clientWidth")
        assert page.get_attribute("meta[name=viewport]", "content").startswith("width=device-width")
    finally:
        context.close()


@pytest.mark.slow
def test_a_huge_scan_gives_a_small_report_and_a_full_csv(tmp_path):
    n = 100_000
    write_scan(tmp_path / "out", n, tmp_path, failures=100, distinct=True, extended=True)
    where = write_report(str(tmp_path / "out"), "r1")
    text = open(where).read()
    assert len(text) < 3_000_000, f"{len(text):,} bytes"
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    assert len(data["rows"]) == collect.TABLE_ROWS
    with open(where[:-len(".html")] + ".csv", newline="") as f:
        assert sum(1 for _ in csv.reader(f)) == 1 + n + 100


def test_links_folders_and_times_read_as_a_person_expects():
    assert photo_link("gs://shelf-photos/store 1/a#1.jpg") == \
        "https://storage.cloud.google.com/shelf-photos/store%201/a%231.jpg"
    assert photo_link("/data/store 1/a.jpg") == "file:///data/store%201/a.jpg"
    assert captured("2026:03:01 10:20:30") == "2026-03-01 10:20"
    assert captured(datetime.datetime(2026, 3, 1, 10, 20, 30)) == "2026-03-01 10:20" and captured(None) == ""
    root = ["gs:", "", "b", "photos"]
    assert folder_of({"image_uri": "gs://b/photos/store1/x.jpg"}, root) == "store1"
    assert folder_of({"image_uri": "gs://b/photos/x.jpg", "folder": "berlin"}, root) == "berlin"
    assert folder_of({"image_uri": "gs://b/photos/x.jpg", "folder": None}, root) == "(top folder)"
