"""One self-contained HTML page for a scan: headline numbers, failures by type, plots, gallery."""
from __future__ import annotations

import datetime
from html import escape

from pipeline.visual_report import collect, svg
from pipeline.visual_report.collect import ScanStats
from pipeline.visual_report.gallery import thumbnail

STYLE = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1400px;color:#222}
h1{margin-bottom:4px}.sub{color:#666;margin-top:0}
.numbers{display:flex;flex-wrap:wrap;gap:12px}.numbers div{background:#f3f5f8;border-radius:6px;padding:8px 14px}
.numbers b{display:block;font-size:22px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}
.plots{display:flex;flex-wrap:wrap;gap:16px}.gallery{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;background:#f6f6f6;padding:6px;border-radius:4px;width:300px}figure img{width:100%}
figcaption{font-size:11px;color:#444;word-break:break-all}.legend span{padding:0 6px;color:#fff;border-radius:3px}"""


def _numbers(s: ScanStats) -> str:
    inputs = s.images + s.failures
    areas = s.mask_areas + s.expected_areas
    cells = [
        ("inputs", f"{inputs:,}"), ("summarized", f"{s.images:,}"), ("failed", f"{s.failures:,}"),
        ("bottles", f"{s.bottles:,}"), ("targets", f"{s.targets:,}"),
        ("images with a target", f"{s.images_with_targets:,}" + (f" ({s.images_with_targets / s.images:.0%})"
                                                               if s.images else "")),
        ("mean target area ratio", f"{s.area_ratio_sum / s.images_with_targets:.3f}" if s.images_with_targets
         else "n/a"),
        ("areas from the expected-area fallback", f"{s.expected_areas:,} of {areas:,}" if areas else "n/a"),
    ]
    return '<div class="numbers">' + "".join(f"<div><b>{escape(v)}</b>{escape(k)}</div>" for k, v in cells) + "</div>"


def _failures(s: ScanStats) -> str:
    if not s.failures:
        return "<p>No failures: every input was summarized.</p>"
    rows = []
    for (stage, error_type), n in s.failure_types.most_common():
        examples = "".join(f"<div><code>{escape(uri)}</code>: {escape(msg)}</div>"
                           for uri, msg in s.failure_examples[(stage, error_type)])
        rows.append(f"<tr><td>{escape(stage)}</td><td>{escape(error_type)}</td><td>{n:,}</td><td>{examples}</td></tr>")
    return ("<table><tr><th>stage</th><th>type</th><th>inputs</th><th>examples (up to "
            f"{collect.FAILURE_EXAMPLES})</th></tr>{''.join(rows)}</table>")


def _counts(hist) -> tuple[list[str], list[int]]:
    top = max(hist, default=0)
    labels = [str(k) if k < collect.COUNT_CAP else f"{k}+" for k in range(top + 1)]
    return labels, [hist.get(k, 0) for k in range(top + 1)]


def _plots(s: ScanStats) -> str:
    score_labels = [f"{k / collect.SCORE_BINS:.2f}" for k in range(collect.SCORE_BINS)]
    ratio_labels = [f"{k * collect.RATIO_STEP:.3f}" for k in range(collect.RATIO_BINS)] + ["0.5+"]
    charts = [
        svg.bar_chart("Bottles per image", *_counts(s.bottles_per_image), "bottles detected"),
        svg.bar_chart("Targets per image", *_counts(s.targets_per_image), "target bottles", colour="#e07000"),
        svg.bar_chart("Target area ratio (images with a target)", ratio_labels,
                      [s.area_ratio_hist.get(k, 0) for k in range(collect.RATIO_BINS + 1)],
                      "target area / image area", colour="#e07000"),
        svg.bar_chart("Detection scores", score_labels,
                      [s.detection_score_hist.get(k, 0) for k in range(collect.SCORE_BINS)],
                      "detector score", "bottles"),
        svg.bar_chart("Target scores (dashed: lowest called target)", score_labels,
                      [s.target_score_hist.get(k, 0) for k in range(collect.SCORE_BINS)],
                      "classifier score", "bottles", colour="#e07000", marker=s.threshold),
    ]
    return '<div class="plots">' + "".join(charts) + "</div>"


def _caption(row: dict) -> str:
    fallback = sum(d.get("area_source") == "expected" for d in row["detections"] or [])
    return (f"{escape(row['image_uri'])}<br>{row['bottles']} bottles, {row['target_bottles']} targets, "
            f"area ratio {row['target_area_ratio']:.3f}" + (f", {fallback} expected-area" if fallback else ""))


def _gallery(s: ScanStats) -> str:
    sections = [
        ("Largest target areas", s.largest.items()),
        ("Most uncertain (a target score closest to the threshold)", s.uncertain.items()),
        ("Expected-area fallbacks (mask implausible)", s.fallbacks.items()),
        ("Random sample", s.sample.items),
    ]
    drawn: dict[str, tuple] = {}
    out = []
    for title, rows in sections:
        figures = []
        for row in rows:
            if row["image_uri"] not in drawn:
                drawn[row["image_uri"]] = thumbnail(row)
            uri, why = drawn[row["image_uri"]]
            body = f'<img src="{uri}" alt="">' if uri else f"<p>image not readable: {escape(why)}</p>"
            figures.append(f"<figure>{body}<figcaption>{_caption(row)}</figcaption></figure>")
        out.append(f"<h3>{escape(title)}</h3>" + (f'<div class="gallery">{"".join(figures)}</div>'
                                                 if figures else "<p>none in this scan</p>"))
    return "".join(out)


def render(s: ScanStats, output: str) -> str:
    """The report's HTML text."""
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = "".join(f"<li>detector {escape(d)}, classifier {escape(c)}, segmenter {escape(g)}</li>"
                       for d, c, g in sorted(s.versions))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>shelfscan scan {escape(s.scan_id)}</title><style>{STYLE}</style></head><body>
<h1>Scan {escape(s.scan_id)}</h1><p class="sub">{escape(output)} · report made {made}</p>
{_numbers(s)}
<h2>Failures by type</h2>{_failures(s)}
<h2>Distributions</h2>{_plots(s)}
<h2>Gallery</h2><p class="legend"><span style="background:#ff7800">target</span>
<span style="background:#286ee6">other bottle</span> · tag on a target: M = area from its mask,
E = expected area from its box (mask implausible). Up to {collect.GALLERY} images per section.</p>
{_gallery(s)}
<h2>Models</h2><ul>{versions}</ul>
</body></html>"""


def write_report(output: str, scan_id: str, path: str | None = None) -> str:
    """Write the scan's report (default OUTPUT/reports/SCAN_ID.html, any Beam filesystem); returns where."""
    from apache_beam.io.filesystems import FileSystems

    target = path or FileSystems.join(output.rstrip("/"), "reports", f"{scan_id}.html")
    text = render(collect.collect(output, scan_id), output)
    with FileSystems.create(target, mime_type="text/html") as f:
        f.write(text.encode("utf-8"))
    return target
