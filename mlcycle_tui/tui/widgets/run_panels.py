"""Texts of the Experiments and Models panels: run details, gate verdicts, alias history.

Why this exists: the screens show what the Workspace returns (a run document,
a gate verdict, an alias history) as short markup texts. Building them here,
as pure functions, keeps the screen files about layout and actions and makes
the wording testable without an app. User values are escaped: a tag or param
containing `[` must never be read as markup.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.markup import escape

from mlcycle_tui.tui.format import ago, number

# the runs table's second metric column, (classification, regression) metric; the first is the
# run's primary metric, which the core decides (evaluation.primary_metric_of)
SECOND_METRIC: tuple[str, str] = ("accuracy", "r2")
BASELINE_PREFIX = "baseline_"
NO_VERSION = "(none)"
"""What an alias pointed at before its first move, as the registry's own events say it."""


def short_id(run_id: str) -> str:
    return run_id[:8]


def duration(seconds: float | None) -> str:
    """A run's duration: "0.4 s", "12 s", "3 min 5 s", "2 h 4 min"."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def metric_value(value: Any) -> str:
    """A metric in a table cell: 3 decimals for the usual 0..1000 range, else compact."""
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1000:
        return f"{value:.3f}"
    return number(value)


def run_metric(run: dict[str, Any], column: int) -> str:
    """The run's value for a metric column: 0 its primary metric, 1 accuracy or r2 by its task."""
    from mlcycle_tui.experiments import evaluation  # numpy and pandas: not when the TUI starts

    metrics = run.get("metrics") or {}
    if column == 0:  # the run's primary metric: named when the run chose another than its task's default
        metric = evaluation.primary_metric_of(run)
        task = evaluation.task_of(run)
        shown = metric_value(metrics.get(metric))
        return shown if task is None or metric == evaluation.primary_metric(task) else f"{shown} {metric}"
    cls_key, reg_key = SECOND_METRIC
    if evaluation.task_of(run) == "regression" or (cls_key not in metrics and reg_key in metrics):
        return metric_value(metrics.get(reg_key))
    return metric_value(metrics.get(cls_key))


def _pairs(values: dict[str, Any], width: int = 22) -> list[str]:
    return [f"  {escape(str(k)):<{width}} {escape(number(v) if isinstance(v, float) else str(v))}"
            for k, v in values.items()]


def run_summary_text(run: dict[str, Any]) -> str:
    """The run's identity, lineage and metrics (with the baseline's value next to each)."""
    status = run.get("status", "?")
    colour = {"finished": "green", "failed": "red", "killed": "red", "running": "yellow"}.get(status, "")
    status_text = f"[{colour}]{status}[/]" if colour else escape(status)
    lines = [
        f"[b]run {short_id(run['run_id'])}[/b]  {status_text}"
        f"  experiment [b]{escape(run.get('experiment') or '-')}[/b]",
        f"model {escape(str(run.get('model') or '-'))} · task {escape(str(run.get('task') or '-'))}"
        f" · dataset {escape(str(run.get('dataset') or '-'))} · split {escape(str(run.get('split_id') or '-'))}"
        f" · seed {run.get('seed') if run.get('seed') is not None else '-'}",
        f"created {ago(run.get('created'))} · took {duration(run.get('duration'))}",
    ]
    if run.get("error"):
        lines.append(f"[red]error:[/red] {escape(str(run['error']))}")
    metrics = run.get("metrics") or {}
    own = {k: v for k, v in metrics.items() if not k.startswith(BASELINE_PREFIX)}
    lines.append("")
    lines.append("[b]Metrics[/b]" + ("  [dim](baseline in brackets)[/dim]" if len(own) < len(metrics) else ""))
    for key, value in own.items():
        base = metrics.get(BASELINE_PREFIX + key)
        extra = f"  [dim]({number(base)})[/dim]" if base is not None else ""
        lines.append(f"  {escape(key):<22} {metric_value(value)}{extra}")
    if not own:
        lines.append("  [dim]none logged[/dim]")
    return "\n".join(lines)


def run_inputs_text(run: dict[str, Any]) -> str:
    """The run's params, tags, library versions and artifacts."""
    lines = ["[b]Params[/b]", *(_pairs(run.get("params") or {}) or ["  [dim]none[/dim]"])]
    lines += ["", "[b]Tags[/b]", *(_pairs(run.get("tags") or {}) or ["  [dim]none[/dim]"])]
    versions = run.get("versions") or {}
    if versions:
        lines += ["", "[b]Versions[/b]", "  " + escape(" · ".join(f"{k} {v}" for k, v in versions.items() if v))]
    if run.get("git_commit"):
        lines.append(f"  git {escape(str(run['git_commit'])[:12])}")
    artifacts = run.get("artifacts") or []
    if artifacts:
        lines += ["", "[b]Artifacts[/b]", "  " + escape(", ".join(a["name"] for a in artifacts))]
    return "\n".join(lines)


def stepped_metrics(run: dict[str, Any]) -> list[str]:
    """Metrics of a run with more than one step (plottable as a curve), cv_score first."""
    steps = run.get("metric_steps") or {}
    keys = sorted(k for k, s in steps.items() if (s or 0) > 0)
    return sorted(keys, key=lambda k: k != "cv_score")


