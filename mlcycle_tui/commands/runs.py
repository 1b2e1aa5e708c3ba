"""`mlcycle runs ...` and `mlcycle experiments ...`: search, show and compare tracked runs."""

from __future__ import annotations

import argparse
import math
from typing import Any

from mlcycle_tui.commands.base import CliContext, table

FILTER_HELP = 'e.g. \'metrics.f1 > 0.8 and params.model = "rf"\' (and/or/not, parentheses, = != < <= > >= like)'


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    runs = sub.add_parser("runs", parents=[common], help="tracked runs: list, show, compare, reproduce")
    rsub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True,
                               parser_class=_sort_friendly(type(runs)))

    p = rsub.add_parser("list", parents=[common], help="runs, newest first, with filter and sort")
    p.add_argument("--experiment", "-e", help="only runs of this experiment")
    p.add_argument("--filter", "-f", metavar="EXPR", help=FILTER_HELP)
    p.add_argument("--sort", "-s", metavar="KEY", help="e.g. -metrics.f1 (descending), created, -duration")
    p.add_argument("--limit", "-n", type=int, default=50, help="at most this many runs (50)")
    p.add_argument("--offset", type=int, default=0, help="skip this many runs first")
    p.set_defaults(handler=cmd_list)

    p = rsub.add_parser("show", parents=[common], help="everything recorded about one run")
    p.add_argument("run", help="run id or a unique prefix of 6+ characters")
    p.set_defaults(handler=cmd_show)

    p = rsub.add_parser("compare", parents=[common], help="runs side by side; * marks rows that differ")
    p.add_argument("run", nargs="+", help="two or more run ids (or prefixes)")
    p.set_defaults(handler=cmd_compare)

    p = rsub.add_parser("reproduce", parents=[common], help="train again from a run's record and compare")
    p.add_argument("run", help="run id or a unique prefix of 6+ characters")
    p.set_defaults(handler=cmd_reproduce)

    exps = sub.add_parser("experiments", parents=[common], help="experiments and their runs")
    esub = exps.add_subparsers(dest="experiments_command", metavar="ACTION", required=True)
    p = esub.add_parser("list", parents=[common], help="experiments with run counts")
    p.set_defaults(handler=cmd_experiments)


def _sort_friendly(base: type[argparse.ArgumentParser]) -> type[argparse.ArgumentParser]:
    """A parser class that reads `--sort -metrics.f1` as a value, not as an unknown option."""
    from mlcycle_tui.experiments.search_expr import ATTRIBUTES

    heads = ("metrics.", "params.", "tags.", "metric.", "param.", "tag.")

    class SortFriendlyParser(base):  # type: ignore[misc, valid-type]
        def _parse_optional(self, arg_string: str) -> Any:
            key = arg_string[1:]
            if (arg_string.startswith("-") and arg_string not in self._option_string_actions
                    and (key.startswith(heads) or key.split(" ")[0] in ATTRIBUTES)):
                return None
            return super()._parse_optional(arg_string)

    return SortFriendlyParser


