"""The report of a scan of several products: each product's bottles, areas and share of shelf overall, by
folder, in the CSV and against an earlier scan, all summed over photos (never averaged); old scans, written
before products existed, report as one product `target`. Numbers below are worked out by hand."""
from __future__ import annotations

import csv
import dataclasses
import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.report import ScanReport
from pipeline.report import main as report_main
from pipeline.visual_report import csv_table
from pipeline.visual_report.page import write_report
from transforms.records import BottleResult, ImageInfo, ScanContext
from transforms.rows import summary_row
from transforms.schema import SUMMARY_FIELDS, arrow_schema, parquet_fields

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
PRODUCTS = ("rose", "leaf", "cola")
CTX = ScanContext("r1", "det-1", "cls-3", "seg-1", ("/in",), PRODUCTS)
EXPECTED = 3000.0  # every bottle's box would hold this much upright
W, H = 300, 200

# (folder, bottles as (product or "other", measured area)): 11 bottles; rose 3 (3,600 px), leaf 2 (2,400),
# cola 1 (1,200), other 5 (5 x 3,000 expected); the shelf's area 22,200 px
SHELF = [
    ("s1", [("rose", 2000.0), ("rose", 1000.0), ("other", None)]),
    ("s1", [("leaf", 1500.0), ("other", None), ("other", None)]),
    ("s2", [("rose", 600.0), ("cola", 1200.0), ("leaf", 900.0), ("other", None)]),
    ("s2", []),
    ("s2", [("other", None)]),
]


def bottle(index: int, product: str, area: float | None) -> BottleResult:
    score = 0.2 if product == "other" else 0.9
    return BottleResult(index, (10.0 + 40 * index, 20.0, 40.0 + 40 * index, 120.0), 0.8, score, product != "other",
                        product, score, EXPECTED, area, area, None if area is None else "mask")


def write_scan(out, shelf=SHELF, scan_id: str = "r1", ctx: ScanContext = CTX, fields=SUMMARY_FIELDS) -> None:
    """A scan's summaries as pipeline.run writes them, photo i at /in/FOLDER/i.jpg (not on disk: the report
    says so and draws the boxes on grey)."""
    ctx = dataclasses.replace(ctx, scan_id=scan_id)
    rows = []
    for i, (folder, bottles) in enumerate(shelf):
        found = [bottle(j, p, a) for j, (p, a) in enumerate(bottles)]
        rows.append(summary_row(ImageInfo(f"/in/{folder}/{i}.jpg", W, H, len(found)), found, ctx, NOW))
    where = out / "summaries" / f"scan_id={scan_id}"
    where.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, arrow_schema(parquet_fields(fields))), where / "part-0.parquet")


def before_products() -> tuple:
    """The summary schema as scans before products wrote it: no `products`, detections without product."""
    def strip(f):
        return dataclasses.replace(f, fields=tuple(g for g in f.fields if g.name not in ("product", "product_score")))
    return tuple(strip(f) for f in SUMMARY_FIELDS if f.name != "products")


def cells(page, selector: str) -> dict[str, list[str]]:
    """A table's rows by their first cell's text."""
    rows = [line.split("\t") for line in page.inner_text(selector).split("\n")]
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows if r and r[0].strip()}


def read_csv(where: str) -> list[dict]:
    with open(where[:-len(".html")] + ".csv", newline="") as f:
        return list(csv.DictReader(f))


def test_each_product_shows_its_bottles_areas_and_share_of_shelf_summed_over_photos(tmp_path, page):
    write_scan(tmp_path / "out")
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1"))
    table = cells(page, "table.products")
    # bottles, share by count (of 11), share by area (of 22,200 px), mean area % of the photo, images with it
    assert table["rose"] == ["3", "27.3 %", "16.2 %", "3.0 %", "2 of 5"]  # (5 % + 1 %) / 2
    assert table["leaf"] == ["2", "18.2 %", "10.8 %", "2.0 %", "2 of 5"]
    assert table["cola"] == ["1", "9.1 %", "5.4 %", "2.0 %", "1 of 5"]
    assert table["other bottles"][:3] == ["5", "45.5 %", "67.6 %"]
    # averaging each photo's share would say 18.3 % for rose by count: the page says what it does instead
    assert "not an average of each photo's share" in page.inner_text("body")
    assert "11\nbottles" in page.inner_text(".numbers") and "any of 3 products" in page.inner_text(".numbers")
    assert page.locator("svg.share rect").count() == 8  # 4 shares by count, 4 by area

    folders = page.inner_text("table.folders")
    # s1: 6 bottles, rose 2 (33.3 %), area 3,000 of 13,500; s2: 5 bottles, rose 1, area 600 of 8,700
    assert "s1\t2\t6\t2\t33.3 %\t22.2 %\t5.0 %\t1\t16.7 %\t11.1 %\t2.5 %\t0\t0 %\t0 %\tnone" in folders
    assert "s2\t3\t5\t1\t20.0 %\t6.9 %\t1.0 %\t1\t20.0 %\t10.3 %\t1.5 %\t1\t20.0 %\t13.8 %\t2.0 %" in folders