def gate_text(verdict: dict[str, Any] | None, ref: str) -> str:
    """PASS/FAIL and the reason of every gate for `ref`."""
    if verdict is None:
        return f"Checking the promotion gates of {escape(ref)}…"
    head = "[b green]PASS[/]" if verdict.get("passed") else "[b red]FAIL[/]"
    champion = verdict.get("champion")
    if champion is None:
        against = " (no production version yet)"
    elif ref.endswith(f"@{champion}"):
        against = " (it is the production version)"
    else:
        against = f" against production v{champion}"
    lines = [f"{head}  gates for {escape(ref)}{against}"]
    for check in verdict.get("checks") or []:
        mark = "[green]✔[/]" if check.get("passed") else "[red]✘[/]"
        lines.append(f" {mark} {escape(str(check.get('reason', '')))}")
    if not verdict.get("checks"):
        lines.extend(f" · {escape(str(r))}" for r in verdict.get("reasons") or ["no gate applies"])
    return "\n".join(lines)


def alias_history_text(history: list[dict[str, Any]]) -> str:
    """Newest first: when, which alias moved from which version to which, by whom, forced or not."""
    if not history:
        return "[dim]No alias has moved yet — promote a version with p.[/dim]"
    lines = []
    for h in history:
        before = f"v{h['previous']}" if h.get("previous") is not None else NO_VERSION
        after = f"v{h['version']}" if h.get("version") is not None else "removed"
        forced = "  [red]forced past the gates[/red]" if h.get("forced") else ""
        actor = f" by {escape(str(h['actor']))}" if h.get("actor") else ""
        lines.append(f"{ago(h.get('time'))}: {escape(str(h['alias']))} {before} → {after}{actor}{forced}")
    return "\n".join(lines)


def residual_text(metrics: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    """A regressor's evaluation: headline metrics against the baseline and the residual spread."""
    lines = ["[b]Regression metrics[/b] [dim](baseline in brackets)[/dim]"]
    for key in ("rmse", "mae", "r2", "mape", "rows"):
        if key in metrics:
            base = (baseline or {}).get(key)
            extra = f"  [dim]({number(base)})[/dim]" if base is not None else ""
            lines.append(f"  {key:<8} {number(metrics[key])}{extra}")
    res = metrics.get("residuals") or {}
    if res:
        lines += [
            "",
            "[b]Residuals[/b] (true − predicted)",
            f"  mean {number(res.get('mean'))} · std {number(res.get('std'))}",
            f"  p5 {number(res.get('p5'))} · median {number(res.get('p50'))} · p95 {number(res.get('p95'))}",
        ]
    return "\n".join(lines)


def compare_value(value: Any) -> str:
    """One cell of the comparison table."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


BAR_WIDTH = 28


def _bar(value: float | None, top: float) -> str:
    if value is None or top <= 0:
        return ""
    cells = max(0.0, min(1.0, value / top)) * BAR_WIDTH
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")


def bar_chart(title: str, items: list[tuple[str, float | None, str]]) -> Text:
    """A horizontal bar per (label, value, note), scaled to the largest value: a chart that fits a terminal."""
    out = Text(title + "\n", style="bold")
    top = max((abs(v) for _, v, _ in items if v is not None), default=0.0)
    width = min(24, max((len(label) for label, _, _ in items), default=4))
    for label, value, note in items:
        shown = label if len(label) <= width else label[: width - 1] + "…"
        out.append(f"  {shown:<{width}} ")
        out.append(_bar(abs(value) if value is not None else None, top).ljust(BAR_WIDTH), style="cyan")
        out.append(f" {metric_value(value) if value is not None else '-'}")
        if note:
            out.append(f"  {note}", style="dim")
        out.append("\n")
    return out


def groups_text(result: dict[str, Any], explained: dict[str, Any]) -> Text:
    """Per-slice metrics, fairness per group and permutation importances of one run, as bar charts."""
    from mlcycle_tui.experiments.evaluation import primary_metric_of  # numpy and pandas: not at startup

    out = Text()
    metric = result.get("primary_metric") or primary_metric_of(result)
    importances = explained.get("importances") or []
    if importances:
        out.append(bar_chart(f"What it relies on: the drop of {explained.get('metric')} when a column is shuffled",
                             [(r["feature"], r["importance"], f"± {number(r['std'])}") for r in importances[:10]]))
        out.append("\n")
    slices = result.get("slices") or {}
    if slices:
        out.append(bar_chart(f"{metric} per slice of {result.get('slice_column') or 'the column'}",
                             [(str(k), v.get(metric), f"{v.get('rows')} rows") for k, v in slices.items()]))
        out.append("\n")
    fair = result.get("fairness")
    if fair:
        groups = fair.get("groups") or {}
        for rate in ("selection_rate", "tpr", "fpr"):
            out.append(bar_chart(f"{rate} per group (positive: {fair.get('positive_label')})",
                                 [(str(g), v.get(rate), f"{v.get('rows')} rows") for g, v in groups.items()]))
        gaps, ratios = fair.get("gaps") or {}, fair.get("ratios") or {}
        out.append("gaps (max - min): " + ", ".join(f"{k} {number(v)}" for k, v in gaps.items()) + "\n")
        ratio = ratios.get("selection_rate")
        if ratio is not None:
            verdict = "below the four-fifths bar" if ratio < 0.8 else "meets the four-fifths bar"
            out.append(f"selection-rate ratio {number(ratio)}: {verdict}\n",
                       style="red" if ratio < 0.8 else "green")
    if not (importances or slices or fair):
        out.append("nothing to show: choose a slice or a sensitive column (X)")
    return out
