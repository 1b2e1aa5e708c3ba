"""The evaluation report and the model card: pages from what the evaluation and registry stages return.

Why this exists: "is this model good enough, and for whom?" is answered by the
metrics against the dummy baseline, the confusion matrix, the ROC and
precision-recall curves, the metrics per slice and the fairness gaps between
groups; a model card adds where the model came from (data version, recipe,
run, gates, alias history) so a reader can trust or question it. Pure
functions from those results to HTML; no database.
"""

from __future__ import annotations

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

HEADLINE_METRICS = {
    "classification": ("f1", "accuracy", "balanced_accuracy", "precision", "recall", "roc_auc"),
    "regression": ("rmse", "mae", "r2", "median_ae"),
}
FAIRNESS_GAP = 0.1  # a gap in selection rate, TPR or FPR above this is flagged
FOUR_FIFTHS = 0.8  # the disparate-impact ratio below which selection rates are flagged
SCHEMA_OPEN_MAX = 20  # a schema with more columns is folded (<details>) under a line of counts
LOWER = frozenset({"mae", "mse", "rmse", "mape", "median_ae", "max_error", "log_loss", "brier"})


def _better(metric: str, a: float | None, b: float | None) -> bool | None:
    if a is None or b is None:
        return None
    return a < b if metric in LOWER else a > b


def evaluation_verdict(result: dict[str, Any], subject: str) -> tuple[str, str, list[str]]:
    metric = result["primary_metric"]
    value, base = result["metrics"].get(metric), (result.get("baseline") or {}).get(metric)
    beats = _better(metric, value, base)
    head = f"{metric} {num(value)} on {num(result['metrics'].get('rows'))} rows"
    lines = [f"{esc(subject)} evaluated on {esc(result['data'])}; the dummy baseline scores {num(base)}."]
    if beats is False:
        lines.append("The model does not beat the baseline on its primary metric: look at the data and the "
                     "recipe before promoting it.")
    fair = result.get("fairness")
    flagged = _fairness_flags(fair) if fair else []
    if flagged:
        lines.append("Fairness: " + esc("; ".join(flagged)) + ".")
    tone = "bad" if beats is False else ("warn" if flagged else "ok")
    return tone, head, lines


def _fairness_flags(fair: dict[str, Any]) -> list[str]:
    flags = []
    for metric, gap in (fair.get("gaps") or {}).items():
        if gap is not None and gap > FAIRNESS_GAP:
            flags.append(f"{metric.replace('_', ' ')} differs by {gap:.2f} between groups")
    ratio = (fair.get("ratios") or {}).get("selection_rate")
    if ratio is not None and ratio < FOUR_FIFTHS:
        flags.append(f"selection-rate ratio {ratio:.2f} is under the four-fifths bar")
    return flags


def metrics_section(result: dict[str, Any]) -> str:
    """Metrics against the baseline (table and bars), the confusion matrix, ROC and PR curves."""
    task, metrics, base = result["task"], result["metrics"], result.get("baseline") or {}
    primary = result["primary_metric"]
    headline = [primary, *[m for m in HEADLINE_METRICS.get(task, ()) if m != primary]]
    names = headline + [k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
                        and k not in headline and k != "rows"]
    rows, classes, extra = [], [], []
    for m in names:
        v, b = metrics.get(m), base.get(m)
        if not isinstance(v, int | float):
            continue
        better = _better(m, v, b)
        row = [esc(m) + (" " + tag("primary", "muted") if m == primary else ""), num(v), num(b),
               "" if better is None else ("yes" if better else "no")]
        if m in headline:
            rows.append(row)
            classes.append("bad" if better is False and m == primary else "")
        else:
            extra.append(row)
    headers = ["metric", "model", "baseline", "beats it"]
    out = ["<h2>Metrics against the baseline</h2>",
           '<p class="note">The baseline is a dummy model (class priors, or the training mean) fitted on the same '
           "training rows; a model worth having beats it clearly. Higher is better, except for rmse, mae, mse, "
           "log loss and brier.</p>"]
    items = [{"label": m, "a": metrics[m], "b": base.get(m) if isinstance(base.get(m), int | float) else None}
             for m in headline if isinstance(metrics.get(m), int | float)]
    chart = ""
    if task == "classification" and items:
        chart = svg.paired_bars(items) + svg.legend([(svg.PALETTE[0], "model"), ("#c3ccd6", "baseline")])
    more = (f"<details><summary>{len(extra)} more metrics</summary>{table(headers, extra, numeric=(1, 2))}"
            "</details>") if extra else ""
    out.append('<div class="grid2"><div>' + table(headers, rows, numeric=(1, 2), row_classes=classes) + more
               + f"</div><div>{chart}</div></div>")
    if metrics.get("positive_class") is not None:
        out.append(f'<p class="note">Positive class: <b>{esc(metrics["positive_class"])}</b> (precision, recall, f1 '
                   "and ROC AUC are for it).</p>")
    cm = metrics.get("confusion_matrix")
    curves = _curves(metrics)
    if cm or curves:
        out.append("<h2>Where it is right and wrong</h2><div class=\"grid2\">")
        if cm and cm.get("labels"):
            out.append("<div><h3>Confusion matrix</h3>" + svg.heatmap(cm["labels"], cm["matrix"])
                       + '<p class="note">Rows: the true class; columns: the predicted one. Blue cells are right, '
                         "red ones mistakes.</p></div>")
        out.append(curves)
        out.append("</div>")
        per_class = metrics.get("per_class")
        if per_class:
            rows = [[esc(k), num(v.get("precision")), num(v.get("recall")), num(v.get("f1")), num(v.get("support"))]
                    for k, v in per_class.items()]
            out.append("<h3>Per class</h3>" + table(["class", "precision", "recall", "f1", "rows"], rows,
                                                    numeric=(1, 2, 3, 4)))
    res = metrics.get("residuals")
    if res:
        pairs = [(k, num(v)) for k, v in res.items()]
        out.append("<h2>Residuals (true − predicted)</h2>" + kv_table(pairs))
    return "\n".join(out)


