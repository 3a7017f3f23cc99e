"""One self-contained HTML page for a scan, and the full CSV beside it.

The page's table, filters and photo viewer are plain JavaScript (report.js) working on one JSON block;
the CSS and script are inlined, nothing is fetched when the page is opened, so it can be emailed.
"""
from __future__ import annotations

import datetime
import json
from html import escape
from pathlib import Path

from pipeline.visual_report import collect, model_names, picks, product_sections, sections
from pipeline.visual_report.collect import ScanStats
from pipeline.visual_report.compare import Comparison
from pipeline.visual_report.csv_table import CsvTable
from pipeline.visual_report.products import several
from pipeline.visual_report.scans import ScanInfo

HERE = Path(__file__).resolve().parent


def _json_block(value) -> str:
    # '<' escaped, so no URI or message can close the script element
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def page_data(s: ScanStats) -> tuple[dict, list[tuple[str, list[str]]]]:
    """The script's data (table rows, photos, photo groups) and the groups' titles with their URIs."""
    chosen = picks.choose(s)
    embedded = picks.embed(chosen.groups)
    photos, why, index = [], [], {}
    for uri, (data, reason) in embedded.items():
        index[uri] = len(photos)
        photos.append(data)
        why.append(reason)
    root = s.folders.root or []
    names = s.products.names
    compared = s.comparison.names if s.comparison else []
    shape = picks.RowShape(tuple(names), several(names), several(list(dict.fromkeys(names + compared))))
    rows = [picks.row_data(r, c, root, index.get(r["image_uri"], -1), shape) for r, c in chosen.rows]
    position = {row["u"]: i for i, row in enumerate(rows)}
    groups = [{"title": t, "rows": [position[u] for u in uris if u in position and u in index]}
              for t, uris in chosen.groups]
    data = {"rows": rows, "photos": photos, "why": why, "groups": [g for g in groups if g["rows"]],
            "images": s.images, "compare": s.comparison.scan_id if s.comparison else None,
            "products": names if shape.by_product else [],
            "colours": [product_sections.colour(i) for i in range(len(names))]}
    return data, chosen.groups


def _table(s: ScanStats, data: dict, csv_name: str) -> str:
    shown, total = len(data["rows"]), s.images
    note = (f"All {total:,} images are in the table." if shown == total else
            f"The table holds {shown:,} of the {total:,} images: those with targets"
            f"{' or changes' if s.comparison else ''} first, up to {collect.TABLE_ROWS:,}; then the others.")
    changed = ('<label><input type="checkbox" id="f-changed"> only changed</label>' if s.comparison else "")
    change_head = '<th data-key="k" data-type="n">change</th>' if s.comparison else ""
    products = data["products"]
    product_heads = "".join(f'<th data-key="q{i}" data-type="n">{product_sections.swatch(n, i)}</th>'
                            for i, n in enumerate(products))
    product_filter = ('<label>product <select id="f-product"><option value="">any</option>'
                      + "".join(f'<option value="{i}">{escape(n)}</option>' for i, n in enumerate(products))
                      + "</select></label>") if products else ""
    return f"""<p>{escape(note)} <a href="{escape(csv_name)}" id="csv">The CSV beside this file</a> has every
image, with its folder, numbers and a link to the photo. Click a row to see its photo large (photos
embedded: {len(data['photos']):,}; others are opened from their link when this browser can reach them).</p>
{sections.legend(s.threshold, s.products.names)}
<div class="filters"><label>folder <select id="f-folder"><option value="">all</option></select></label>
<label>targets <input id="f-tmin" type="number" min="0" placeholder="min"> to
<input id="f-tmax" type="number" min="0" placeholder="max"></label>
<label>best score <input id="f-smin" type="number" min="0" max="1" step="0.05" placeholder="0"> to
<input id="f-smax" type="number" min="0" max="1" step="0.05" placeholder="1"></label>{product_filter}{changed}
<span id="count" aria-live="polite"></span></div>
<div class="tablebox tall"><table id="images"><thead><tr><th>photo</th><th data-key="n">image</th>
<th data-key="f">folder</th><th data-key="c">taken</th><th data-key="b" data-type="n">bottles</th>
<th data-key="t" data-type="n">targets</th>{product_heads}<th data-key="a" data-type="n">target area</th>
<th data-key="m" data-type="n">mean score of targets</th><th data-key="x" data-type="n">best score</th>
<th data-key="s">area from</th>{change_head}</tr></thead><tbody></tbody></table></div>"""


DIALOG = """<dialog id="photo" aria-labelledby="dlg-title"><div class="dlg-head"><b id="dlg-title"></b>
<span><button id="dlg-prev" aria-label="previous image">&larr;</button><button id="dlg-next"
aria-label="next image">&rarr;</button><button id="dlg-close">Close</button></span></div>
<p id="dlg-sub"></p><div class="stage" id="dlg-stage"><img id="dlg-img" alt=""><svg id="dlg-svg"
xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="none"></svg></div><p id="dlg-note"></p>
<div class="tablebox"><table id="dlg-dets"></table></div></dialog>"""


def render(s: ScanStats, output: str, csv_name: str, scans: list[ScanInfo] = ()) -> str:
    """The report's HTML text."""
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    demo = model_names.demo_classifier(s.versions)
    data, _ = page_data(s)
    style = (HERE / "report.css").read_text()
    script = (HERE / "report.js").read_text()
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shelfscan scan {escape(s.scan_id)}</title><style>{style}</style></head><body>
{sections.banner(demo)}
<h1>Scan {escape(s.scan_id)}</h1><p class="sub">{escape(output)} · report made {made} ·
{escape(sections.models_line(s))}</p>
{sections.other_scans(output, s.scan_id, list(scans))}
{sections.numbers(s, demo)}
{sections.products(s)}
{sections.changes(s.comparison, s)}
<h2>By folder</h2>{sections.folder_table(s)}
<h2 id="images-title">Images</h2>{_table(s, data, csv_name)}
<h2>Photos to look at first</h2><div id="groups"><p>No photos could be embedded.</p></div>
<h2>Failures by type</h2>{sections.failures(s)}
<h2>Distributions</h2>{sections.plots(s)}
<h2>Models</h2>{sections.models(s)}
{DIALOG}
<script type="application/json" id="report-data">{_json_block(data)}</script>
<script>{script}</script>
</body></html>"""


def write_report(output: str, scan_id: str, path: str | None = None, compare: str | None = None,
                 scans: list[ScanInfo] = ()) -> str:
    """Write the scan's report (default OUTPUT/reports/SCAN_ID.html, any Beam filesystem) and its CSV
    beside it (same name, .csv); returns where the report is.

    compare: an earlier scan_id of the same OUTPUT to show changes against. scans: the OUTPUT's scans,
    listed on the page.
    """
    from apache_beam.io.filesystems import FileSystems

    target = path or FileSystems.join(output.rstrip("/"), "reports", f"{scan_id}.html")
    csv_path = target[:-len(".html")] + ".csv" if target.endswith(".html") else target + ".csv"
    collect.scan_files(output, scan_id)  # before the CSV is created: a wrong scan_id leaves nothing behind
    comparison = Comparison(output, compare) if compare else None
    with FileSystems.create(csv_path, mime_type="text/csv") as f:
        table = CsvTable(f)
        stats = collect.collect(output, scan_id, comparison, table)
        table.close()
    text = render(stats, output, csv_path.rsplit("/", 1)[-1], scans)
    with FileSystems.create(target, mime_type="text/html") as f:
        f.write(text.encode("utf-8"))
    return target
