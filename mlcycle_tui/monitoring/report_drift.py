"""The drift report page: the verdict first, then the few columns that matter, then the rest compactly.

Why this exists: a drift check of a 50-column table gives 50 statistics, and a
page with 50 charts of equal weight hides the two that matter. This page
leads with the verdict in words ("drift in 3 of 7 columns", or "cannot judge:
..."), then shows charts only for the columns that decide it: the drifted
ones, those the model relies on first (by the run's feature importances, when
it recorded some), then by how far past its threshold each moved. Every other
column is one row of a table. Pure functions from the stored report (and the
histograms the stage computed) to HTML; no database.
"""

from __future__ import annotations

import math
from typing import Any

from mlcycle_tui.monitoring import report_svg as svg
from mlcycle_tui.monitoring.report_html import (
    code,
    esc,
    kv_table,
    meta_line,
    num,
    pct,
    table,
    tag,
    verdict_box,
    when,
)

FEATURED_MAX = 6  # histograms for at most this many columns
FEATURED_MIN = 3  # ... and at least this many when there are that many judged columns
OVERVIEW_MAX = 15  # bars in the "how close to its threshold" chart
RELIED_SHARE = 0.10  # a column with at least this share of the importance is one "the model relies on"


def severity(col: dict[str, Any]) -> float | None:
    """How far a column moved, as a multiple of its threshold: 1 at the threshold, above 1 drifted.

    Distances: statistic / threshold. p-value tests (drift below the threshold):
    log(p) / log(alpha), so p = alpha gives 1 and smaller p-values larger numbers."""
    if col.get("verdict") not in ("drift", "ok"):
        return None
    stat, thr = col.get("statistic"), col.get("threshold")
    if not isinstance(stat, int | float) or not isinstance(thr, int | float):
        return None
    if col.get("score_type") == "p_value":
        if not 0 < thr < 1:
            return None
        return math.log(max(float(stat), 1e-300)) / math.log(thr)
    return float(stat) / thr if thr > 0 else None


def rank_columns(report: dict[str, Any], importances: dict[str, float] | None) -> tuple[list[dict], list[str]]:
    """(every column, ranked; the names of the featured columns).

    Drifted columns first: those the model relies on most first when importances are known, else by
    severity; then the judged ones by severity; then the columns that were not judged."""
    imp = importances or {}

    def key(col: dict[str, Any]) -> tuple[Any, ...]:
        sev = severity(col)
        judged = sev is not None
        return (not col.get("drifted"), not judged, -imp.get(col["column"], 0.0) if col.get("drifted") else 0.0,
                -(sev or 0.0))

    ranked = sorted(report.get("columns") or [], key=key)
    drifted = [c["column"] for c in ranked if c.get("drifted")]
    featured = drifted[:FEATURED_MAX]
    if len(featured) < FEATURED_MIN:
        rest = [c for c in ranked if not c.get("drifted") and severity(c) is not None]
        if imp:  # next: what the model relies on most, then the closest to its threshold
            rest.sort(key=lambda c: (-imp.get(c["column"], 0.0), -(severity(c) or 0.0)))
        featured += [c["column"] for c in rest[: FEATURED_MIN - len(featured)]]
    return ranked, featured


def relied_on(importances: dict[str, float] | None) -> set[str]:
    """Columns with at least RELIED_SHARE of the total (positive) importance."""
    if not importances:
        return set()
    total = sum(max(v, 0.0) for v in importances.values())
    return {k for k, v in importances.items() if total > 0 and max(v, 0.0) / total >= RELIED_SHARE}