def _curves(metrics: dict[str, Any]) -> str:
    roc, pr = metrics.get("roc_curve"), metrics.get("pr_curve")
    if not roc and not pr:
        return ""
    out = []
    for kind, doc, x_key, y_key, x_label, y_label in (
        ("ROC curve", roc, "fpr", "tpr", "false positive rate", "true positive rate"),
        ("Precision-recall curve", pr, "recall", "precision", "recall", "precision"),
    ):
        if not doc:
            continue
        curves = doc["per_class"] if "per_class" in doc else {str(doc.get("positive_class")): doc}
        series, legend = [], []
        for i, (cls, c) in enumerate(curves.items()):
            if not c:
                continue
            colour = svg.PALETTE[i % len(svg.PALETTE)]
            points = [(float(a), float(b)) for a, b in zip(c[x_key], c[y_key], strict=False)
                      if a is not None and b is not None]
            series.append({"name": str(cls), "points": points, "colour": colour})
            extra = f" (AP {num(c.get('average_precision'), 3)})" if c.get("average_precision") is not None else ""
            legend.append((colour, f"{cls}{extra}"))
        if not series:
            continue
        title = kind + (f" · AUC {num(metrics.get('roc_auc'), 3)}" if kind == "ROC curve"
                        and metrics.get("roc_auc") is not None else "")
        chart = svg.line_chart(series, x_label=x_label, y_label=y_label, x_range=(0, 1), y_range=(0, 1),
                               diagonal=kind == "ROC curve", width=400, height=300, label=kind)
        out.append(f"<div><h3>{esc(title)}</h3>{chart}{svg.legend(legend)}</div>")
    return "".join(out)


def slices_section(result: dict[str, Any], slice_column: str | None) -> str:
    slices = result.get("slices") or {}
    if not slice_column or not slices:
        return ""
    metric = result["primary_metric"]
    overall = result["metrics"].get(metric)
    items, rows, classes = [], [], []
    for key, m in slices.items():
        value = m.get(metric)
        worse = _better(metric, overall, value) if value is not None else None
        items.append({"label": key, "value": value, "colour": svg.BAD if worse and _far(metric, overall, value)
                      else svg.PALETTE[0], "title": f"{key}: {metric} {num(value)} on {m.get('rows')} rows"})
        rows.append([esc(key), num(m.get("rows")), num(value), num(m.get("accuracy") if metric != "accuracy"
                                                                    else m.get("f1"))])
        classes.append("bad" if worse and _far(metric, overall, value) else "")
    second = "f1" if metric == "accuracy" else "accuracy"
    if result["task"] == "regression":
        second = "mae" if metric != "mae" else "rmse"
        rows = [[r[0], r[1], r[2], num(slices[k].get(second))] for r, k in zip(rows, slices, strict=True)]
    return ("<h2>Per slice of " + esc(slice_column) + "</h2>"
            f'<p class="note">{esc(metric)} overall: {num(overall)}. Slices more than 0.05 worse are marked.</p>'
            '<div class="grid2"><div>' + table(["slice", "rows", metric, second], rows, numeric=(1, 2, 3),
                                               row_classes=classes)
            + "</div><div>" + svg.hbars(items, width=460, label_width=150,
                                        marker=overall if overall is not None else None,
                                        marker_label="overall") + "</div></div>")


