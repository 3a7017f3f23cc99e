"""The report's sections drawn on the server: banner, numbers, changes, folders, failures, plots, models."""
from __future__ import annotations

from html import escape

from pipeline.visual_report import collect, folders, model_names, product_sections, svg
from pipeline.visual_report.collect import ScanStats
from pipeline.visual_report.compare import Comparison, Totals
from pipeline.visual_report.image_row import AREA_LEGEND, percent, photo_link
from pipeline.visual_report.products import LEGACY, several
from pipeline.visual_report.scans import ScanInfo

DEMO_BANNER = ("The classifier is the demo, which knows only the synthetic brand micellar_rose: 'targets' in "
               "this report mean nothing on real photos; train yours with python -m models.train_classifier "
               "--data crops.jsonl --out my_classifier (README: Your loop), then "
               "scan with --classifier my_classifier.")
OTHER_SCANS_SHOWN = 20


def banner(demo: bool) -> str:
    return f'<p class="banner" role="alert"><b>Demo classifier.</b> {escape(DEMO_BANNER)}</p>' if demo else ""


def _when(info: ScanInfo) -> str:
    return info.last_processed.strftime("%Y-%m-%d %H:%M UTC") if info.last_processed else "time unknown"


def other_scans(output: str, scan_id: str, scans: list[ScanInfo]) -> str:
    others = [s for s in scans if s.scan_id != scan_id]
    if not others:
        return ""
    items = ", ".join(f"<b>{escape(s.scan_id)}</b> ({_when(s)}, {s.rows:,} rows)" for s in others[:OTHER_SCANS_SHOWN])
    rest = f" and {len(others) - OTHER_SCANS_SHOWN:,} more" if len(others) > OTHER_SCANS_SHOWN else ""
    example = f"python -m pipeline.report {output} --scan_id {scan_id} --compare {others[0].scan_id}"
    return (f'<p class="sub">Other scans in this output, newest first: {items}{rest}. Compare with one: '
            f"<code>{escape(example)}</code></p>")


def _cell(value: str, caption: str, muted: bool = False) -> str:
    return f'<div{" class=muted" if muted else ""}><b>{escape(value)}</b>{escape(caption)}</div>'


def targets_named(names: list[str]) -> str:
    """What 'targets' are in this scan: '' for the legacy target, ' (micellar_rose)', ' (any of 3 products)'."""
    if several(names):
        return f" (any of {len(names)} products)"
    return f" ({names[0]})" if names and names[0] != LEGACY else ""


def numbers(s: ScanStats, demo: bool) -> str:
    """Headline numbers; with the demo classifier the target numbers are greyed and say so."""
    inputs = s.images + s.failures
    areas = s.mask_areas + s.expected_areas
    by = " · by the demo classifier" if demo else ""
    share = f" ({percent(100 * s.images_with_targets / s.images)})" if s.images else ""
    mean_area = percent(100 * s.area_ratio_sum / s.images_with_targets) if s.images_with_targets else "none"
    cells = [_cell(f"{inputs:,}", "inputs"), _cell(f"{s.images:,}", "summarized"),
             _cell(f"{s.failures:,}", "failed"), _cell(f"{s.bottles:,}", "bottles"),
             _cell(f"{s.targets:,}", "targets" + targets_named(s.products.names) + by, demo),
             _cell(f"{s.images_with_targets:,}{share}", "images with a target" + by, demo),
             _cell(mean_area, "of the photo is target, on average over images with a target" + by, demo),
             _cell(f"{s.expected_areas:,} of {areas:,}" if areas else "none",
                   "target areas from the box (outline looked wrong)")]
    return '<div class="numbers">' + "".join(cells) + "</div>"


def _totals_row(name: str, t: Totals) -> str:
    share = percent(100 * t.with_target / t.images) if t.images else "none"
    area = percent(t.mean_area_pct) if t.mean_area_pct is not None else "none"
    return (f"<tr><td>{escape(name)}</td><td>{t.images:,}</td><td>{t.bottles:,}</td><td>{t.targets:,}</td>"
            f"<td>{share}</td><td>{area}</td></tr>")