def verdict(report: dict[str, Any], relied: set[str]) -> tuple[str, str, list[str]]:
    """(tone, headline, what-to-do lines as escaped HTML)."""
    model = f"{report['model']}@{report['version']}"
    lines: list[str] = []
    if not report.get("judged", True):
        reason = str(report.get("verdict_text") or "not enough data")
        head = f"Cannot judge: {reason}"
        lines.append(f"The check of {esc(model)} on {num(report.get('rows'))} rows ({esc(report.get('source'))}) "
                     "gives no drift verdict: the last judged check still stands and nothing was queued.")
        min_rows = (report.get("policy") or {}).get("min_rows")
        lines.append("Next: check a longer window (" + code("--window 7d") + ") or more predictions ("
                     + code("--last N") + "), give more rows with " + code("--current")
                     + f", or lower [policy] min_rows (now {esc(min_rows)}) in the workspace's config.toml.")
        return "warn", head, lines
    n, total = report.get("n_drifted", 0), report.get("n_columns", 0)
    parts = []
    if report.get("data_drift"):
        parts.append(f"Drift in {n} of {total} columns")
    elif n:
        parts.append(f"No dataset drift: {n} of {total} columns drifted")
    else:
        parts.append(f"No drift in {total} columns")
    if report.get("prediction_drift"):
        parts.append("the predictions drifted")
    perf = report.get("performance") or {}
    if report.get("decay"):
        parts.append(f"decay of {perf.get('metric', 'the metric')}")
    head = "; ".join(parts)
    share, limit = report.get("share_drifted"), report.get("drift_share")
    lines.append(f"{esc(model)} on {num(report.get('rows'))} rows ({esc(report.get('source'))}): {pct(share)} of "
                 f"the judged input columns drifted; the policy calls drift at {pct(limit)} of them, or when the "
                 "predictions drift.")
    mattering = [c for c in report.get("drifted_columns") or [] if c in relied]
    if mattering:
        lines.append("Drift in columns the model relies on: " + ", ".join(f"<b>{esc(c)}</b>" for c in mattering)
                     + ".")
    if report.get("decay") and perf:
        lines.append(f"Decay: {esc(perf.get('message'))}.")
    alarm = report.get("drift") or report.get("decay")
    if report.get("job_queued"):
        lines.append(f"Retraining job {esc(report['job_id'])} was queued: see "
                     + code(f"mlcycle jobs show {report['job_id']}") + ".")
    elif report.get("job_id") is not None:
        lines.append(f"Retraining job {esc(report['job_id'])} was already open.")
    elif alarm:
        lines.append("Next: look at the columns below; if the change is real, retrain on recent data. "
                     + code(f"mlcycle monitor check {report['model']}")
                     + " queues a retraining job when the policy says so (this check only recorded it).")
    elif n:
        lines.append("Next: nothing to do yet; keep an eye on the drifted columns below.")
    else:
        lines.append("Next: nothing to do; the model sees data like its training data.")
    tone = "bad" if alarm else ("warn" if n else "ok")
    return tone, head, lines


def _notes(col: dict[str, Any]) -> list[str]:
    notes = []
    if col.get("verdict") not in ("ok", "drift") and col.get("message"):
        notes.append(str(col["message"]))
    if col.get("missing_changed"):
        notes.append(f"missing {pct(col.get('missing_reference'))} → {pct(col.get('missing_current'))}")
    new = col.get("new_categories") or []
    if new:
        shown = ", ".join(map(str, new[:5])) + (" …" if len(new) > 5 else "")
        notes.append(f"{len(new)} new categor{'y' if len(new) == 1 else 'ies'}: {shown}")
    return notes


def _stat_text(col: dict[str, Any]) -> str:
    below = col.get("score_type") == "p_value"
    return f"{col.get('method')} {num(col.get('statistic'))} {'<' if below else '≥'} {num(col.get('threshold'))}" \
        if col.get("drifted") else f"{col.get('method')} {num(col.get('statistic'))} (threshold " \
        f"{num(col.get('threshold'))})"


def _card(col: dict[str, Any], hist: dict[str, Any] | None, importance: float | None, relied: bool,
          missing_chart: str | None) -> str:
    name = col["column"]
    tags = tag("drifted", "bad") if col.get("drifted") else tag("no drift", "ok")
    if relied:
        tags += tag("the model relies on it", "warn")
    facts = [esc(col.get("kind")), esc(_stat_text(col))]
    sev = severity(col)
    if sev is not None:
        facts.append(f"{sev:.2f}× its threshold")
    if importance is not None:
        facts.append(f"importance {num(importance, 3)}")
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in _notes(col))
    chart = svg.histogram(hist) if hist else f'<p class="note">{esc(missing_chart or "no chart")}</p>'
    cls = "card bad" if col.get("drifted") else "card"
    return (f'<div class="{cls}"><h3>{esc(name)}{tags}</h3><div class="facts">{" · ".join(facts)}</div>'
            f"{chart}{notes}</div>")