def _far(metric: str, overall: float | None, value: float | None) -> bool:
    if overall is None or value is None:
        return False
    if metric in LOWER:
        return value > overall * 1.05
    return value < overall - 0.05


def fairness_section(result: dict[str, Any], sensitive: str | None) -> str:
    fair = result.get("fairness")
    if not sensitive or not fair:
        return ""
    rows = [[esc(g), num(v.get("rows")), pct(v.get("base_rate")), pct(v.get("selection_rate")), pct(v.get("tpr")),
             pct(v.get("fpr"))] for g, v in (fair.get("groups") or {}).items()]
    gaps = fair.get("gaps") or {}
    ratios = fair.get("ratios") or {}
    items = [{"label": m.replace("_", " "), "value": gaps.get(m),
              "colour": svg.BAD if (gaps.get(m) or 0) > FAIRNESS_GAP else svg.PALETTE[0]}
             for m in ("selection_rate", "tpr", "fpr")]
    flags = _fairness_flags(fair)
    verdict_line = ("<p><b>Flagged:</b> " + esc("; ".join(flags)) + ".</p>") if flags else \
        f"<p>No gap above {FAIRNESS_GAP} between the groups, and the selection-rate ratio is at or above " \
        f"{FOUR_FIFTHS} (or undefined).</p>"
    pairs = [(f"{m.replace('_', ' ')} gap / ratio", f"{num(gaps.get(m), 3)} / {num(ratios.get(m), 3)}")
             for m in ("selection_rate", "tpr", "fpr")]
    return (f"<h2>Fairness across {esc(sensitive)}</h2>"
            f'<p class="note">For the positive label <b>{esc(fair.get("positive_label"))}</b>: selection rate = '
            "share predicted positive; TPR = share of actual positives found; FPR = share of actual negatives "
            "predicted positive. Gap = largest minus smallest over the groups; ratio = smallest / largest.</p>"
            + verdict_line
            + '<div class="grid2"><div>' + table(["group", "rows", "base rate", "selection rate", "TPR", "FPR"],
                                                 rows, numeric=(1, 2, 3, 4, 5)) + kv_table(pairs)
            + "</div><div>" + svg.hbars(items, width=460, label_width=120, marker=FAIRNESS_GAP,
                                        marker_label=f"gap {FAIRNESS_GAP}") + "</div></div>")


def importance_section(importances: dict[str, float] | None) -> str:
    if importances is None:
        return ('<h2>Feature importances</h2><p class="note">The run recorded no feature importances.</p>')
    top = sorted(importances.items(), key=lambda kv: -kv[1])[:15]
    items = [{"label": k, "value": max(v, 0.0), "title": f"{k}: {num(v)}"} for k, v in top]
    return ("<h2>Feature importances</h2><p class=\"note\">As the run recorded them (the larger, the more the "
            "model relies on the column); the top 15.</p>" + svg.hbars(items, width=640))


def evaluation_body(result: dict[str, Any], *, subject: str, slice_column: str | None,
                    sensitive: str | None) -> str:
    tone, head, lines = evaluation_verdict(result, subject)
    out = [f"<h1>Evaluation · {esc(subject)}</h1>",
           meta_line([("run", result["run_id"][:12]), ("data", result["data"]), ("task", result["task"]),
                      ("primary metric", result["primary_metric"])]),
           verdict_box(tone, head, lines), metrics_section(result), slices_section(result, slice_column),
           fairness_section(result, sensitive)]
    if slice_column is None or sensitive is None:
        hint = []
        if slice_column is None:
            hint.append(code("--slice COLUMN") + " adds the metrics per value of a column")
        if sensitive is None and result["task"] == "classification":
            hint.append(code("--sensitive COLUMN") + " adds fairness gaps between its groups")
        if hint:
            out.append('<p class="note">' + "; ".join(hint) + ".</p>")
    return "\n".join(out)