def _metrics_text(metrics: dict[str, Any], first: str | None = None, most: int = 4) -> str:
    keys = sorted(metrics, key=lambda k: (k != first, k))[:most]
    text = " ".join(f"{k}={_num(metrics[k])}" for k in keys)
    return text + (" ..." if len(metrics) > most else "")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def _sort_metric(sort: str | None) -> str | None:
    if sort and sort.lstrip("+-").startswith("metrics."):
        return sort.lstrip("+-").split(None, 1)[0][len("metrics."):]
    return None


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    rows = ws.runs.search(experiment=args.experiment, filter=args.filter, sort=args.sort,
                   limit=args.limit, offset=args.offset)
    if ctx.json:
        ctx.emit(rows)
        return 0
    first = _sort_metric(args.sort)
    shown = [
        {
            "run": r["run_id"][:12],
            "experiment": r["experiment"],
            "status": r["status"],
            "model": r["model"],
            "started": (r["created"] or "")[:19].replace("T", " "),
            "duration": f"{r['duration']:.1f}s" if r["duration"] is not None else None,
            "metrics": _metrics_text(r["metrics"], first),
        }
        for r in rows
    ]
    text = table(shown, ["run", "experiment", "status", "model", "started", "duration", "metrics"],
                 empty="no runs match" if args.filter else "no runs yet: train one with `mlcycle train`")
    if rows:
        total = ws.runs.count(experiment=args.experiment, filter=args.filter)
        text += f"\n{len(rows)} of {total} runs"
    ctx.emit(rows, text)
    return 0


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    run = ctx.ws().runs.get(args.run)
    if ctx.json:
        ctx.emit(run)
        return 0
    lines = [
        f"run {run['run_id']}" + (f" ({run['name']})" if run["name"] else ""),
        f"  experiment  {run['experiment']}",
        f"  status      {run['status']}" + (f": {run['error']}" if run["error"] else ""),
        f"  started     {run['created']}   ended {run['ended'] or '-'}   duration "
        + (f"{run['duration']:.2f}s" if run["duration"] is not None else "-"),
        f"  dataset     {run['dataset'] or '-'}   split {run['split_id'] or '-'}   seed {_num(run['seed'])}",
        f"  model       {run['model'] or '-'}   task {run['task'] or '-'}",
        f"  git commit  {run['git_commit'] or '-'}   host {run['hostname'] or '-'} pid {run['pid'] or '-'}",
        "  versions    " + " ".join(f"{k} {v}" for k, v in run["versions"].items() if v),
    ]
    for section in ("params", "metrics", "tags"):
        if run[section]:
            lines.append(f"{section}:")
            for key, value in run[section].items():
                step = run["metric_steps"].get(key) if section == "metrics" else None
                lines.append(f"  {key:<24} {_num(value)}" + (f"   (step {step})" if step else ""))
    if run["artifacts"]:
        lines.append("artifacts:")
        lines += [f"  {a['name']:<24} {a['kind']:<6} {a['size']} bytes  sha256 {a['sha256'][:12]}"
                  for a in run["artifacts"]]
    ctx.emit(run, "\n".join(lines))
    return 0


def cmd_compare(args: argparse.Namespace, ctx: CliContext) -> int:
    if len(args.run) < 2:
        from mlcycle_tui.common.errors import UserError

        raise UserError("compare needs two or more runs: mlcycle runs compare RUN RUN ...")
    result = ctx.ws().runs.compare(args.run)
    if ctx.json:
        ctx.emit(result)
        return 0
    heads = [r["run_id"][:12] for r in result["runs"]]
    heads = [h if heads.count(h) == 1 else f"{h}#{i + 1}" for i, h in enumerate(heads)]
    differ = set(result["differences"])
    rows = []
    for section in ("attributes", "params", "metrics", "tags"):
        for key, values in result[section].items():
            label = key if section == "attributes" else f"{section}.{key}"
            row = {"": "*" if label in differ else "", "key": label}
            row.update({h: _num(v) for h, v in zip(heads, values, strict=True)})
            rows.append(row)
    text = table(rows, ["", "key", *heads], keep_case=set(heads))
    text += f"\n{len(differ)} of {len(rows)} rows differ (marked *)"
    text = "".join(f"warning: {w}\n" for w in result["warnings"]) + text
    ctx.emit(result, text)
    return 0


def cmd_reproduce(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().training.reproduce(args.run, progress=ctx.progress("reproduce"))
    same = result["same_metrics"] and result["same_predictions"]
    lines = [f"new run {result['run_id']} reproduces {result['original']}: "
             + ("same metrics and same predictions" if same else "DIFFERENT results")]
    for key, (old, new) in result["metric_differences"].items():
        lines.append(f"  {key}: {old} -> {new}")
    if not result["same_predictions"]:
        lines.append("  predictions differ (a non-deterministic estimator, or the data or libraries changed)")
    ctx.emit(result, "\n".join(lines))
    return 0 if same else 1


def cmd_experiments(args: argparse.Namespace, ctx: CliContext) -> int:
    rows = ctx.ws().runs.experiments()
    ctx.emit(rows, table(rows, ["name", "runs", "last_run", "created"],
                         empty="no experiments yet: runs create them (`mlcycle train ... --experiment E`)"))
    return 0
