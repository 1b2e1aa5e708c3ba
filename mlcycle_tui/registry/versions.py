"""The model registry: versions with signatures and lineage, aliases that move atomically.

Why this exists: the server, batch scoring and the retraining loop ask "which
model is in production?" and must get one clear answer. A version records the
fitted pipeline (by SHA-256), its input signature, metrics, and lineage (run,
dataset version, split). Aliases (`production`, `staging`, any name) move in
one transaction and keep a history, so rolling back is promoting the previous
version. Promotion passes through gates unless forced, and a forced promotion
is recorded as such.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, OperationError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.config import check_name, parse_ref

if TYPE_CHECKING:
    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.data.versions import Data
    from mlcycle_tui.events import Events
    from mlcycle_tui.experiments.tracking import Tracking
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

PRODUCTION = "production"


@dataclass
class ModelVersion:
    """One registered version of a model."""

    id: int
    name: str
    version: int
    run_id: str
    kind: str | None
    task: str
    artifact_sha256: str
    artifact_path: str
    signature: dict[str, Any]
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    recipe: dict[str, Any]
    dataset_version_id: int | None
    split_id: str | None
    created: str
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def summary(self) -> dict[str, Any]:
        from mlcycle_tui.experiments.evaluation import primary_metric_of

        return {
            "name": self.name,
            "version": self.version,
            "aliases": self.aliases,
            "run_id": self.run_id,
            "kind": self.kind,
            "task": self.task,
            "primary_metric": primary_metric_of(self),
            "positive_class": self.recipe.get("positive_class"),
            "metrics": self.metrics,
            "dataset": self.recipe.get("dataset"),
            "split_id": self.split_id,
            "created": self.created,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any], aliases: list[str]) -> ModelVersion:
        return cls(
            id=row["id"], name=row["name"], version=row["version"], run_id=row["run_id"], kind=row["kind"],
            task=row["task"], artifact_sha256=row["artifact_sha256"], artifact_path=row["artifact_path"],
            signature=json.loads(row["signature_json"]), metrics=json.loads(row["metrics_json"]),
            baseline=json.loads(row["baseline_json"]), recipe=json.loads(row["recipe_json"]),
            dataset_version_id=row["dataset_version_id"], split_id=row["split_id"], created=row["created"],
            aliases=aliases,
        )


NOT_COMPILED = "not compiled yet"


class Registry:
    """Model versions, aliases, promotion gates and the champion comparison."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        settings: dict[str, Any],
        events: Events,
        data: Data,
        splits: Splits,
        runs: Tracking,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.settings = settings
        self.events = events
        self.data = data
        self.splits = splits
        self.runs = runs
        self.registered: list[Callable[[ModelVersion], None]] = []
        """Called with each new version after it is stored (monitoring prepares its drift reference)."""

    def register(self, run_ref: str, name: str) -> ModelVersion:
        """A new version of model `name` from a trained run's pipeline."""
        check_name(name, "model name")
        run = self.runs.get(run_ref)
        if run["status"] != "finished":
            raise UserError(f"run {run['run_id'][:12]} is {run['status']}; only finished runs can be registered")
        art = next((a for a in run["artifacts"] if a["name"] == "model"), None)
        if art is None:
            raise UserError(f"run {run['run_id'][:12]} logged no model; nothing to register")
        recipe = self.runs.recipe(run["run_id"])
        signature = self._run_json(run["run_id"], "signature.json")
        evaluation = self._run_json(run["run_id"], "evaluation.json")
        from mlcycle_tui.experiments.evaluation import flat_metrics

        metrics = flat_metrics(evaluation.get("model", {})) or run["metrics"]
        baseline = flat_metrics(evaluation.get("baseline", {}))
        with self.db.transaction() as conn:
            now = now_iso()
            conn.execute("INSERT OR IGNORE INTO models(name, created) VALUES (?, ?)", (name, now))
            version = 1 + conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE name = ?", (name,)
            ).fetchone()[0]
            ds_id = self.data.dataset(recipe["dataset"]).id
            conn.execute(
                "INSERT INTO model_versions(name, version, run_id, kind, task, artifact_sha256, artifact_path,"
                " signature_json, metrics_json, baseline_json, recipe_json, dataset_version_id, split_id, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (name, version, run["run_id"], recipe["model"], recipe["task"], art["sha256"], art["path"],
                 json.dumps(signature), json.dumps(metrics), json.dumps(baseline), json.dumps(recipe),
                 ds_id, recipe["split_id"], now),
            )
            self.events.log("register", f"{name}@{version}", f"from run {run['run_id'][:12]} ({recipe['model']})")
        mv = self.model_version(f"{name}@{version}")
        self.compile_model(mv)
        for listener in self.registered:
            listener(mv)
        return mv

    # -- the compiled form (registry/compiled.py) ---------------------------------
    def compile_model(self, ref: str | ModelVersion, pipeline: Any = None) -> bool:
        """Store the version as NumPy arrays when it can be scored that way exactly; True if so.

        Never fails the caller (registration, scoring): a pipeline that cannot be compiled
        is recorded as such and scored with scikit-learn; any other error is logged.
        """
        import logging

        from mlcycle_tui.registry import compiled

        mv = self.model_version(ref)
        try:
            if pipeline is None:
                pipeline = self.artifacts.load_joblib(mv.artifact_sha256, mv.artifact_path)
            inputs = [c["name"] for c in mv.signature.get("inputs", [])]
            data = compiled.compile_pipeline(pipeline, mv.task, inputs)
            sha, rel = self.artifacts.put_bytes(data, ".npz") if data is not None else (None, None)
            self.db.execute(
                "INSERT OR REPLACE INTO compiled_models(name, version, format, artifact_sha256, artifact_path,"
                " created) VALUES (?, ?, ?, ?, ?, ?)",
                (mv.name, mv.version, compiled.FORMAT, sha, rel, now_iso()),
            )
        except Exception as exc:  # an optimisation: the next scoring tries again
            logging.getLogger("mlcycle").warning("could not compile %s: %s", mv.ref, exc)
            return False
        return sha is not None

    def artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of this stage's tables that point at artifacts, for `doctor()`."""
        return [("compiled_models", "'compiled ' || name || '@' || version")]

    def compiled_versions(self, name: str) -> dict[int, bool]:
        """Per version of `name`: True if it has a compiled form, False if it cannot have one
        (versions nobody has tried yet are absent)."""
        from mlcycle_tui.registry import compiled

        rows = self.db.query(
            "SELECT version, artifact_path FROM compiled_models WHERE name = ? AND format = ?",
            (name, compiled.FORMAT),
        )
        return {r["version"]: r["artifact_path"] is not None for r in rows}

    def compiled_model(self, ref: str | ModelVersion) -> Any:
        """The version's `CompiledModel`; None when it cannot be compiled; NOT_COMPILED when
        nobody has tried yet (versions registered before compiling existed)."""
        from mlcycle_tui.registry import compiled

        mv = self.model_version(ref)
        row = self.db.query_one(
            "SELECT format, artifact_sha256, artifact_path FROM compiled_models WHERE name = ? AND version = ?",
            (mv.name, mv.version),
        )
        if row is None or row["format"] != compiled.FORMAT:
            return NOT_COMPILED
        if row["artifact_path"] is None:
            return None
        return compiled.load(self.artifacts.load_bytes(row["artifact_sha256"], row["artifact_path"]))

    def _run_json(self, run_id: str, name: str) -> dict[str, Any]:
        row = self.db.query_one(
            "SELECT artifact_sha256, artifact_path FROM run_artifacts WHERE run_id = ? AND name = ?", (run_id, name)
        )
        if row is None:
            return {}
        return json.loads(self.artifacts.load_bytes(row["artifact_sha256"], row["artifact_path"]))

    # -- reading -------------------------------------------------------------
    def _aliases_of(self, name: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for r in self.db.query("SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias", (name,)):
            out.setdefault(r["version"], []).append(r["alias"])
        return out

    def model_version(self, ref: str | ModelVersion) -> ModelVersion:
        """Resolve `NAME` (production, else latest), `NAME@VERSION` or `NAME@ALIAS`."""
        if isinstance(ref, ModelVersion):
            return ref
        parsed = parse_ref(ref, "model reference", allow_alias=True)
        if self.db.query_one("SELECT 1 FROM models WHERE name = ?", (parsed.name,)) is None:
            known = ", ".join(r["name"] for r in self.db.query("SELECT name FROM models ORDER BY name"))
            raise NotFoundError(
                f"no model {parsed.name!r}; registered models: {known or 'none yet'} "
                "(register one with `mlcycle models register RUN --name NAME`)"
            )
        version = parsed.version
        if version is None:
            alias = parsed.alias or PRODUCTION
            row = self.db.query_one("SELECT version FROM aliases WHERE name = ? AND alias = ?", (parsed.name, alias))
            if row is not None:
                version = row["version"]
            elif parsed.alias is not None:
                raise NotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r}")
            else:
                version = self.db.scalar("SELECT MAX(version) FROM model_versions WHERE name = ?", (parsed.name,))
        row = self.db.query_one(
            "SELECT * FROM model_versions WHERE name = ? AND version = ?", (parsed.name, version)
        )
        if row is None:
            raise NotFoundError(f"model {parsed.name!r} has no version {version}")
        return ModelVersion.from_row(row, self._aliases_of(parsed.name).get(row["version"], []))

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        if name is not None:
            self.model_version(name)  # clear error when unknown
        rows = self.db.query(
            "SELECT * FROM model_versions WHERE (? IS NULL OR name = ?) ORDER BY name, version DESC", (name, name)
        )
        aliases: dict[str, dict[int, list[str]]] = {}
        out = []
        for r in rows:
            if r["name"] not in aliases:
                aliases[r["name"]] = self._aliases_of(r["name"])
            out.append(ModelVersion.from_row(r, aliases[r["name"]].get(r["version"], [])))
        return out

    def models(self) -> list[dict[str, Any]]:
        """One row per model: latest version and production version."""
        rows = self.db.query(
            "SELECT m.name, MAX(v.version) AS latest, COUNT(v.id) AS versions,"
            " (SELECT version FROM aliases a WHERE a.name = m.name AND a.alias = 'production') AS production"
            " FROM models m LEFT JOIN model_versions v ON v.name = m.name GROUP BY m.name ORDER BY m.name"
        )
        return rows

    def production_models(self) -> list[ModelVersion]:
        rows = self.db.query("SELECT name FROM aliases WHERE alias = ? ORDER BY name", (PRODUCTION,))
        return [self.model_version(f"{r['name']}@{PRODUCTION}") for r in rows]

    def load_model(self, ref: str | ModelVersion) -> tuple[ModelVersion, Any]:
        """The version and its fitted pipeline (SHA-256 checked before unpickling)."""
        mv = self.model_version(ref)
        return mv, self.artifacts.load_joblib(mv.artifact_sha256, mv.artifact_path)

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT * FROM alias_history WHERE name = ? AND (? IS NULL OR alias = ?) ORDER BY id DESC",
            (name, alias, alias),
        )

    # -- gates and promotion -------------------------------------------------
    def gate_check(self, ref: str | ModelVersion, alias: str = PRODUCTION) -> dict[str, Any]:
        """Would this version pass the promotion gates against the alias's current holder?"""
        from mlcycle_tui.registry.gates import check_gates, with_champion_check

        mv = self.model_version(ref)
        from mlcycle_tui.experiments.evaluation import primary_metric_of

        rules = dict(self.settings.get("gates", {}))
        rules.setdefault("metric", primary_metric_of(mv))  # the run's --metric, unless the settings name one
        champion = self._alias_holder(mv.name, alias)
        verdict = check_gates(mv.task, {"model": mv.metrics, "baseline": mv.baseline or None}, None, rules)
        if champion is not None and champion.version != mv.version:
            comparison = self.compare_with_champion(champion, mv)
            verdict = with_champion_check(verdict, mv.task, comparison, rules)
        verdict["champion"] = champion.version if champion is not None else None
        return verdict

    def _alias_holder(self, name: str, alias: str) -> ModelVersion | None:
        row = self.db.query_one("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias))
        return None if row is None else self.model_version(f"{name}@{row['version']}")

    def compare_with_champion(self, champion: ModelVersion, challenger: ModelVersion) -> dict[str, Any]:
        """Both models' metrics on the challenger's test rows that neither of them trained on.

        Returns {"judged", "rows", "test_rows", "left_out", "min_rows", "split_id", "champion",
        "challenger", "reason"}: metrics are flat dicts on the same rows; when fewer than
        `min_rows` (gates.min_unseen_rows) rows are left, or the champion cannot score them,
        "judged" is False and "reason" says why (the caller must not pick a winner).
        """
        from mlcycle_tui.experiments import evaluation, overlap

        min_rows = _min_rows(self.settings.get("gates", {}))
        split_id = challenger.split_id
        out: dict[str, Any] = {"judged": False, "rows": 0, "test_rows": 0, "left_out": 0, "min_rows": min_rows,
                               "split_id": split_id, "champion": None, "challenger": None}
        if split_id is None:
            return out | {"reason": f"{challenger.ref} has no recorded test split to compare on"}
        _, test_df = self.splits.frames(split_id)
        target = challenger.recipe.get("target") or self.data.dataset_by_id(challenger.dataset_version_id).target
        test_df = test_df[test_df[target].notna()].reset_index(drop=True)
        keep = overlap.unseen(test_df, [self.training_keys(mv, test_df) for mv in (champion, challenger)])
        rows = test_df[keep]
        out.update(test_rows=len(test_df), rows=int(keep.sum()), left_out=int(len(test_df) - keep.sum()))
        where = (f"{out['rows']} of the {len(test_df)} test rows that neither "
                 f"v{champion.version} nor v{challenger.version} trained on")
        if out["rows"] < min_rows:
            return out | {"reason": f"cannot compare with the champion: only {where} (needs {min_rows}); "
                                    "ingest newer data, split it again with a larger --test-size, "
                                    "or lower gates.min_unseen_rows"}
        scored = {}
        for role, mv in (("champion", champion), ("challenger", challenger)):
            _, model = self.load_model(mv)
            try:
                pred, proba, classes = evaluation.predictions(mv.task, model, rows.drop(columns=[target]))
            except (KeyError, ValueError) as exc:
                return out | {"reason": f"cannot compare with the champion: the {role} {mv.ref} cannot score "
                                        f"the test rows of split {split_id} ({exc})"}
            scored[role] = evaluation.flat_metrics(
                evaluation.evaluate(mv.task, rows[target], pred, proba, classes, curves=False,
                                    positive=challenger.recipe.get("positive_class")))
        return out | scored | {"judged": True, "reason": f"on {where}"}

    def training_keys(self, mv: ModelVersion, test_df: Any) -> tuple[list[str], Any]:
        """(columns, keys) of the rows `mv` trained on, over columns `test_df` has.

        From the run's `train_rows.npz` (which includes any feedback rows it trained on);
        for runs older than that file, or when the test data lacks some of its columns,
        from the train part of the run's split over the shared columns."""
        from mlcycle_tui.experiments import overlap

        row = self.db.query_one(
            "SELECT artifact_sha256, artifact_path FROM run_artifacts WHERE run_id = ? AND name = ?",
            (mv.run_id, overlap.TRAIN_ROWS_ARTIFACT),
        )
        if row is not None:
            columns, keys = overlap.unpack(self.artifacts.load_bytes(row["artifact_sha256"], row["artifact_path"]))
            if all(c in test_df.columns for c in columns):
                return columns, keys
        if mv.split_id is None:
            return [], overlap.row_keys(test_df.iloc[:0], [])
        train_df, _ = self.splits.frames(mv.split_id)
        shared = [c for c in train_df.columns if c in test_df.columns]
        return shared, overlap.row_keys(train_df, shared)

    def promote(
        self,
        name: str,
        version: int | str,
        alias: str = PRODUCTION,
        *,
        force: bool = False,
        actor: str = "user",
    ) -> dict[str, Any]:
        """Move `alias` to `version` if it passes the gates (or `force`); returns what changed."""
        check_name(alias, "alias")
        mv = self.model_version(f"{name}@{int(version)}" if str(version).isdigit() else f"{name}@{version}")
        verdict = self.gate_check(mv, alias) if alias == PRODUCTION else {"passed": True, "reasons": [], "checks": []}
        if not verdict["passed"] and not force:
            raise OperationError(
                f"promotion of {mv.ref} to {alias} refused by the gates: " + "; ".join(verdict["reasons"])
                + " (use --force to override; it is recorded)"
            )
        with self.db.transaction() as conn:
            row = conn.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?", (mv.name, alias)).fetchone()
            previous = row[0] if row else None
            now = now_iso()
            conn.execute(
                "INSERT INTO aliases(name, alias, version, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, updated = excluded.updated",
                (mv.name, alias, mv.version, now),
            )
            conn.execute(
                "INSERT INTO alias_history(name, alias, version, previous, time, forced, actor, gates_json)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (mv.name, alias, mv.version, previous, now, int(force and not verdict["passed"]), actor,
                 json.dumps(verdict)),
            )
            note = " (forced past the gates)" if force and not verdict["passed"] else ""
            before = "(none)" if previous is None else f"v{previous}"
            self.events.log("promote", mv.ref, f"{alias}: {before} -> v{mv.version}{note}")
        return {"name": mv.name, "version": mv.version, "alias": alias, "previous": previous,
                "forced": bool(force and not verdict["passed"]), "gates": verdict}

    def rollback(self, name: str, alias: str = PRODUCTION) -> dict[str, Any]:
        """Move `alias` back to the version it pointed at before the last move."""
        history = self.alias_history(name, alias)
        if not history or history[0]["previous"] is None:
            raise UserError(f"{name}@{alias} has no earlier version to roll back to")
        return self.promote(name, history[0]["previous"], alias, force=True, actor="rollback")

    def remove_alias(self, name: str, alias: str) -> None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)).fetchone()
            if row is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            conn.execute("DELETE FROM aliases WHERE name = ? AND alias = ?", (name, alias))
            conn.execute(
                "INSERT INTO alias_history(name, alias, version, previous, time) VALUES (?, ?, NULL, ?, ?)",
                (name, alias, row[0], now_iso()),
            )


    # -- versions made elsewhere (the MLflow tracking API, `mlcycle import mlflow`) ------------------
    def create_model(self, name: str, description: str = "") -> bool:
        """Record the model `name` before it has a version (MLflow's create_registered_model);
        False when it exists already."""
        check_name(name, "model name")
        cur = self.db.execute("INSERT OR IGNORE INTO models(name, created, description) VALUES (?, ?, ?)",
                              (name, now_iso(), description or ""))
        return cur.rowcount > 0

    def register_pipeline(
        self,
        name: str,
        run_id: str,
        pipeline: Any,
        *,
        task: str,
        signature: dict[str, Any],
        metrics: dict[str, Any] | None = None,
        kind: str | None = None,
        recipe: dict[str, Any] | None = None,
        created: str | None = None,
    ) -> ModelVersion:
        """A new version of `name` from a fitted pipeline trained elsewhere (an MLflow client).

        The pipeline is stored in the workspace (joblib, sha256) like a trained one, so it is
        promoted, served and compiled the same way. It has no test split: its drift reference
        needs training data (`attach_training_data`), and the champion comparison needs one too."""
        check_name(name, "model name")
        if task not in ("classification", "regression"):
            raise UserError(f"a model version's task is classification or regression, not {task!r}")
        if not signature.get("inputs"):
            raise UserError("a model version needs the input columns it reads (its signature)")
        run = self.runs.get(run_id)
        sha, rel = self.artifacts.put_joblib(pipeline)
        from mlcycle_tui.experiments.evaluation import flat_metrics

        flat = flat_metrics(dict(metrics if metrics is not None else run["metrics"]))
        with self.db.transaction() as conn:
            now = created or now_iso()
            conn.execute("INSERT OR IGNORE INTO models(name, created) VALUES (?, ?)", (name, now))
            version = 1 + conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE name = ?", (name,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO model_versions(name, version, run_id, kind, task, artifact_sha256, artifact_path,"
                " signature_json, metrics_json, recipe_json, dataset_version_id, split_id, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,NULL,NULL,?)",
                (name, version, run["run_id"], kind, task, sha, rel, json.dumps(signature), json.dumps(flat),
                 json.dumps(recipe or {}), now),
            )
            self.events.log("register", f"{name}@{version}", f"from run {run['run_id'][:12]} ({kind}), logged "
                            "outside mlcycle")
        mv = self.model_version(f"{name}@{version}")
        self.compile_model(mv, pipeline)
        for listener in self.registered:
            listener(mv)
        return mv

    def attach_training_data(self, ref: str | ModelVersion, dataset: Any, *, target: str | None = None,
                             test_size: float = 0.2, seed: int = 42) -> ModelVersion:
        """Give a version trained elsewhere the data it was trained on, so that it can be monitored.

        `dataset` is a dataset reference (ingest the training file first with `mlcycle data ingest`).
        A split of it is recorded as the version's: its train rows are the drift reference and its
        test rows what the champion comparison scores. The registry's listeners run again
        (monitoring prepares the drift reference now)."""
        mv = self.model_version(ref)
        dv = self.data.dataset(dataset)
        target = target or mv.recipe.get("target") or dv.target
        columns = {c["name"] for c in dv.schema}
        missing = [c["name"] for c in mv.signature.get("inputs", []) if c["name"] not in columns]
        if missing:
            raise UserError(f"{dv.ref} lacks columns {mv.ref} reads: {', '.join(missing)}; give the data the model "
                            "was trained on")
        if not target or target not in columns:
            raise UserError(f"which column of {dv.ref} is the target of {mv.ref}? give target=COLUMN "
                            "(or ingest the data with --target COLUMN)")
        split = self.splits.create(dv, test_size=test_size, seed=seed)
        recipe = dict(mv.recipe) | {"target": target, "dataset": dv.ref, "split_id": split.split_id}
        self.db.execute(
            "UPDATE model_versions SET dataset_version_id = ?, split_id = ?, recipe_json = ? WHERE id = ?",
            (dv.id, split.split_id, json.dumps(recipe), mv.id),
        )
        self.events.log("register", mv.ref, f"training data {dv.ref} attached (split {split.split_id})")
        mv = self.model_version(mv.ref)
        for listener in self.registered:
            listener(mv)
        return mv


def _min_rows(rules: dict[str, Any]) -> int:
    from mlcycle_tui.registry.gates import DEFAULT_MIN_UNSEEN_ROWS

    value = rules.get("min_unseen_rows", DEFAULT_MIN_UNSEEN_ROWS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"gate rule min_unseen_rows must be a whole number >= 1, got {value!r}")
    return value
