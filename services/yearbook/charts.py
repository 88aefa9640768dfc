"""Charts for the yearbook, drawn as inline SVG: no JavaScript, no browser, works offline.

WeasyPrint lays out SVG text glyph by glyph, which breaks the word order of Arabic phrases
(single words shape correctly). So text that may be an Arabic phrase -- category labels,
legends -- stays in HTML, which the layout engine shapes and orders right to left; the SVG
carries only the graphics, numbers and single-word month names.
"""
from __future__ import annotations

import datetime as dt
import math
from html import escape

from babel.dates import format_date

from services.exports.metadata import LOCALES, format_number

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in grey print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def bar_chart(items: list[tuple[str, float | None]], lang: str, marker: str, caption_id: str = "") -> str:
    """Horizontal bars, one row per category: label | bar | value (HTML table, SVG bars).

    A suppressed category keeps its row, with the confidentiality marker and no bar, so
    that the chart hides nothing the table shows and shows nothing the table hides.
    """
    rtl = lang == "ar"
    top = max((v for _, v in items if v is not None), default=0) or 1
    rows = []
    for label, value in items:
        if value is None:
            bar, text = "", marker
        else:
            width = max(0.0, 100.0 * value / top)
            x = 100.0 - width if rtl else 0.0   # bars grow from the reading start
            bar = (f'<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">'
                   f'<rect x="{x:.2f}" y="1" width="{width:.2f}" height="8" fill="{PALETTE[0]}"/></svg>')
            text = format_number(value, lang)
        rows.append(f'<tr><th scope="row">{escape(label)}</th><td class="bar-cell">{bar}</td>'
                    f'<td class="num">{escape(text)}</td></tr>')
    labelled = f' aria-labelledby="{escape(caption_id)}"' if caption_id else ""
    return f'<table class="bar-chart"{labelled}>{"".join(rows)}</table>'


def _axis(periods: list[str], lang: str, left_pct: float, width_pct: float) -> str:
    """Labels under the time axis, as an HTML table aligned on the SVG's plot area: one column
    per period, so that each label sits under its point. Months are grouped by three beyond
    13 months (the middle month named) and only years are named beyond 48."""
    months = all(len(p) == 7 and p[4] == "-" for p in periods)
    n = len(periods)
    style = f'style="margin-left:{left_pct:.2f}%;width:{width_pct:.2f}%"'
    if not months:
        cells = "".join(f"<td>{escape(p)}</td>" for p in periods)
        return f'<table class="time-axis" dir="ltr" {style}><tr>{cells}</tr></table>'
    def month_name(p):
        return format_date(dt.date(int(p[:4]), int(p[5:]), 1), "LLL", locale=LOCALES[lang])

    rows = []
    if n <= 48:
        size = 1 if n <= 13 else 3
        cells = []
        for start in range(0, n, size):
            group = periods[start:start + size]
            cells.append(f'<td colspan="{len(group)}">{escape(month_name(group[len(group) // 2]))}</td>')
        rows.append("".join(cells))
    years = []
    for p in periods:
        if years and years[-1][0] == p[:4]:
            years[-1][1] += 1
        else:
            years.append([p[:4], 1])
    rows.append("".join(f'<td colspan="{count}" class="year">{year}</td>' for year, count in years))
    cols = f'<colgroup>{"<col>" * n}</colgroup>'
    return (f'<table class="time-axis" dir="ltr" {style}>{cols}'
            + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>")


def line_chart(periods: list[str], series: list[tuple[str, list[float | None]]], lang: str,
               width: int = 640, height: int = 230) -> str:
    """Lines over time (time runs left to right in every language, as in the partners' own
    publications); a suppressed or missing month breaks the line. Axis labels and legend in HTML."""
    left, right, top_pad, bottom = 62, 12, 12, 8
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    ticks = nice_ticks(max(values, default=0))
    y_max = ticks[-1] or 1
    n = len(periods)
    step = plot_w / max(n, 1)

    def x_of(i):
        return left + step * (i + 0.5)

    def y_of(v):
        return top_pad + plot_h * (1 - v / y_max)

    parts = [f'<svg class="line-chart" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
             f'direction="ltr" font-size="11" aria-hidden="true">']
    for t in ticks:
        y = y_of(t)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">'
                     f'{escape(format_number(t, lang))}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" '
                 f'stroke="#888"/>')
    for k, (_, vs) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        path, pen_down = [], False
        for i, v in enumerate(vs):
            if v is None:
                pen_down = False
                continue
            path.append(f'{"L" if pen_down else "M"}{x_of(i):.1f},{y_of(v):.1f}')
            pen_down = True
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for i, v in enumerate(vs):
            if v is not None:
                parts.append(f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="2.5" fill="{colour}"/>')
    parts.append("</svg>")
    axis = _axis(periods, lang, 100 * left / width, 100 * plot_w / width)
    legend = "".join(
        f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{PALETTE[k % len(PALETTE)]}"/></svg> {escape(name)}</li>'
        for k, (name, _) in enumerate(series))
    return ('<div class="line-chart">' + "".join(parts) + axis
            + (f'<ul class="legend">{legend}</ul>' if len(series) > 1 else "") + "</div>")