def test_the_table_and_the_photo_name_each_bottles_product(tmp_path, page):
    write_scan(tmp_path / "out")
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1"))
    heads = [h.strip(" ↕↑↓") for h in page.locator("#images thead th").all_inner_texts()]
    assert heads[5:9] == ["targets", "rose", "leaf", "cola"]
    page.select_option("#f-product", "2")  # cola
    assert page.locator("#images tbody tr").count() == 1
    page.locator("#images tbody tr").first.locator("td").nth(4).click()
    assert "4 bottles: 1 rose, 1 leaf, 1 cola" in page.inner_text("#dlg-sub")
    kinds = [r.split("\t")[1] for r in page.inner_text("#dlg-dets").split("\n")[1:]]
    assert kinds == ["rose", "cola", "leaf", "other bottle"]
    colours = page.locator("#dlg-svg rect[fill=none]").evaluate_all("rs => rs.map(r => r.getAttribute('stroke'))")
    assert len(set(colours)) == 4  # one colour per product, blue for the other bottle


def test_the_csv_has_each_products_columns(tmp_path):
    write_scan(tmp_path / "out")
    table = read_csv(write_report(str(tmp_path / "out"), "r1"))
    assert list(table[0])[:len(csv_table.COLUMNS)] == list(csv_table.COLUMNS)
    assert list(table[0])[len(csv_table.COLUMNS):len(csv_table.COLUMNS) + 4] == [
        "rose:bottles", "rose:area_pct", "rose:shelf_share_count_pct", "rose:shelf_share_area_pct"]
    first = next(r for r in table if r["image_uri"] == "/in/s1/0.jpg")
    assert (first["targets"], first["rose:bottles"], first["leaf:bottles"]) == ("2", "2", "0")
    assert first["rose:area_pct"] == "5.000"  # 3,000 of 60,000 px
    assert first["rose:shelf_share_count_pct"] == "66.667" and first["rose:shelf_share_area_pct"] == "50.000"
    third = next(r for r in table if r["image_uri"] == "/in/s2/2.jpg")
    assert third["cola:shelf_share_area_pct"] == f"{100 * 1200 / 5700:.3f}"  # 600 + 1,200 + 900 + 3,000
    empty = next(r for r in table if r["image_uri"] == "/in/s2/3.jpg")
    assert [empty[f"{p}:shelf_share_count_pct"] for p in PRODUCTS] == ["0.000"] * 3


def test_compare_shows_each_products_change(tmp_path, page):
    earlier = [SHELF[0], SHELF[1], ("s2", [("rose", 600.0), ("other", None), ("leaf", 900.0), ("other", None)]),
               *SHELF[3:]]  # the cola bottle was other before
    write_scan(tmp_path / "out", earlier, scan_id="r0")
    write_scan(tmp_path / "out")
    report_main([str(tmp_path / "out"), "--scan_id", "r1", "--compare", "r0"])
    page.goto((tmp_path / "out" / "reports" / "r1.html").as_uri())
    changes = cells(page, "table.product-changes")
    assert changes["rose"][:2] == ["3 → 3 (+0)", "27.3 % → 27.3 % (+0.0 pp)"]
    # before: 1 cola fewer, the shelf area 22,200 - 1,200 + 3,000 = 24,000; rose 3,600 of it is 15 %
    assert changes["rose"][2] == "15.0 % → 16.2 % (+1.2 pp)"
    assert changes["cola"][:3] == ["0 → 1 (+1)", "0 % → 9.1 % (+9.1 pp)", "0 % → 5.4 % (+5.4 pp)"]
    assert changes["cola"][3] == "none → 2.0 %"
    listed = page.inner_text("table.changed")
    assert "4 bottles: 1 rose, 1 leaf\t4 bottles: 1 rose, 1 leaf, 1 cola" in listed
    assert "1 images changed: their products or bottles differ" in page.inner_text("body")
    page.check("#f-changed")
    assert page.inner_text("#images tbody").count("cola 0 → 1") == 1