def model_card_body(card: dict[str, Any]) -> str:
    """The model card: summary, data, recipe, metrics, slices, fairness, importances, gates, lineage."""
    mv, recipe, run, ds, split = card["version"], card["recipe"], card["run"], card["dataset"], card["split"]
    result, gates = card.get("evaluation"), card.get("gates") or {}
    ref = f"{mv['name']}@{mv['version']}"
    aliases = ", ".join(mv.get("aliases") or []) or "no alias"
    metric = recipe.get("metric") or mv.get("primary_metric")
    value, base = (mv.get("metrics") or {}).get(metric), (mv.get("baseline") or {}).get(metric)
    passed = gates.get("passed")
    head = f"{ref} ({aliases}): {metric} {num(value)}, baseline {num(base)}"
    lines = [f"Predicts <b>{esc(recipe.get('target'))}</b> ({esc(mv.get('task'))}) with a "
             f"{code(recipe.get('model') or mv.get('kind'))} model trained on {esc(recipe.get('dataset'))}."]
    if passed is True:
        lines.append("It passes the promotion gates for production now" + (
            f" (against the champion, version {esc(gates['champion'])})" if gates.get("champion") not in
            (None, mv["version"]) else "") + ".")
    elif passed is False:
        lines.append("It does <b>not</b> pass the promotion gates for production now: "
                     + esc("; ".join(gates.get("reasons") or [])) + ".")
    if card.get("evaluation_error"):
        lines.append(f"Its evaluation could not be repeated: {esc(card['evaluation_error'])}.")
    tone = "ok" if passed else ("bad" if passed is False else "warn")
    out = [f"<h1>Model card · {esc(ref)}</h1>",
           meta_line([("registered", when(mv.get("created"))), ("run", mv.get("run_id", "")[:12]),
                      ("aliases", aliases), ("task", mv.get("task"))]),
           verdict_box(tone, head, lines)]
    out.append(_data_section(ds, split, recipe))
    out.append(_recipe_section(recipe, run))
    if result is not None:
        out.append(metrics_section(result))
        out.append(slices_section(result, card.get("slice_column")))
        out.append(fairness_section(result, card.get("sensitive")))
    else:
        rows = [[esc(k), num(v), num((mv.get("baseline") or {}).get(k))] for k, v in (mv.get("metrics") or {}).items()
                if isinstance(v, int | float)]
        out.append("<h2>Metrics recorded at training</h2>" + table(["metric", "model", "baseline"], rows,
                                                                   numeric=(1, 2)))
    out.append(importance_section(card.get("importances")))
    out.append(_gates_section(gates))
    out.append(_lineage_section(card))
    return "\n".join(out)


def _data_section(ds: dict[str, Any] | None, split: dict[str, Any] | None, recipe: dict[str, Any]) -> str:
    out = ["<h2>Data</h2>"]
    if ds is None:
        out.append('<p class="note">The version records no dataset.</p>')
        return "\n".join(out)
    pairs = [("dataset version", code(f"{ds['name']}@{ds['version']}")), ("rows", num(ds.get("rows"))),
             ("columns", num(ds.get("n_columns"))), ("target", esc(recipe.get("target") or ds.get("target"))),
             ("time column", esc(ds.get("time_column") or "–")), ("content sha256", code(ds.get("sha256", "")[:16]))
             , ("ingested", esc(when(ds.get("created")))), ("source", esc(ds.get("source")))]
    if split:
        pairs.append(("split", esc(f"{split.get('method')}, test size {split.get('test_size')}, seed "
                                   f"{split.get('seed')}: {split.get('train_rows')} training rows, "
                                   f"{split.get('test_rows')} test rows (split {split.get('split_id')})")))
    out.append(kv_table(pairs))
    cols = ds.get("schema") or []
    if cols:
        used = set(recipe.get("include") or []) or None
        dropped = set(recipe.get("drop") or [])
        rows = []
        for c in cols:
            role = "target" if c["name"] == recipe.get("target") else (
                "not used" if c["name"] in dropped or (used is not None and c["name"] not in used) else "input")
            rows.append([esc(c["name"]), esc(c.get("dtype")), esc(c.get("kind")), esc(role),
                         pct(c.get("missing_share")), num(c.get("unique"))])
        schema = table(["column", "dtype", "kind", "role", "missing", "distinct"], rows, numeric=(4, 5))
        if len(rows) > SCHEMA_OPEN_MAX:  # a wide table: one line of counts, the rows one click away
            kinds: dict[str, int] = {}
            for c in cols:
                kinds[str(c.get("kind"))] = kinds.get(str(c.get("kind")), 0) + 1
            counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
            schema = f"<details><summary>{len(rows)} columns: {esc(counts)}</summary>{schema}</details>"
        out.append("<h3>Schema</h3>" + schema)
    return "\n".join(out)