def changes(c: Comparison | None, s: ScanStats) -> str:
    if c is None:
        return ""
    now = Totals(s.images, s.bottles, s.targets, s.images_with_targets, s.area_ratio_sum, s.products)
    by_product = several(list(dict.fromkeys(s.products.names + c.names)))
    head = ("<tr><th>scan</th><th>images</th><th>bottles</th><th>targets</th><th>images with a target</th>"
            "<th>mean target area, % of the photo</th></tr>")
    items = "".join(
        f'<tr><td><a href="{escape(photo_link(ch.image_uri))}">{escape(ch.image_uri)}</a></td>'
        f"<td>{product_sections.counts_text(ch.before, by_product)}</td>"
        f"<td>{product_sections.counts_text(ch.after, by_product)}</td></tr>" for ch in c.changed.items())
    rest = c.changed_count - len(c.changed.items())
    listed = (f'<div class="tablebox"><table class="changed"><tr><th>image</th><th>in {escape(c.scan_id)}</th>'
              f"<th>in {escape(s.scan_id)}</th></tr>{items}</table></div>"
              + (f"<p>and {rest:,} more changed images (the table below marks them; the CSVs of both scans "
                 "have every image)</p>" if rest > 0 else "")) if items else "<p>No image changed.</p>"
    return (f"<h2>Changes since scan {escape(c.scan_id)}</h2>"
            f'<div class="tablebox"><table>{head}{_totals_row(c.scan_id + " (before)", c.before)}'
            f"{_totals_row(s.scan_id + ' (now)', now)}</table></div>"
            + (product_sections.changes_table(c.before.products, s.products, c.scan_id, s.scan_id)
               if by_product else "")
            + f"<p>{c.changed_count:,} images changed: their {'products' if by_product else 'targets'} or bottles "
            f"differ ({c.appeared:,} are new in this scan, {c.disappeared:,} are gone). Largest changes "
            f"first:</p>{listed}")


def folder_table(s: ScanStats) -> str:
    named = s.folders.named()
    if not named:
        return "<p>No summarized images.</p>"
    rest = (f"<p>and {len(named) - folders.SHOWN:,} more folders (the CSV has every image's folder)</p>"
            if len(named) > folders.SHOWN else "")
    if several(s.products.names):
        return product_sections.folder_table(named[:folders.SHOWN], s.products.names) + rest
    rows = []
    for name, c in named[:folders.SHOWN]:
        area = percent(c.mean_area_pct) if c.mean_area_pct is not None else "none"
        rows.append(f'<tr><td><a href="#images" data-folder="{escape(name)}">{escape(name)}</a></td>'
                    f"<td>{c.images:,}</td><td>{c.bottles:,}</td><td>{c.targets:,}</td>"
                    f"<td>{percent(c.with_target_pct)}</td><td>{area}</td></tr>")
    return ('<div class="tablebox"><table class="folders"><tr><th>folder</th><th>images</th><th>bottles</th>'
            "<th>targets</th><th>images with a target</th><th>mean target area, % of the photo</th></tr>"
            f"{''.join(rows)}</table></div>{rest}")


def failures(s: ScanStats) -> str:
    if not s.failures:
        return "<p>No failures: every input was summarized.</p>"
    rows = []
    for (stage, error_type), n in s.failure_types.most_common():
        examples = "".join(f"<div><code>{escape(uri)}</code>: {escape(msg)}</div>"
                           for uri, msg in s.failure_examples[(stage, error_type)])
        rows.append(f"<tr><td>{escape(stage)}</td><td>{escape(error_type)}</td><td>{n:,}</td><td>{examples}</td></tr>")
    head = (f"<tr><th>stage</th><th>type</th><th>inputs</th><th>examples (up to {collect.FAILURE_EXAMPLES})</th>"
            "</tr>")
    return f'<div class="tablebox"><table class="failures">{head}{"".join(rows)}</table></div>'


