"""`mlcycle models ...`: the catalog of model kinds and the model registry."""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext, table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    models = sub.add_parser("models", parents=[common], help="model kinds and the registry")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    p = msub.add_parser("catalog", parents=[common], help="model kinds that `train` accepts")
    p.add_argument("--task", choices=["classification", "regression"], help="only the kinds for this task")
    p.set_defaults(handler=cmd_catalog)

    p = msub.add_parser("register", parents=[common], help="a new model version from a run")
    p.add_argument("run", help="run id (or a unique prefix of 6+ characters)")
    p.add_argument("--name", "-n", required=True, help="model name (a new one, or a new version of it)")
    p.set_defaults(handler=cmd_register)

    p = msub.add_parser("list", parents=[common], help="registered model versions")
    p.set_defaults(handler=cmd_list)

    p = msub.add_parser("show", parents=[common], help="versions, aliases and history of a model")
    p.add_argument("name", help="model name")
    p.set_defaults(handler=cmd_show)

    p = msub.add_parser("promote", parents=[common], help="move an alias (default production) to a version")
    p.add_argument("name", help="model name")
    p.add_argument("version", help="the version to move the alias to")
    p.add_argument("--alias", default="production", help="the alias to move")
    p.add_argument("--force", action="store_true", help="override failed gates (recorded)")
    p.set_defaults(handler=cmd_promote)

    p = msub.add_parser("rollback", parents=[common], help="move an alias back to its previous version")
    p.add_argument("name", help="model name")
    p.add_argument("--alias", default="production", help="the alias to move back")
    p.set_defaults(handler=cmd_rollback)

    p = msub.add_parser("gates", parents=[common], help="would a version pass the promotion gates?")
    p.add_argument("ref", help="NAME@VERSION")
    p.set_defaults(handler=cmd_gates)


def cmd_catalog(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.experiments.catalog import catalog

    entries = catalog(args.task)
    rows = [{"kind": e["kind"], "task": e["task"], "estimator": e["estimator"].rsplit(".", 1)[-1],
             "searchable": ", ".join(e["search_space"].get("grid", {}))} for e in entries]
    ctx.emit(entries, table(rows, ["kind", "task", "estimator", "searchable"]))
    return 0


def cmd_register(args: argparse.Namespace, ctx: CliContext) -> int:
    mv = ctx.ws().registry.register(args.run, args.name)
    ctx.emit({"name": mv.name, "version": mv.version, "run_id": mv.run_id, **mv.summary()},
             f"registered {mv.ref} from run {mv.run_id[:12]}; promote it: mlcycle models promote {mv.name} "
             f"{mv.version}")
    return 0


def _rows(versions: list[Any]) -> list[dict[str, Any]]:
    from mlcycle_tui.experiments.evaluation import primary_metric_of

    rows = []
    for mv in versions:
        metric = primary_metric_of(mv)  # the run's --metric, else f1 or rmse
        rows.append({**mv.summary(), "metric": metric, "value": mv.metrics.get(metric),
                     "aliases": ",".join(mv.aliases) or "-"})
    return rows


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    versions = ctx.ws().registry.model_versions()
    ctx.emit([v.summary() for v in versions],
             table(_rows(versions), ["name", "version", "aliases", "kind", "task", "metric", "value", "run_id"],
                   empty="no models yet: train a run, then `mlcycle models register RUN --name NAME`"))
    return 0


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    versions = ws.registry.model_versions(args.name)
    history = ws.registry.alias_history(args.name)
    compiled = ws.registry.compiled_versions(args.name)
    doc = [v.summary() | {"signature": v.signature, "baseline": v.baseline, "compiled": compiled.get(v.version)}
           for v in versions]
    rows = [r | {"compiled": {True: "yes", False: "no"}.get(compiled.get(r["version"]), "-")} for r in _rows(versions)]
    human = table(rows, ["version", "aliases", "kind", "metric", "value", "compiled", "dataset", "created"])
    human += ("\n\ncompiled yes: `mlcycle predict` and `mlcycle serve` score it with NumPy alone (the same "
              "answers, no scikit-learn start-up); no: with scikit-learn; -: not tried yet (the next predict tries)")
    if history:
        human += "\n\nalias history\n" + table(history, ["time", "alias", "version", "previous", "forced", "actor"])
    ctx.emit(doc, human)
    return 0


def cmd_promote(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().registry.promote(args.name, args.version, args.alias, force=args.force)
    note = " (forced past failed gates)" if result["forced"] else ""
    ctx.emit(result, f"{args.name}@{args.alias}: {_version_text(result['previous'])} -> v{result['version']}{note}")
    return 0


def cmd_rollback(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().registry.rollback(args.name, args.alias)
    ctx.emit(result, f"{args.name}@{args.alias} rolled back: v{result['previous']} -> v{result['version']}")
    return 0


def cmd_gates(args: argparse.Namespace, ctx: CliContext) -> int:
    verdict = ctx.ws().registry.gate_check(args.ref)
    champion = verdict.get("champion")
    against = (" (no production version yet)" if champion is None
               else " (it is the production version)" if str(args.ref).endswith(f"@{champion}")
               else f" against production v{champion}")
    lines = [("PASS" if verdict["passed"] else "FAIL") + f"  gates for {args.ref}{against}"]
    lines += [f" {'✔' if c['passed'] else '✘'} {c['reason']}" for c in verdict["checks"]]
    if not verdict["checks"]:
        lines += [f" · {r}" for r in verdict["reasons"]]
    human = "\n".join(lines)
    ctx.emit(verdict, human)
    return 0 if verdict["passed"] else 1


def _version_text(version: int | None) -> str:
    return "(none)" if version is None else f"v{version}"
