"""Text of the Data screen's side panels: version facts, validation results, splits.

Why this exists: these are pure functions from Workspace results to Textual
markup, so the screen stays about layout and events, and the wording can be
tested without running the app.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from textual.markup import escape

from mlcycle_tui.tui.format import ago, plural, share

if TYPE_CHECKING:
    from mlcycle_tui.data.splits import Split
    from mlcycle_tui.data.versions import DatasetVersion


def version_facts(ds: DatasetVersion) -> str:
    """One or two lines: ref, size, target, time column, source file, duplicates."""
    parts = [f"[b]{escape(ds.ref)}[/b]", f"{plural(ds.rows, 'row')} × {plural(ds.columns, 'column')}"]
    parts.append(f"target [b]{escape(ds.target)}[/b]" if ds.target else "[dim]no target[/dim]")
    if ds.time_column:
        parts.append(f"time [b]{escape(ds.time_column)}[/b]")
    source = ds.source if ds.source.startswith("<") else PurePath(ds.source).name
    parts.append(f"from {escape(source)}")
    dupes = ds.profile.get("duplicate_rows", 0)
    if dupes:
        parts.append(f"[$warning]{plural(dupes, 'duplicate row')}[/]")
    return " · ".join(parts)


def validation_text(result: dict[str, Any]) -> str:
    """The verdict, then every error and warning with its column."""
    against = f" against {escape(result['reference'])}" if result.get("reference") else ""
    errors, warnings = result["errors"], result["warnings"]
    if result["ok"] and not warnings:
        head = f"[$success]✔ {escape(result['dataset'])} passed every check{against}.[/]"
    elif result["ok"]:
        head = f"[$success]✔ {escape(result['dataset'])} passed{against}[/] with {plural(len(warnings), 'warning')}."
    else:
        head = (
            f"[$error]✘ {escape(result['dataset'])} failed{against}:[/] "
            f"{plural(len(errors), 'error')}, {plural(len(warnings), 'warning')}."
        )
    lines = [head]
    for issue in errors:
        lines.append(_issue_line("[$error]error[/]  ", issue))
    for issue in warnings:
        lines.append(_issue_line("[$warning]warning[/]", issue))
    return "\n".join(lines)


def _issue_line(label: str, issue: dict[str, Any]) -> str:
    column = f"[b]{escape(issue['column'])}[/b]: " if issue.get("column") else ""
    return f"{label} {column}{escape(issue['message'])} [dim]({escape(issue['code'])})[/dim]"


def splits_text(ref: str, splits: list[Split]) -> str:
    """The recorded splits of one version, newest first."""
    if not splits:
        return f"No splits of {escape(ref)} yet — press [b]t[/b] to make one."
    lines = [f"Splits of [b]{escape(ref)}[/b] (newest first):"]
    for sp in splits:
        detail = sp.method
        if sp.method == "stratified":
            detail += f" on {escape(sp.stratify_column or '')}"
        if sp.method == "time":
            detail += f" by {escape(sp.time_column or '')}"
        if sp.seed is not None:
            detail += f", seed {sp.seed}"
        lines.append(
            f"[b]{sp.split_id}[/b]  {sp.train_rows:,} train / {sp.test_rows:,} test "
            f"({share(sp.test_size)} test, {detail}) [dim]{ago(sp.created)}[/dim]"
        )
    return "\n".join(lines)


def column_text(col: dict[str, Any]) -> str:
    """One profiled column in full (Enter on the profile table): kind, missing, range, quantiles, top values."""
    from mlcycle_tui.tui.format import number

    name, kind, dtype = (escape(str(col.get(k))) for k in ("name", "kind", "dtype"))
    lines = [f"[b]{name}[/b] · {kind} · dtype {dtype}",
             f"missing {col.get('missing', 0):,} ({share(col.get('missing_share'))}) · "
             f"unique {number(col.get('unique'))}"]
    if col.get("mean") is not None:
        lines.append(f"min {number(col.get('min'))} · max {number(col.get('max'))} · mean {number(col.get('mean'))}"
                     f" · std {number(col.get('std'))}")
        quantiles = col.get("quantiles") or {}
        if quantiles:
            lines.append("quantiles " + " · ".join(f"{escape(k)} {number(v)}" for k, v in quantiles.items()))
    elif col.get("kind") == "datetime":
        lines.append(f"from {escape(str(col.get('min')))} to {escape(str(col.get('max')))}")
    top = col.get("top") or []
    if top:
        lines.append("")
        lines.append("[b]Most frequent values[/b]")
        lines.extend(f"  {escape(str(t['value']))}  {t['count']:,}" for t in top)
    return "\n".join(lines)
