"""`mlcycle data ...`: ingest, list, show, validate and split dataset versions; list a SQLite file's tables."""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext, CliExit, table
from mlcycle_tui.commands.sources import register_source


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    data = sub.add_parser("data", parents=[common], help="datasets: ingest, show, validate, split, sources")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = dsub.add_parser("ingest", parents=[common], help="import a file as a dataset version")
    p.add_argument("path", help="CSV, Parquet, JSON lines or SQLite file")
    p.add_argument("--name", "-n", required=True, help="dataset name")
    p.add_argument("--target", help="the column to predict")
    p.add_argument("--time-column", help="a date/time column (for time splits and drift windows)")
    p.add_argument("--format", choices=["csv", "parquet", "jsonl", "sqlite"], help="override detection")
    p.add_argument("--table", help="table to read from a SQLite file (list them: `mlcycle data tables FILE`)")
    p.set_defaults(handler=cmd_ingest)

    p = dsub.add_parser("tables", parents=[common], help="tables and views of a SQLite file (for --table)")
    p.add_argument("path", help="SQLite file (.sqlite, .sqlite3, .db)")
    p.set_defaults(handler=cmd_tables)

    p = dsub.add_parser("list", parents=[common], help="datasets with their latest version")
    p.set_defaults(handler=cmd_list)

    p = dsub.add_parser("versions", parents=[common], help="every version of one dataset")
    p.add_argument("name", help="dataset name")
    p.set_defaults(handler=cmd_versions)

    p = dsub.add_parser("show", parents=[common], help="schema and profile of a version")
    p.add_argument("ref", help="NAME or NAME@VERSION")
    p.set_defaults(handler=cmd_show)

    p = dsub.add_parser("validate", parents=[common], help="quality and schema checks (exit 1 on errors)")
    p.add_argument("ref", help="NAME (latest version) or NAME@VERSION")
    p.add_argument("--reference", help="compare the schema and ranges with this version")
    p.set_defaults(handler=cmd_validate)

    p = dsub.add_parser("split", parents=[common], help="record a reproducible train/test split")
    p.add_argument("ref", help="NAME (latest version) or NAME@VERSION")
    p.add_argument("--test-size", type=float, default=0.2, help="share of rows for testing (0.2)")
    p.add_argument("--stratify", action="store_true", help="keep class shares equal (classification)")
    p.add_argument("--time-column", help="earlier rows train, later rows test")
    p.add_argument("--seed", type=int, default=42, help="random seed of the split")
    p.set_defaults(handler=cmd_split)

    p = dsub.add_parser("splits", parents=[common], help="recorded splits (of one dataset)")
    p.add_argument("ref", nargs="?", help="only the splits of this dataset (NAME or NAME@VERSION)")
    p.set_defaults(handler=cmd_splits)
    register_source(dsub, common)


def cmd_ingest(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    ds = ws.data.ingest(
        args.path,
        args.name,
        target=args.target,
        time_column=args.time_column,
        format=args.format,
        table=args.table,
        progress=ctx.progress(f"ingest {args.name}"),
    )
    verb = "unchanged: same content as" if ds.existing else "created"
    ctx.emit(ds.summary(), f"{verb} {ds.ref} ({ds.rows} rows x {ds.columns} columns, sha256 {ds.sha256[:12]})")
    return 0


def cmd_tables(args: argparse.Namespace, ctx: CliContext) -> int:
    import shlex

    found = ctx.ws().data.sqlite_tables(args.path)
    rows = [{**t, "rows": "?" if t["rows"] is None else t["rows"], "columns": ", ".join(t["columns"])}
            for t in found]
    human = table(rows, ["name", "kind", "rows", "columns"],
                  empty=f"{args.path} holds no tables or views; nothing to ingest from it")
    if any(t["rows"] is None for t in found):
        human += "\n? = SQLite could not read that view (does it use a table that was dropped?)"
    if len(found) > 1:
        human += f"\nimport one with `mlcycle data ingest {shlex.quote(args.path)} --table NAME --name DATASET`"
    ctx.emit(found, human)
    return 0


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    rows = [d.summary() for d in ctx.ws().data.datasets()]
    ctx.emit(
        rows,
        table(rows, ["name", "version", "rows", "columns", "target", "created"],
              empty="no datasets yet: import one with `mlcycle data ingest PATH --name NAME`"),
    )
    return 0


def cmd_versions(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    ws.data.dataset(args.name)  # a clear error when unknown
    rows = [d.summary() for d in ws.data.versions(args.name)]
    ctx.emit(rows, table(rows, ["name", "version", "rows", "columns", "sha256", "created"]))
    return 0


SHOW_CELL_MAX = 80  # characters of one cell of `data show`'s table (the JSON stays whole)


def _cut(value: Any, limit: int = SHOW_CELL_MAX) -> str:
    """`value` as one line of at most `limit` characters, an ellipsis marking a cut."""
    text = " ".join(str(value).splitlines()) if value is not None else "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    ds = ctx.ws().data.dataset(args.ref)
    doc = ds.describe()
    cols = []
    for c in doc["columns"]:
        stats = ""
        if c.get("mean") is not None:
            stats = f"min {c['min']:.4g}  mean {c['mean']:.4g}  max {c['max']:.4g}"
        elif c.get("top"):
            stats = "top: " + ", ".join(f"{_cut(t['value'], 24)} ({t['count']})" for t in c["top"][:3])
        elif c.get("min") is not None:
            stats = f"{_cut(c['min'], 36)} .. {_cut(c['max'], 36)}"
        row = {**c, "missing": f"{c['missing']} ({c['missing_share']:.0%})", "stats": stats,
               "unique": f"≈{c['unique']}" if c.get("distinct_approximate") else c["unique"]}  # an estimate
        cols.append({k: _cut(row.get(k)) for k in ("name", "dtype", "kind", "missing", "unique", "stats")})
    head = (
        f"{ds.ref}: {ds.rows} rows x {ds.columns} columns, target {_cut(ds.target or '-')}, "
        f"time column {_cut(ds.time_column or '-')}\n"
    )
    ctx.emit(doc, head + table(cols, ["name", "dtype", "kind", "missing", "unique", "stats"]))
    return 0


def cmd_validate(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().data.validate(args.ref, reference=args.reference)
    lines = [f"{'OK' if result['ok'] else 'FAILED'}: {result['dataset']}"]
    lines += [f"error   {i['column'] or '-':<20} {i['message']}" for i in result["errors"]]
    lines += [f"warning {i['column'] or '-':<20} {i['message']}" for i in result["warnings"]]
    if not result["errors"] and not result["warnings"]:
        lines.append("no problems found")
    ctx.emit(result, "\n".join(lines))
    if not result["ok"]:
        raise CliExit(1)
    return 0


def cmd_split(args: argparse.Namespace, ctx: CliContext) -> int:
    sp = ctx.ws().splits.create(
        args.ref,
        test_size=args.test_size,
        stratify=args.stratify,
        time_column=args.time_column,
        seed=args.seed,
    )
    doc = sp.summary()
    verb = "existing" if sp.existing else "new"
    ctx.emit(
        doc,
        f"{verb} {sp.method} split {sp.split_id} of {sp.dataset}: "
        f"{sp.train_rows} train rows, {sp.test_rows} test rows",
    )
    return 0


def cmd_splits(args: argparse.Namespace, ctx: CliContext) -> int:
    rows = [s.summary() for s in ctx.ws().splits.list(args.ref)]
    ctx.emit(rows, table(rows, ["split_id", "dataset", "method", "test_size", "seed", "train_rows", "test_rows"]))
    return 0
