"""Bar charts as inline SVG written here rather than by matplotlib: a 20-bar chart is 3 kB of text (matplotlib's SVG
of it: 17 kB), stays crisp at any zoom and keeps its labels selectable in a report meant to be emailed."""
from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 26, 42


def bar_chart(title: str, labels: list[str], values: list[int], x_label: str, y_label: str = "images",
              colour: str = "#4a78c2", marker: float | None = None) -> str:
    """An SVG bar chart; `marker` draws a dashed vertical line at that fraction of the x axis."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max(values) if values and max(values) > 0 else 1
    n = max(len(values), 1)
    bar_w = plot_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">'
             f'{escape(title)}</text>']
    for frac in (0, 0.5, 1):
        y = TOP + plot_h * (1 - frac)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
                     f'{_short(top * frac)}</text>')
    for i, v in enumerate(values):
        h = plot_h * v / top
        parts.append(f'<rect x="{LEFT + i * bar_w + 0.5:.1f}" y="{TOP + plot_h - h:.1f}" '
                     f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}" fill="{colour}">'
                     f'<title>{escape(labels[i])}: {v}</title></rect>')
    step = max(1, round(n / 8))
    for i in range(0, n, step):
        parts.append(f'<text x="{LEFT + (i + 0.5) * bar_w:.1f}" y="{TOP + plot_h + 13}" text-anchor="middle" '
                     f'font-size="10">{escape(labels[i])}</text>')
    if marker is not None:
        x = LEFT + plot_w * marker
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#c33" '
                     f'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">'
                 f'{escape(x_label)}</text>'
                 f'<text x="12" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="11" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2})">{escape(y_label)}</text></svg>')
    return "".join(parts)


def _short(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


SHARE_WIDTH, SHARE_LABEL, SHARE_BAR = 640, 70, 28


def share_bars(title: str, bars: list[tuple[str, list[float]]], names: list[str], colours: list[str]) -> str:
    """Horizontal bars split into shares (fractions summing to 1), one colour per name; a share wide
    enough to hold it is written in its segment."""
    plot_w = SHARE_WIDTH - SHARE_LABEL - RIGHT
    height = TOP + len(bars) * (SHARE_BAR + 8)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot share" width="{SHARE_WIDTH}" height="{height}" '
             f'viewBox="0 0 {SHARE_WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{SHARE_LABEL}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for k, (label, shares) in enumerate(bars):
        y = TOP + k * (SHARE_BAR + 8)
        parts.append(f'<text x="{SHARE_LABEL - 6}" y="{y + SHARE_BAR / 2 + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{escape(label)}</text>')
        x = float(SHARE_LABEL)
        for name, value, fill in zip(names, shares, colours):
            w = plot_w * max(value, 0.0)
            if w <= 0:
                continue
            text = f"{escape(name)}: {100 * value:.1f} %"
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{SHARE_BAR}" fill="{fill}" '
                         f'stroke="#fff"><title>{text}</title></rect>')
            short = next((t for t in (f"{100 * value:.1f} %", f"{100 * value:.0f} %") if w > 7 * len(t)), "")
            if short:
                parts.append(f'<text x="{x + w / 2:.1f}" y="{y + SHARE_BAR / 2 + 4:.1f}" text-anchor="middle" '
                             f'font-size="11" fill="#fff">{short}</text>')
            x += w
        if x == SHARE_LABEL:
            parts.append(f'<text x="{SHARE_LABEL + 4}" y="{y + SHARE_BAR / 2 + 4:.1f}" font-size="11">'
                         "no bottles</text>")
    parts.append("</svg>")
    return "".join(parts)