def _recipe_section(recipe: dict[str, Any], run: dict[str, Any]) -> str:
    params = recipe.get("best_params") or recipe.get("params") or {}
    param_text = ", ".join(f"{k}={v}" for k, v in params.items()) or "the defaults"
    split = recipe.get("split") or {}
    pairs = [("model kind", code(recipe.get("model"))), ("parameters", code(param_text)),
             ("all parameters", code(", ".join(f"{k}={v}" for k, v in (run.get("params") or {}).items()))),
             ("seed", num(recipe.get("seed"))), ("target", esc(recipe.get("target"))),
             ("primary metric", esc(recipe.get("metric"))),
             ("positive class", esc(recipe.get("positive_class")) if recipe.get("positive_class") is not None
              else "–"),
             ("split", esc(f"{split.get('method')}, test size {split.get('test_size')}, seed {split.get('seed')}"
                           + (f", by time ({split['time_column']})" if split.get("time_column") else ""))),
             ("search", esc(f"{recipe['search']} ({recipe.get('trials')} trials, folds {recipe.get('cv')})")
              if recipe.get("search") else "none"),
             ("columns", esc(("only " + ", ".join(recipe["include"])) if recipe.get("include") else "all")
              + (esc("; dropped " + ", ".join(recipe["drop"])) if recipe.get("drop") else ""))]
    return "<h2>Recipe</h2>" + kv_table(pairs) + (
        '<p class="note">Retraining repeats this recipe on newer data: '
        + code(f"mlcycle train {recipe.get('dataset_name') or 'DATASET'} --model {recipe.get('model')}") + " with the "
        "same parameters, seed, target, metric and positive class.</p>")


def _gates_section(gates: dict[str, Any]) -> str:
    if not gates:
        return ""
    rows, classes = [], []
    for c in gates.get("checks") or []:
        rows.append([esc(c.get("rule")), esc(c.get("metric")), num(c.get("value")), num(c.get("threshold")),
                     "passed" if c.get("passed") else "failed", esc(c.get("reason"))])
        classes.append("" if c.get("passed") else "bad")
    verdict = tag("passed", "ok") if gates.get("passed") else tag("failed", "bad")
    return (f"<h2>Promotion gates {verdict}</h2><p class=\"note\">What the gates say now about promoting this version "
            "to production (settings in the workspace's config.toml, [gates]).</p>"
            + table(["rule", "metric", "value", "threshold", "result", "why"], rows, numeric=(2, 3),
                    row_classes=classes))


def _lineage_section(card: dict[str, Any]) -> str:
    mv, run = card["version"], card["run"]
    versions = run.get("versions") or {}
    pairs = [("run", code(run.get("run_id"))), ("experiment", esc(run.get("experiment"))),
             ("trained", esc(f"{when(run.get('created'))}, in {num(run.get('duration'), 3)} s")),
             ("dataset", code(run.get("dataset"))), ("split", code(run.get("split_id"))),
             ("git commit", code(run.get("git_commit")) if run.get("git_commit") else "–"),
             ("host", esc(run.get("hostname"))),
             ("libraries", esc(", ".join(f"{k} {v}" for k, v in versions.items() if v)))]
    rows = [[esc(when(h.get("time"))), esc(h.get("alias")), num(h.get("version")), num(h.get("previous")),
             esc(h.get("actor")), "yes" if h.get("forced") else ""] for h in card.get("alias_history") or []]
    out = ["<h2>Lineage</h2>", kv_table(pairs)]
    others = card.get("versions") or []
    if others:
        vrows = [[num(v["version"]) + (" " + tag("this one", "muted") if v["version"] == mv["version"] else ""),
                  esc(", ".join(v.get("aliases") or [])), esc(when(v.get("created"))), code(str(v.get("run_id"))[:12]),
                  num((v.get("metrics") or {}).get(card["recipe"].get("metric") or mv.get("primary_metric")))]
                 for v in others]
        out.append("<h3>Versions of " + esc(mv["name"]) + "</h3>"
                   + table(["version", "aliases", "registered", "run", card["recipe"].get("metric") or "metric"],
                           vrows, numeric=(4,)))
    out.append("<h3>Alias history</h3>" + (table(["time", "alias", "version", "previous", "by", "forced"], rows,
                                                 numeric=(2, 3)) if rows else
                                           '<p class="note">No alias was ever given to this model.</p>'))
    checks = card.get("drift_checks") or []
    if checks:
        crow = [[num(c["report_id"]), esc(when(c.get("created"))), num(c.get("rows")), esc(c.get("verdict")),
                 pct(c.get("share_drifted")), esc(c.get("source"))] for c in checks]
        out.append("<h3>Recent drift checks of this version</h3>"
                   + table(["check", "created", "rows", "verdict", "drifted share", "current data"], crow,
                           numeric=(0, 2)))
    return "\n".join(out)