def _ratio_bar(sev: float | None, drifted: bool) -> str:
    if sev is None:
        return ""
    width = max(2, min(80, round(40 * sev)))
    return f'<span class="ratio{" bad" if drifted else ""}" style="width:{width}px"></span> {sev:.2f}×'


def page_body(report: dict[str, Any], *, histograms: dict[str, dict[str, Any]], importances: dict[str, float] | None,
              window_note: str | None, estimate_html: str = "") -> str:
    """The body of the drift report (the stage wraps it in `report_html.page`); `estimate_html` from
    `estimate_section`."""
    relied = relied_on(importances)
    tone, head, lines = verdict(report, relied)
    ranked, featured = rank_columns(report, importances)
    imp = importances or {}
    model = f"{report['model']}@{report['version']}"
    out = [f"<h1>Drift report · {esc(model)}</h1>",
           meta_line([("check", report.get("report_id")), ("checked", when(report.get("created"))),
                      ("current data", report.get("source")), ("rows", report.get("rows")),
                      ("method", report.get("method")), ("action", report.get("action"))]),
           verdict_box(tone, head, lines)]
    by_name = {c["column"]: c for c in ranked}
    if featured:
        title = "The columns that matter" if any(by_name[f].get("drifted") for f in featured) else \
            "The columns closest to drifting"
        out.append(f"<h2>{esc(title)}</h2>")
        out.append('<p class="note">Reference = the model\'s training rows; current = the data checked. '
                   "Shares of each side's non-missing values.</p>")
        out.append(svg.legend([(svg.REF, "reference (training)"), (svg.CUR, "current")]))
        out.append('<div class="cards">' + "".join(
            _card(by_name[f], histograms.get(f), imp.get(f), f in relied, window_note) for f in featured) + "</div>")
    pred = report.get("prediction")
    if pred:
        out.append("<h2>Predictions</h2>")
        out.append('<div class="cards">' + _card(pred, histograms.get("prediction"), None, False, window_note)
                   + "</div>")
    perf = report.get("performance")
    if perf:
        out.append(_performance(perf))
    out.append(estimate_html)
    judged = [c for c in ranked if severity(c) is not None]
    if judged:
        out.append("<h2>Every column against its threshold</h2>")
        items = [{"label": c["column"], "value": severity(c), "colour": svg.BAD if c.get("drifted") else svg.REF,
                  "title": f"{c['column']}: {_stat_text(c)}"} for c in judged[:OVERVIEW_MAX]]
        out.append(svg.hbars(items, marker=1.0, marker_label="threshold",
                             value_text=lambda i: f"{i['value']:.2f}×"))
        if len(judged) > OVERVIEW_MAX:
            out.append(f'<p class="note">The {OVERVIEW_MAX} columns nearest their thresholds; the table below '
                       f"has all {len(ranked)}.</p>")
    rows, classes = [], []
    for c in ranked:
        rows.append([esc(c["column"]), esc(c.get("kind")), esc(c.get("method")), num(c.get("statistic")),
                     num(c.get("threshold")), _ratio_bar(severity(c), bool(c.get("drifted"))),
                     num(imp.get(c["column"]), 3) if imp else "", "yes" if c.get("drifted") else "",
                     esc("; ".join(_notes(c)))])
        classes.append("bad" if c.get("drifted") else "")
    if rows:
        out.append("<h2>All columns</h2>")
        headers = ["column", "kind", "method", "statistic", "threshold", "× threshold",
                   "importance" if imp else "", "drifted", "notes"]
        out.append(table(headers, rows, numeric=(3, 4, 6), row_classes=classes))
    if importances is None:
        out.append('<p class="note">The run recorded no feature importances, so drifted columns are ranked by how '
                   "far past their threshold they moved.</p>")
    out.append(_how(report))
    return "\n".join(out)


PERFORMANCE_SHOWN = ("f1", "accuracy", "precision", "recall", "roc_auc", "rmse", "mae", "r2")


