"""The report's parts for a scan of several products: each product's bottles, area and share of shelf,
overall, by folder and against a compared scan. A scan of one product reads as before (sections.py)."""
from __future__ import annotations

from html import escape

from pipeline.visual_report import svg
from pipeline.visual_report.compare import Change, Counts
from pipeline.visual_report.image_row import percent
from pipeline.visual_report.products import ProductCount, ProductMix, share

# the first is the colour targets always had; other bottles are blue, so no product is
PALETTE = ("#ff7800", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
OTHER_COLOUR = "#286ee6"
SHARE_NOTE = ("Share of shelf over a folder or the scan is the product's bottles summed over its photos, "
              "divided by all bottles summed over them (and its area over all bottles' area likewise), not an "
              "average of each photo's share: a photo with many bottles weighs more. A product's area is its "
              "bottles' measured area; any other bottle counts the area its box would hold upright. Mean area: "
              "the product's area in % of the photo, on average over the photos holding it.")
COLUMNS = ("bottles", "share of shelf, by count", "share of shelf, by area", "mean area, % of the photo")
SHORT_COLUMNS = ("bottles", "share, count", "share, area", "mean area")  # under each product's name


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def swatch(name: str, index: int) -> str:
    """The product's name after a square of its colour on the page (index -1: other bottles)."""
    background = OTHER_COLOUR if index < 0 else colour(index)
    return f'<span class="swatch" style="background:{background}"></span>{escape(name)}'


def _area(c: ProductCount) -> str:
    return percent(c.mean_area_pct) if c.mean_area_pct is not None else "none"


def _cells(mix: ProductMix, name: str) -> list[str]:
    """A product's cells, in COLUMNS' order."""
    return [f"{mix.count(name).bottles:,}", percent(100 * mix.share_count(name)), percent(100 * mix.share_area(name)),
            _area(mix.count(name))]


def _row(cells: list[str], first: str, css: str = "") -> str:
    return f"<tr{css}><td>{first}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def overall(mix: ProductMix, images: int) -> str:
    """Every product's bottles, shares and area over the scan, other bottles last; bars of the shares."""
    head = "<tr><th>product</th>" + "".join(f"<th>{c}</th>" for c in COLUMNS) + "<th>images with it</th></tr>"
    rows = [_row([*_cells(mix, n), f"{mix.count(n).images:,} of {images:,}"], swatch(n, i))
            for i, n in enumerate(mix.names)]
    other = mix.other()
    count_shares = [mix.share_count(n) for n in mix.names] + [share(other.bottles, mix.bottles)]
    area_shares = [mix.share_area(n) for n in mix.names] + [share(other.area_px, mix.area_px)]
    rows.append(_row([f"{other.bottles:,}", percent(100 * count_shares[-1]), percent(100 * area_shares[-1]), "", ""],
                     swatch("other bottles", -1), ' class="other"'))
    bars = svg.share_bars("Share of shelf", [("by count", count_shares), ("by area", area_shares)],
                          [*mix.names, "other bottles"], [*map(colour, range(len(mix.names))), OTHER_COLOUR])
    return (f'<div class="tablebox"><table class="products">{head}{"".join(rows)}</table></div>{bars}'
            f'<p class="note">{escape(SHARE_NOTE)}</p>')


def folder_table(named: list, names: list[str]) -> str:
    """The folders' rows with every product's columns; `named`: (folder, FolderCounts), already capped."""
    head = ('<tr><th rowspan="2">folder</th><th rowspan="2">images</th><th rowspan="2">bottles</th>'
            + "".join(f'<th colspan="{len(COLUMNS)}">{swatch(n, i)}</th>' for i, n in enumerate(names))
            + "</tr><tr>" + "".join(f"<th>{c}</th>" for _ in names for c in SHORT_COLUMNS) + "</tr>")
    rows = [_row([f"{c.images:,}", f"{c.bottles:,}", *(v for n in names for v in _cells(c.products, n))],
                 f'<a href="#images" data-folder="{escape(name)}">{escape(name)}</a>') for name, c in named]
    return (f'<div class="tablebox"><table class="folders">{head}{"".join(rows)}</table></div>'
            "<p>Share of shelf of the folder's bottles, by count and by area; mean area in % of the photo, over "
            "the folder's photos holding the product (as in Products and share of shelf).</p>")


def _moved(before: str | None, now: str | None, delta: str) -> str:
    if before is None or now is None:
        return f"{before or '–'} → {now or '–'}"  # a product one classifier does not know
    return f"{before} → {now} ({delta})"


def _pp(a: float, b: float) -> str:
    return f"{100 * (b - a):+.1f} pp"


def changes_table(before: ProductMix, now: ProductMix, earlier: str, current: str) -> str:
    """Each product in either scan: bottles, shares and mean area before → now, with the difference."""
    rows = []  # colours: the current scan's products as everywhere on the page, then the earlier scan's own
    for i, n in enumerate(dict.fromkeys(now.names + before.names)):
        had, has = n in before.counts, n in now.counts
        b, c = before.count(n), now.count(n)
        bottles = _moved(f"{b.bottles:,}" if had else None, f"{c.bottles:,}" if has else None,
                         f"{c.bottles - b.bottles:+,}")
        by_count = _moved(percent(100 * before.share_count(n)) if had else None,
                          percent(100 * now.share_count(n)) if has else None,
                          _pp(before.share_count(n), now.share_count(n)))
        by_area = _moved(percent(100 * before.share_area(n)) if had else None,
                         percent(100 * now.share_area(n)) if has else None,
                         _pp(before.share_area(n), now.share_area(n)))
        area = f"{_area(b) if had else '–'} → {_area(c) if has else '–'}"
        rows.append(_row([bottles, by_count, by_area, area], swatch(n, i)))
    head = "<tr><th>product</th>" + "".join(f"<th>{c}, {escape(earlier)} → {escape(current)}</th>"
                                            for c in COLUMNS) + "</tr>"
    unknown = " –: that scan's classifier does not know the product." if set(before.names) != set(now.names) else ""
    return (f'<div class="tablebox"><table class="product-changes">{head}{"".join(rows)}</table></div>'
            f"<p>pp: percentage points.{unknown}</p>")


def counts_text(counts: Counts | None, by_product: bool) -> str:
    """One image's counts in words: '4 bottles, 2 targets', or by product '4 bottles: 2 rose, 1 cola'."""
    if counts is None:
        return "not in this scan"
    bottles = f"{counts.bottles:,} bottle" + ("" if counts.bottles == 1 else "s")
    if not by_product:
        return f"{bottles}, {counts.targets:,} target" + ("" if counts.targets == 1 else "s")
    return bottles + (": " + ", ".join(f"{k:,} {n}" for n, k in counts.products) if counts.products else
                      ", none of the products")


def change_text(change: Change | None, by_product: bool) -> str:
    """What changed in one image, for the table's change column."""
    if change is None:
        return ""
    if change.before is None:
        return "new in this scan"
    if change.after is None:
        return "gone"
    before, after = change.before, change.after
    names = dict.fromkeys(n for n, _ in after.products + before.products)
    parts = ([f"{n} {before.of(n)} → {after.of(n)}" for n in names if before.of(n) != after.of(n)] if by_product
             else [f"targets {before.targets} → {after.targets}"] if before.targets != after.targets else [])
    if before.bottles != after.bottles:
        parts.append(f"bottles {before.bottles} → {after.bottles}")
    return ", ".join(parts)
