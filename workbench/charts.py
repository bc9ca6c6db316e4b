"""Small dependency-free SVG charts for data cards: where a person would rather look than read."""
from __future__ import annotations

from xml.sax.saxutils import escape

BAR_HEIGHT, GAP, LABEL_WIDTH, PLOT_WIDTH = 14, 6, 90, 420
PALETTE = ("#4363d8", "#f58231", "#3cb44b", "#911eb4", "#e6194b", "#008080")


def grouped_bar_chart(title: str, series: dict[str, dict[str, int]]) -> str:
    """Horizontal bars: one group per category (e.g. entity label), one bar per series (e.g. split)."""
    names = list(series)
    categories = sorted({c for counts in series.values() for c in counts})
    top = max((n for counts in series.values() for n in counts.values()), default=0) or 1
    group = len(names) * BAR_HEIGHT + GAP
    height = 40 + len(categories) * group + 20 * len(names)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH + PLOT_WIDTH + 60}" height="{height}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for row, category in enumerate(categories):
        y0 = 30 + row * group
        parts.append(f'<text x="4" y="{y0 + group / 2}">{escape(category)}</text>')
        for i, name in enumerate(names):
            value = series[name].get(category, 0)
            width = round(PLOT_WIDTH * value / top, 1)
            y = y0 + i * BAR_HEIGHT
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT - 2}" '
                         f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(name)}: {value}</title></rect>')
            parts.append(f'<text x="{LABEL_WIDTH + width + 4}" y="{y + BAR_HEIGHT - 4}">{value}</text>')
    legend_y = 40 + len(categories) * group
    for i, name in enumerate(names):
        y = legend_y + i * 20
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + 18}" y="{y + 10}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