def test_an_old_scan_reports_as_one_product_target_and_as_before(tmp_path, page):
    """Rows without `products` (written before them): no product sections, the CSV's columns of old, and the
    compare against a new scan says the products differ."""
    old = [(folder, [("target" if p != "other" else p, a) for p, a in bottles]) for folder, bottles in SHELF]
    write_scan(tmp_path / "out", old, scan_id="r0", ctx=dataclasses.replace(CTX, products=("target",)),
               fields=before_products())
    assert "products" not in pq.read_schema(next((tmp_path / "out").rglob("*.parquet"))).names
    where = write_report(str(tmp_path / "out"), "r0")
    page.goto("file://" + where)
    assert page.locator("table.products").count() == 0 and page.locator("#f-product").count() == 0
    assert "6\ntargets\n" in page.inner_text(".numbers") + "\n"
    assert list(read_csv(where)[0]) == list(csv_table.COLUMNS)

    write_scan(tmp_path / "out")
    page.goto("file://" + write_report(str(tmp_path / "out"), "r1", compare="r0"))
    changes = cells(page, "table.product-changes")
    assert changes["rose"][0] == "– → 3" and changes["target"][0] == "6 → –"
    assert "–: that scan's classifier does not know the product" in page.inner_text("body")


def test_the_closing_table_names_each_product_when_there_are_several():
    table = ScanReport("s1", 5, 11, 6, 0, 1.0, "out", products=(("rose", 3), ("leaf", 2), ("cola", 1))).table()
    lines = [line.rstrip() for line in table.splitlines()]
    at = next(i for i, line in enumerate(lines) if line.startswith("targets"))
    assert lines[at].endswith("6 (bottles of any of the 3 products)")
    assert [line.strip() for line in lines[at + 1:at + 4]] == [
        "rose 3 (27% of the bottles)", "leaf 2 (18% of the bottles)", "cola 1 (9% of the bottles)"]
    one = ScanReport("s1", 5, 11, 6, 0, 1.0, "out", products=(("target", 6),)).table()
    assert "targets     6\n" in one  # one product reads as it always did


@pytest.mark.parametrize("width", [1440, 390])
def test_the_products_page_fits_the_screen(tmp_path, browser, width):
    write_scan(tmp_path / "out")
    where = write_report(str(tmp_path / "out"), "r1", compare=None)
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto("file://" + where)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # wide tables scroll in their box
        assert page.locator("svg.share").bounding_box()["width"] <= width
        assert page.locator("table.products").is_visible()
    finally:
        context.close()


@pytest.mark.slow  # a whole scan with TensorFlow models
def test_a_scan_of_three_products_ends_with_them_and_reports_them(tmp_path, page, colour_box_detector,
                                                                   product_classifier, toy_models):
    """The toy detector boxes red and green rectangles; the toy classifier names a bottle by its brightest channel
    (green needs 0.9): store1/a has a red and a green bottle, store2/b a red and a dim green one (other)."""
    import numpy as np
    from PIL import Image

    from pipeline.run import run

    for name, rects in (("store1/a.png", [((20, 30, 60, 130), (255, 0, 0)), ((100, 50, 120, 100), (0, 255, 0))]),
                        ("store2/b.png", [((10, 10, 30, 30), (255, 0, 0)), ((100, 100, 140, 180), (0, 210, 0))]),
                        ("store2/c.png", [])):
        pixels = np.full((200, 200, 3), 40, np.uint8)
        for (x0, y0, x1, y1), rgb in rects:
            pixels[y0:y1, x0:x1] = rgb
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "in" / name)
    out = tmp_path / "out"
    done = run(["--input", str(tmp_path / "in"), "--output", str(out), "--scan_id", "p1", "--no_progress",
                "--detector", str(colour_box_detector), "--classifier", str(product_classifier),
                "--segmenter", str(toy_models["segmenter"]), "--report"])

    closing = [line.strip() for line in done.table().splitlines()]
    at = closing.index("targets     3 (bottles of any of the 3 products)")
    assert closing[at + 1:at + 4] == ["red 2 (50% of the bottles)", "green 1 (25% of the bottles)",
                                      "blue 0 (0% of the bottles)"]
    page.goto((out / "reports" / "p1.html").as_uri())
    table = cells(page, "table.products")
    assert [table[p][:2] for p in ("red", "green", "blue", "other bottles")] == [
        ["2", "50.0 %"], ["1", "25.0 %"], ["0", "0 %"], ["1", "25.0 %"]]
    folders = cells(page, "table.folders")
    assert folders["store1"][:4] == ["1", "2", "1", "50.0 %"] and folders["store2"][:4] == ["2", "2", "1", "50.0 %"]
    assert folders["store2"][6:8] == ["0", "0 %"]  # green: the dim one is other
    row = next(r for r in read_csv(str(out / "reports" / "p1.html")) if r["image_uri"].endswith("b.png"))
    assert (row["red:bottles"], row["green:bottles"], row["red:shelf_share_count_pct"]) == ("1", "0", "50.000")
