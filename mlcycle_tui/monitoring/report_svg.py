"""Charts for the HTML reports, drawn as inline SVG by a few small functions.

Why this exists: a report must open anywhere without fetching a script or an
image, so its charts are SVG markup inside the page. The few kinds the reports
need (a histogram of reference against current, horizontal bars, lines with a
band, a confusion matrix) are simple enough to draw here, with no plotting
library to install. Every label is escaped; numbers are rounded to one decimal
of a pixel to keep the files small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mlcycle_tui.monitoring.report_html import esc, num

REF = "#7a9cc6"  # reference / training data
CUR = "#e8772e"  # current data
BAD = "#b42318"
OK = "#1a7f37"
GRID = "#e3e8ee"
AXIS = "#8c959f"
PALETTE = ("#2f6db5", "#e8772e", "#2e9e5b", "#a4508b", "#c9a227", "#5b6770", "#d6455d", "#3aa6b9")


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if math.isfinite(x) else "0"


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>{body}</svg>')


def _text(x: float, y: float, text: Any, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{extra}>{esc(text)}</text>'


def _axis(value: float) -> str:
    """An axis label: 4 significant digits, no thousands separator (a year reads 2007)."""
    return f"{value:.4g}" if math.isfinite(value) else ""


def _short(text: Any, limit: int = 22) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def legend(items: Sequence[tuple[str, str]]) -> str:
    """An HTML legend line: (colour, label) pairs."""
    return '<div class="legend">' + "".join(
        f'<span class="sw" style="background:{c}"></span>{esc(t)}' for c, t in items) + "</div>"


def histogram(hist: dict[str, Any], *, width: int = 500, height: int = 180) -> str:
    """Reference against current shares of one column, as `drift.histogram_pair` gives them."""
    if hist.get("kind") == "numeric":
        return _numeric_histogram(hist, width, height)
    return _categorical_bars(hist, width)


def _numeric_histogram(hist: dict[str, Any], width: int, height: int) -> str:
    edges, ref, cur = hist["edges"], hist["reference"], hist["current"]
    left, right, top, bottom = 40, 10, 8, 24
    w, h = width - left - right, height - top - bottom
    peak = max([*ref, *cur, 1e-9])
    n = len(ref)
    bw = w / max(n, 1)
    parts = [f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="{AXIS}"/>']
    for frac in (0.5, 1.0):
        y = top + h - h * frac
        parts.append(f'<line x1="{left}" y1="{_f(y)}" x2="{left + w}" y2="{_f(y)}" stroke="{GRID}"/>')
        parts.append(_text(left - 4, y + 4, f"{100 * peak * frac:.0f}%", "end"))
    for i in range(n):
        x = left + i * bw
        for share, colour, offset, span in ((ref[i], REF, 0.08, 0.84), (cur[i], CUR, 0.3, 0.4)):
            bh = h * share / peak
            if bh > 0:
                parts.append(f'<rect x="{_f(x + bw * offset)}" y="{_f(top + h - bh)}" width="{_f(bw * span)}" '
                             f'height="{_f(bh)}" fill="{colour}"/>')
    lo, hi = edges[0], edges[-1]
    parts.append(_text(left, height - 6, _axis(lo), "start"))
    parts.append(_text(left + w / 2, height - 6, _axis((lo + hi) / 2), "middle"))
    parts.append(_text(left + w, height - 6, _axis(hi), "end"))
    return _svg(width, height, f"distribution of {hist['column']}: reference and current", "".join(parts))


def _categorical_bars(hist: dict[str, Any], width: int, limit: int = 10) -> str:
    cats = list(hist["categories"])[:limit]
    ref, cur = hist["reference"][:limit], hist["current"][:limit]
    left, right, row = 130, 46, 22
    height = 6 + row * len(cats) + 4
    w = width - left - right
    peak = max([*ref, *cur, 1e-9])
    parts = []
    for i, cat in enumerate(cats):
        y = 6 + i * row
        parts.append(f'<g><title>{esc(cat)}: reference {pct_text(ref[i])}, current {pct_text(cur[i])}</title>')
        parts.append(_text(left - 6, y + 13, _short(cat, 20), "end"))
        parts.append(f'<rect x="{left}" y="{_f(y + 2)}" width="{_f(w * ref[i] / peak)}" height="8" fill="{REF}"/>')
        parts.append(f'<rect x="{left}" y="{_f(y + 10)}" width="{_f(w * cur[i] / peak)}" height="8" fill="{CUR}"/>')
        parts.append(_text(left + w * max(ref[i], cur[i]) / peak + 4, y + 14, pct_text(cur[i])) + "</g>")
    return _svg(width, height, f"categories of {hist['column']}: reference and current", "".join(parts))


def pct_text(share: float | None) -> str:
    if share is None:
        return "–"
    return f"{100 * share:.1f}%" if share < 0.1 else f"{100 * share:.0f}%"


def hbars(items: Sequence[dict[str, Any]], *, width: int = 640, marker: float | None = None,
          marker_label: str = "", value_text: Any = None, label_width: int = 170) -> str:
    """Horizontal bars: items {"label", "value", "colour"?, "title"?}; `marker` draws a dashed line at a value."""
    row = 20
    left, right = label_width, 60
    height = 8 + row * len(items) + (18 if marker is not None else 4)
    w = width - left - right
    values = [float(i["value"]) for i in items if i.get("value") is not None]
    peak = max([*values, marker or 0.0, 1e-9])
    parts = []
    for k, item in enumerate(items):
        y = 8 + k * row
        value = item.get("value")
        title = item.get("title") or f"{item['label']}: {num(value)}"
        parts.append(f"<g><title>{esc(title)}</title>")
        parts.append(_text(left - 6, y + 13, _short(item["label"], 26), "end"))
        if value is not None:
            bw = max(w * float(value) / peak, 1.0)
            parts.append(f'<rect x="{left}" y="{_f(y + 3)}" width="{_f(bw)}" height="12" rx="2" '
                         f'fill="{item.get("colour", REF)}"/>')
            shown = value_text(item) if value_text else num(value, 3)
            parts.append(_text(left + bw + 4, y + 13, shown))
        else:
            parts.append(_text(left + 2, y + 13, "not judged", extra=' style="fill:#8c959f"'))
        parts.append("</g>")
    if marker is not None:
        x = left + w * marker / peak
        bottom = 8 + row * len(items)
        parts.append(f'<line x1="{_f(x)}" y1="4" x2="{_f(x)}" y2="{bottom}" stroke="{BAD}" stroke-dasharray="4 3"/>')
        parts.append(_text(x, bottom + 13, marker_label, "middle", ' style="fill:#b42318"'))
    return _svg(width, height, "bar chart", "".join(parts))


def paired_bars(items: Sequence[dict[str, Any]], *, width: int = 460, label_width: int = 130,
                colours: tuple[str, str] = ("#2f6db5", "#c3ccd6")) -> str:
    """Two bars per label: items {"label", "a", "b"} (e.g. the model and the baseline), values from 0."""
    row = 30
    left, right = label_width, 50
    height = 8 + row * len(items)
    w = width - left - right
    peak = max([float(v) for i in items for v in (i.get("a"), i.get("b")) if v is not None] + [1e-9])
    parts = []
    for k, item in enumerate(items):
        y = 8 + k * row
        parts.append(f"<g><title>{esc(item['label'])}: {num(item.get('a'))} against {num(item.get('b'))}</title>")
        parts.append(_text(left - 6, y + 15, _short(item["label"], 20), "end"))
        for value, colour, dy in ((item.get("a"), colours[0], 2), (item.get("b"), colours[1], 14)):
            if value is None:
                continue
            bw = max(w * max(float(value), 0.0) / peak, 1.0)
            parts.append(f'<rect x="{left}" y="{y + dy}" width="{_f(bw)}" height="11" rx="2" fill="{colour}"/>')
            parts.append(_text(left + bw + 4, y + dy + 10, num(value, 3)))
        parts.append("</g>")
    return _svg(width, height, "paired bar chart", "".join(parts))


def line_chart(series: Sequence[dict[str, Any]], *, x_label: str, y_label: str,
               x_range: tuple[float, float] | None = None, y_range: tuple[float, float] | None = None,
               diagonal: bool = False, hline: tuple[float, str] | None = None, width: int = 440,
               height: int = 300, x_ticks: Sequence[tuple[float, str]] | None = None, label: str = "chart") -> str:
    """Lines through points. A series: {"points": [(x, y)], "colour", "name"?, "band": [(x, lo, hi)]?,
    "dots": [(x, y, colour)]?, "dash"?}. `hline` = (y, label) draws a dashed threshold."""
    left, right, top, bottom = 58, 12, 10, 38
    w, h = width - left - right, height - top - bottom
    xs = [p[0] for s in series for p in s.get("points", [])]
    ys = [p[1] for s in series for p in s.get("points", [])]
    ys += [v for s in series for b in s.get("band", []) for v in b[1:]]
    ys += [d[1] for s in series for d in s.get("dots", [])]
    if hline is not None:
        ys.append(hline[0])
    x0, x1 = x_range or (min(xs, default=0.0), max(xs, default=1.0))
    y0, y1 = y_range or _nice_range(ys)
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def sx(x: float) -> float:
        return left + w * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return top + h - h * (min(max(y, y0), y1) - y0) / (y1 - y0)

    parts = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="{GRID}"/>']
    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        parts.append(f'<line x1="{left}" y1="{_f(sy(yv))}" x2="{left + w}" y2="{_f(sy(yv))}" stroke="{GRID}"/>')
        parts.append(_text(left - 4, sy(yv) + 4, f"{yv:.3g}", "end"))
    ticks = x_ticks if x_ticks is not None else [(x0 + (x1 - x0) * k / 4, _axis(round(x0 + (x1 - x0) * k / 4, 6)))
                                                 for k in range(5)]
    for xv, text in ticks:
        parts.append(_text(sx(xv), top + h + 14, text, "middle"))
    parts.append(_text(left + w / 2, height - 6, x_label, "middle"))
    parts.append(_text(12, top + h / 2, y_label, "middle", f' transform="rotate(-90 12 {_f(top + h / 2)})"'))
    if diagonal:
        parts.append(f'<line x1="{_f(sx(x0))}" y1="{_f(sy(y0))}" x2="{_f(sx(x1))}" y2="{_f(sy(y1))}" '
                     f'stroke="{AXIS}" stroke-dasharray="4 3"/>')
    for s in series:
        band = s.get("band") or []
        if len(band) >= 2:
            upper = " ".join(f"{_f(sx(x))},{_f(sy(hi))}" for x, _lo, hi in band)
            lower = " ".join(f"{_f(sx(x))},{_f(sy(lo))}" for x, lo, _hi in reversed(band))
            parts.append(f'<polygon points="{upper} {lower}" fill="{s["colour"]}" fill-opacity="0.16"/>')
    if hline is not None:
        y = sy(hline[0])
        parts.append(f'<line x1="{left}" y1="{_f(y)}" x2="{left + w}" y2="{_f(y)}" stroke="{BAD}" '
                     'stroke-dasharray="5 3"/>')
        parts.append(_text(left + w - 4, y - 4, hline[1], "end", ' style="fill:#b42318"'))
    for s in series:
        pts = s.get("points") or []
        if len(pts) >= 2:
            path = " ".join(f"{_f(sx(x))},{_f(sy(y))}" for x, y in pts)
            dash = ' stroke-dasharray="5 3"' if s.get("dash") else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{s["colour"]}" stroke-width="2"{dash}>'
                         f'<title>{esc(s.get("name", ""))}</title></polyline>')
        for x, y, colour in s.get("dots") or []:
            parts.append(f'<circle cx="{_f(sx(x))}" cy="{_f(sy(y))}" r="3.5" fill="{colour}"/>')
    return _svg(width, height, label, "".join(parts))


def _nice_range(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 0.1
    unit = lo >= 0.0 and hi <= 1.0  # a score: keep the axis inside [0, 1]
    return (max(lo - pad, 0.0), min(hi + pad, 1.0)) if unit else (lo - pad, hi + pad)


def heatmap(labels: Sequence[Any], matrix: Sequence[Sequence[int]], *, cell: int = 0) -> str:
    """A confusion matrix: rows are true classes, columns predicted; darker is more rows."""
    n = len(labels)
    cell = cell or max(28, min(64, 360 // max(n, 1)))
    left, top = 120, 40
    width, height = left + cell * n + 10, top + cell * n + 10
    peak = max([v for row in matrix for v in row] + [1])
    parts = [_text(left + cell * n / 2, 12, "predicted", "middle", ' font-weight="600"'),
             _text(10, top + cell * n / 2, "true", "middle",
                   f' font-weight="600" transform="rotate(-90 10 {_f(top + cell * n / 2)})"')]
    for j, lbl in enumerate(labels):
        parts.append(_text(left + j * cell + cell / 2, top - 6, _short(lbl, 10), "middle"))
    for i, row in enumerate(matrix):
        parts.append(_text(left - 6, top + i * cell + cell / 2 + 4, _short(labels[i], 16), "end"))
        for j, v in enumerate(row):
            share = v / peak
            colour = _blend(share, diagonal=i == j)
            ink = "#ffffff" if share > 0.55 else "#1f2328"
            parts.append(f'<g><title>true {esc(labels[i])}, predicted {esc(labels[j])}: {v}</title>'
                         f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" height="{cell - 2}" '
                         f'rx="3" fill="{colour}"/>'
                         + _text(left + j * cell + cell / 2 - 1, top + i * cell + cell / 2 + 3, v, "middle",
                                 f' style="fill:{ink}"') + "</g>")
    return _svg(width, height, "confusion matrix", "".join(parts))


def _blend(share: float, diagonal: bool) -> str:
    """White to blue (correct) or white to red (mistakes) by `share`."""
    base = (47, 109, 181) if diagonal else (180, 35, 24)
    share = 0.06 + 0.94 * share if share > 0 else 0.0
    r, g, b = (round(255 + (c - 255) * share) for c in base)
    return f"#{r:02x}{g:02x}{b:02x}"