def _performance(perf: dict[str, Any]) -> str:
    """The metrics on the window's labelled rows (feedback, or the target column of the current data)."""
    metrics = perf.get("metrics") or {}
    shown = [perf.get("metric"), *[m for m in PERFORMANCE_SHOWN if m != perf.get("metric")]]
    pairs = [(m, num(metrics[m])) for m in shown if m in metrics]
    head = f"<h2>Performance on labelled rows{tag('decay', 'bad') if perf.get('decay') else ''}</h2>"
    return head + f"<p>{esc(perf.get('message'))}.</p>" + (kv_table(pairs) if pairs else "")


def _how(report: dict[str, Any]) -> str:
    pol = report.get("policy") or {}
    pairs = [("drift share", pct(pol.get("drift_share"))), ("persistence", f"{esc(pol.get('persistence_k'))} of the "
             f"last {esc(pol.get('persistence_m'))} checks"), ("decay margin", num(pol.get("decay_margin"))),
             ("minimum rows", num(pol.get("min_rows")))]
    return ("<h2>How this was judged</h2><p class=\"note\">Each column's distance (normalised Wasserstein for "
            "numbers, Jensen-Shannon for categories, unless another method was asked for) is compared with the "
            "larger of a fixed floor and the distance that pure sampling noise reaches 1% of the time at this "
            "window's size; p-value tests drift below their threshold. A changed missing share and new "
            "categories are shown but do not decide drift. The policy, from the workspace's config.toml:</p>"
            + kv_table(pairs))


def estimate_section(doc: dict[str, Any] | None, error: str | None) -> str:
    """Estimated performance per chunk (CBPE / DLE) with its band, the threshold and realized values."""
    if doc is None and error is None:
        return ""
    out = ["<h2>Estimated performance (no labels needed)</h2>"]
    if doc is None or not doc.get("judged"):
        reason = error or (doc or {}).get("reason") or "unknown"
        out.append(f'<p class="note">Cannot estimate: {esc(reason)}.</p>')
        return "\n".join(out)
    metric = doc["metric"]
    thr = (doc.get("thresholds") or {}).get(metric) or {}
    chunks = doc.get("chunks") or []
    x = [i + 1 for i in range(len(chunks))]
    est = [(x[i], c["estimated"]) for i, c in enumerate(chunks) if c.get("estimated") is not None]
    band = [(x[i], c["lower"], c["upper"]) for i, c in enumerate(chunks)
            if c.get("lower") is not None and c.get("upper") is not None]
    dots = [(x[i], c["estimated"], svg.BAD if c.get("alert") else svg.PALETTE[0]) for i, c in enumerate(chunks)
            if c.get("estimated") is not None]
    realized = [(x[i], c["realized"]) for i, c in enumerate(chunks) if c.get("realized") is not None]
    series = [{"name": f"estimated {metric}", "points": est, "band": band, "colour": svg.PALETTE[0], "dots": dots}]
    if realized:
        series.append({"name": f"realized {metric}", "points": realized, "colour": svg.OK, "dash": True,
                       "dots": [(a, b, svg.OK) for a, b in realized]})
    hline = (thr["value"], f"threshold {num(thr['value'], 3)}") if thr.get("value") is not None else None
    ticks = [(v, str(v)) for v in x] if len(x) <= 12 else None
    tone = "bad" if doc.get("alert") else "ok"
    out.append(f'<p><b>{esc(doc.get("verdict_text"))}</b> {tag(doc.get("method", ""), tone)}</p>')
    out.append(svg.line_chart(series, x_label="chunk", y_label=metric, hline=hline, width=720, height=260,
                              x_ticks=ticks, x_range=(0.5, len(x) + 0.5) if x else None,
                              label=f"estimated {metric} per chunk"))
    legend = [(svg.PALETTE[0], f"estimated {metric}, with its band"), (svg.BAD, "alert")]
    if realized:
        legend.append((svg.OK, "realized (labelled rows)"))
    out.append(svg.legend(legend))
    out.append(f'<p class="note">Band: {esc(doc.get("band"))}. Threshold: {esc(thr.get("text"))}.</p>')
    out.append(f'<p class="note"><b>Assumption:</b> {esc(doc.get("caveat"))}</p>')
    return "\n".join(out)
