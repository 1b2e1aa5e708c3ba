"""The HTML of the reports: one self-contained page, escaped text, tables, and the atomic write.

Why this exists: a report is a file a person opens in a browser and sends to a
colleague, so it must stand alone: no script, no style sheet, font or image
from anywhere else (its Content-Security-Policy forbids every fetch, so even a
mistake cannot make it phone home), charts as inline SVG (`report_svg`), and
readable printed or without JavaScript. Every piece of text that comes from a
user (column names, category values, model names, paths) goes through `esc`,
so a column called `<script>` is shown, never run. Files are written to a
temporary file beside the target and renamed, so a killed process leaves no
half report (only a `.NAME.*.part` file at worst).
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.common.version import __version__

# A report fetches nothing: no script, no remote style, font or image; inline styles only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#ffffff;--soft:#f6f8fa;
--bad:#b42318;--bad-bg:#fef3f2;--warn:#9a6700;--warn-bg:#fff8c5;--ok:#1a7f37;--ok-bg:#dafbe1;
--ref:#7a9cc6;--cur:#e8772e}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans",sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:14px 0 6px}
.card h3{margin:0 0 6px}
p{margin:6px 0}
.meta{color:var(--muted);font-size:13px;margin:0 0 14px}
.meta span{margin-right:14px;white-space:nowrap}
.verdict{border-radius:8px;padding:14px 18px;margin:10px 0 18px;border:1px solid}
.verdict .head{font-size:22px;font-weight:650}
.verdict p{margin:4px 0 0}
.v-bad{background:var(--bad-bg);border-color:#fda29b;color:#7a271a}
.v-warn{background:var(--warn-bg);border-color:#e3c16f;color:#5c3d00}
.v-ok{background:var(--ok-bg);border-color:#8fd6a4;color:#0f4d22}
.next{font-size:13.5px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
background:var(--soft);padding:1px 4px;border-radius:4px;word-break:break-all}
.verdict code{background:rgba(255,255,255,.6)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;break-inside:avoid}
.card.bad{border-color:#f4a39a;box-shadow:inset 4px 0 0 var(--bad)}
.card .facts{color:var(--muted);font-size:12.5px;margin-bottom:6px}
.tag{display:inline-block;font-size:11.5px;font-weight:600;border-radius:10px;padding:0 8px;margin-left:6px;
vertical-align:2px}
.t-bad{background:var(--bad-bg);color:var(--bad)}.t-ok{background:var(--ok-bg);color:var(--ok)}
.t-warn{background:var(--warn-bg);color:var(--warn)}.t-muted{background:var(--soft);color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0 10px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600}
table.kv th{width:190px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.bad td{background:#fff5f4}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;align-items:start}
.legend{font-size:12px;color:var(--muted)}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
.ratio{display:inline-block;height:8px;background:var(--ref);border-radius:2px;vertical-align:middle}
.ratio.bad{background:var(--bad)}
.note{color:var(--muted);font-size:12.5px}
svg{max-width:100%;height:auto;display:block}
svg text{font-size:11px;fill:#3d444d}
footer{margin-top:32px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
details summary{cursor:pointer;color:var(--muted);margin:6px 0}
@media print{main{padding:0}.card{box-shadow:none}details{display:block}}
"""


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute: `<`, `>`, `&` and both quotes escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any, digits: int = 4) -> str:
    """A number for people: 4 significant digits, integers as they are, '–' when there is none."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.{digits}g}"
    return esc(value)


def when(iso: Any) -> str:
    """A stored ISO-8601 timestamp for people: "2026-01-31 14:05:09 UTC" (the text as it is if it is not one)."""
    from datetime import UTC, datetime

    if not iso:
        return "–"
    try:
        moment = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def code(text: Any) -> str:
    return f"<code>{esc(text)}</code>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (),
          row_classes: Sequence[str] | None = None) -> str:
    """A table of already escaped cells; `numeric` column indexes are right-aligned."""
    nums = set(numeric)
    head = "".join(f'<th class="n">{esc(h)}</th>' if i in nums else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r, cells in enumerate(rows):
        cls = row_classes[r] if row_classes and r < len(row_classes) and row_classes[r] else ""
        tds = "".join(f'<td class="n">{c}</td>' if i in nums else f"<td>{c}</td>" for i, c in enumerate(cells))
        body.append(f'<tr class="{cls}">{tds}</tr>' if cls else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv_table(pairs: Iterable[tuple[str, str]]) -> str:
    """Two columns, a label (escaped here) and an already escaped value."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def verdict_box(tone: str, head: str, lines: Iterable[str]) -> str:
    """The first thing on the page: the headline (escaped here) and what to do (already escaped lines)."""
    body = "".join(f'<p class="next">{line}</p>' for line in lines)
    return f'<section class="verdict v-{tone}" id="verdict"><div class="head">{esc(head)}</div>{body}</section>'


def tag(text: str, tone: str) -> str:
    return f'<span class="tag t-{tone}">{esc(text)}</span>'


def meta_line(pairs: Iterable[tuple[str, Any]]) -> str:
    return '<p class="meta">' + "".join(f"<span>{esc(k)}: <b>{esc(v)}</b></span>" for k, v in pairs
                                        if v not in (None, "")) + "</p>"


def page(title: str, body: str, *, generated: str) -> str:
    """The whole document around `body` (already escaped HTML)."""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="mlcycle {esc(__version__)}">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n"
        f"<footer>Made by mlcycle {esc(__version__)} on {esc(when(generated))}. A self-contained file: no scripts, "
        "and nothing is fetched from the network; the charts are drawn in the page.</footer>\n"
        "</main></body></html>\n"
    )


def write_atomic(text: str, out: str | os.PathLike[str]) -> Path:
    """Write `text` to `out` through a temporary file in the same folder and a rename."""
    from mlcycle_tui.storage.artifacts import fsync_dir

    path = Path(out).expanduser()
    if path.is_dir():
        raise UserError(f"--out {path} is a folder; give a file name such as {path / 'report.html'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write the report to {path.parent}: {exc.strerror}; choose another --out") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path