def _counts(hist) -> tuple[list[str], list[int]]:
    top = max(hist, default=0)
    labels = [str(k) if k < collect.COUNT_CAP else f"{k}+" for k in range(top + 1)]
    return labels, [hist.get(k, 0) for k in range(top + 1)]


def plots(s: ScanStats) -> str:
    score_labels = [f"{k / collect.SCORE_BINS:.2f}" for k in range(collect.SCORE_BINS)]
    area_labels = [f"{100 * k * collect.RATIO_STEP:g} %" for k in range(collect.RATIO_BINS)]
    area_labels.append(f"{100 * collect.RATIO_STEP * collect.RATIO_BINS:g} %+")
    charts = [
        svg.bar_chart("Bottles per image", *_counts(s.bottles_per_image), "bottles found"),
        svg.bar_chart("Targets per image", *_counts(s.targets_per_image), "target bottles", colour="#e07000"),
        svg.bar_chart("Target area (images with a target)", area_labels,
                      [s.area_ratio_hist.get(k, 0) for k in range(collect.RATIO_BINS + 1)],
                      "target area, % of the photo", colour="#e07000"),
        svg.bar_chart("How sure the detector was", score_labels,
                      [s.detection_score_hist.get(k, 0) for k in range(collect.SCORE_BINS)],
                      "detector score (0 to 1)", "bottles"),
        svg.bar_chart("How sure the classifier was (dashed: lowest called target)", score_labels,
                      [s.target_score_hist.get(k, 0) for k in range(collect.SCORE_BINS)],
                      "classifier score (0 to 1)", "bottles", colour="#e07000", marker=s.threshold),
    ]
    return '<div class="plots">' + "".join(charts) + "</div>"


def models(s: ScanStats) -> str:
    items = "".join("<li>" + ", ".join(f"{slot}: {escape(model_names.label(slot, v))}" for slot, v in combo.items())
                    + "</li>" for combo in model_names.versions_by_slot(s.versions))
    return f"<ul>{items}</ul>" if items else "<p>No summarized images, so no models to name.</p>"


def models_line(s: ScanStats) -> str:
    """The sub-heading's short form: 'detector synthetic · classifier demo · segmenter synthetic'."""
    if len(s.versions) != 1:
        return f"{len(s.versions)} model combinations (see Models)" if s.versions else ""
    (combo,) = model_names.versions_by_slot(s.versions)
    return " · ".join(f"{slot} {model_names.name(slot, v) or 'yours (' + v + ')'}" for slot, v in combo.items())


def products(s: ScanStats) -> str:
    """Each product's bottles, share of shelf and area, for a scan of several products."""
    if not several(s.products.names):
        return ""
    return f"<h2>Products and share of shelf</h2>{product_sections.overall(s.products, s.images)}"


def legend(threshold: float, products: list[str] = ()) -> str:
    """What the table's colours and columns mean; `products`: the scan's (legacy: ['target'])."""
    if several(list(products)):
        kinds = (" ".join(f'<span style="background:{product_sections.colour(i)}">{escape(n)}</span>'
                          for i, n in enumerate(products))
                 + " bottles the classifier took for each product (each has its own threshold) · ")
        what = "that a bottle is the product it names (for other bottles: the closest product)"
    else:
        name = products[0] if products and products[0] != LEGACY else "target"
        kinds = (f'<span style="background:#ff7800">{escape(name)}</span> a bottle the classifier took for your '
                 f"product (its score is {threshold:.2f} or more) · ")
        what = "that a bottle is the target"
    return (f'<p class="legend">{kinds}'
            '<span style="background:#286ee6">other bottle</span> · <b>score</b>: how sure the classifier '
            f"is {what}, 0 to 1; <b>best score</b>: the highest in the image · "
            "<b>target area</b>: the targets' visible area in % of the photo, "
            f"<b>outline</b> = {escape(AREA_LEGEND['mask'])}, <b>box</b> = {escape(AREA_LEGEND['expected'])}.</p>")
