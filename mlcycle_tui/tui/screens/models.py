"""The Models screen: the registry's models, their versions, gates, promotion and rollback.

Why this exists: "which model is in production, and may this one replace
it?" is answered here. The highlighted version's promotion gates are checked
in a thread worker (a check may evaluate the champion on the candidate's test
rows) and shown as PASS/FAIL with reasons. Promoting asks for confirmation
with that verdict in view; when the gates refuse, forcing is a separate,
explicitly labelled choice that the registry records. Rollback moves
production back to the version it held before, also after confirmation.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.widgets import DataTable, Static

from mlcycle_tui.common.errors import MlcycleError, UserError
from mlcycle_tui.registry.versions import PRODUCTION, ModelVersion
from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.dialogs.text import TextDialog
from mlcycle_tui.tui.format import ago
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets.fit_table import FitTable, is_current
from mlcycle_tui.tui.widgets.run_panels import NO_VERSION, alias_history_text, gate_text, metric_value

EMPTY_TEXT = (
    "No models yet — train a run on the Experiments screen ([b]e[/b], then [b]t[/b]) "
    "and register it ([b]g[/b])."
)
POLL_S = 3.0
EXPLAINED_ROWS = 5  # `i`: the model's last logged requests, answered by the highlighted version
"""How often the screen looks for aliases moved elsewhere (CLI, a retraining job, another app)."""


def version_columns(narrow: bool) -> list[tuple[str, str]]:
    """The versions table; a narrow terminal leaves out whether a version is compiled (`models show` says)."""
    columns = [("version", "ver" if narrow else "version"), ("aliases", "aliases"), ("kind", "kind"),
               ("metric", "metric"), ("dataset", "dataset"), ("created", "created")]
    return columns if narrow else [*columns, ("compiled", "compiled")]


def version_metric(mv: ModelVersion) -> str:
    """The version's primary metric (the core's rule) and its value."""
    from mlcycle_tui.experiments.evaluation import primary_metric_of  # numpy and pandas: not at startup

    metric = primary_metric_of(mv)
    return f"{metric} {metric_value(mv.metrics.get(metric))}"


class ModelsScreen(StageScreen):
    STAGE_ID = "models"
    STAGE_KEY = "m"
    STAGE_TITLE = "Models"
    STAGE_SUMMARY = "The model registry: versions, aliases, promotion"
    HELP = (
        "Registered models are listed on the left with their production version; the versions of the "
        "selected model are on the right. For the highlighted version the **promotion gates** are "
        "checked (it must beat the dummy baseline and not lose more than the allowed margin to the "
        "current production version on the same test rows; thresholds from `[gates]` in the "
        "workspace's config.toml). **p** promotes the version to production after a confirmation "
        "that shows the verdict; if the gates refuse, you may force it, and the alias history records "
        "that it was forced. **b** rolls production back to the version it held before. Register new "
        "versions from a run on the Experiments screen (**g**). A promotion or rollback made elsewhere "
        "(the CLI, a retraining job) shows within a few seconds, and the gates are checked again against "
        "the new production version. **i** explains how the highlighted version answers the model's last five logged "
        "requests: per input column, how much it moved each answer (exact Shapley values for tree and linear "
        "models, else occlusion estimates; `mlcycle explain` on the command line)."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "promote", "Promote", tooltip="make the highlighted version the production model",
                id="models.promote"),
        Binding("b", "rollback", "Roll back", tooltip="move production back to the version before",
                id="models.rollback"),
        Binding("w", "write_card", "Model card", tooltip="write the highlighted version's model card as HTML",
                id="models.card"),
        Binding("i", "explain", "Explain", id="models.explain",
                tooltip="why the highlighted version answers the model's last logged requests"),
        Binding("r", "reload", "Refresh", id="models.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.model_name: str | None = None
        self.selected: ModelVersion | None = None
        self.versions: dict[str, ModelVersion] = {}
        self.verdicts: dict[str, dict[str, Any]] = {}
        self.busy_with = ""
        self._generation = 0
        """Bumped at every reload: a gate check started before it judged against an old champion."""
        self._state: tuple[Any, ...] | None = None
        """What the registry looked like at the last reload (models, versions, production)."""

    def compose_body(self) -> ComposeResult:
        yield Static(EMPTY_TEXT, id="models-empty", classes="empty")
        with Horizontal(id="models-main"):
            with Vertical(id="models-left"):
                yield Static("Models", classes="section-title")
                models: DataTable[str] = DataTable(id="models-table", cursor_type="row")
                models.add_columns("name", "vers", "prod")
                yield models
            with Vertical(id="models-right"):
                yield Static("Versions", classes="section-title", id="versions-title")
                versions = FitTable(id="model-versions", cursor_type="row", zebra_stripes=True)
                versions.set_columns(version_columns(False), elastic=("dataset",))
                yield versions
                with Horizontal(id="models-bottom"):
                    with VerticalScroll(id="gate-panel"):
                        yield Static("Promotion gates", classes="section-title")
                        yield Static(id="gate-text")
                    with VerticalScroll(id="history-panel"):
                        yield Static("Alias history", classes="section-title")
                        yield Static(id="history-text")

    def on_mount(self) -> None:
        super().on_mount()
        self.action_reload()
        self.set_interval(POLL_S, self._poll)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def service_event(self, kind: str) -> None:
        """A retraining job may have promoted a challenger."""
        if kind == "job":
            self.action_reload()

    def layout_changed(self) -> None:
        table = self.query_one("#model-versions", FitTable)
        table.set_columns(version_columns(self.narrow), elastic=("dataset",))

    def _poll(self) -> None:
        """Reload when an alias moved or a version came from outside this screen."""
        if not self.is_current or self.busy_with:
            return
        try:
            state = _registry_state(self.workspace.registry.models())
        except MlcycleError:
            return
        if state != self._state:
            self.action_reload()

    # -- loading ---------------------------------------------------------
    def action_reload(self, select: str | None = None, version: int | None = None) -> None:
        """Re-read the models; keep (or move to) the selected model and version."""
        self.verdicts.clear()  # the champion may have changed elsewhere (CLI, retraining worker)
        self._generation += 1
        models = self.workspace.registry.models()
        self._state = _registry_state(models)
        self.query_one("#models-empty").display = not models
        self.query_one("#models-main").display = bool(models)
        if select is None and self.selected is not None:
            select, version = self.selected.name, version or self.selected.version
        table = self.query_one("#models-table", DataTable)
        table.clear()
        for m in models:
            production = f"v{m['production']}" if m.get("production") is not None else "-"
            table.add_row(m["name"], str(m["versions"]), production, key=m["name"])
        if not models:
            self.selected, self.model_name = None, None
            self.refresh_bindings()
            return
        names = [m["name"] for m in models]
        row = names.index(select) if select in names else 0
        self._show_model(names[row], version)
        table.move_cursor(row=row, animate=False)
        if self.focused is None:
            table.focus()

    @on(DataTable.RowHighlighted, "#models-table")
    def _model_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        name = str(event.row_key.value)
        if self.model_name != name:
            self._show_model(name)

    def _show_model(self, name: str, version: int | None = None) -> None:
        self.model_name = name
        versions = self.workspace.registry.model_versions(name)
        self.versions = {str(v.version): v for v in versions}
        self.query_one("#versions-title", Static).update(Content(f"Versions of {name}"))
        table = self.query_one("#model-versions", FitTable)
        compiled = self.workspace.registry.compiled_versions(name)
        table.set_rows(
            (str(v.version), {"version": f"v{v.version}", "aliases": ", ".join(v.aliases) or "-",
                              "kind": v.kind or "-", "metric": version_metric(v),
                              "dataset": str(v.recipe.get("dataset") or "-"), "created": ago(v.created),
                              "compiled": {True: "yes", False: "no"}.get(compiled.get(v.version), "-")})
            for v in versions
        )
        chosen = next((i for i, v in enumerate(versions) if v.version == version), 0)
        table.move_cursor(row=chosen, animate=False)
        self.query_one("#history-text", Static).update(alias_history_text(self.workspace.registry.alias_history(name)))
        self._show_version(versions[chosen] if versions else None)

    @on(DataTable.RowHighlighted, "#model-versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        mv = self.versions.get(str(event.row_key.value))
        if mv is not None and (self.selected is None or self.selected.ref != mv.ref):
            self._show_version(mv)

    def _show_version(self, mv: ModelVersion | None) -> None:
        self.selected = mv
        self.refresh_bindings()
        gate = self.query_one("#gate-text", Static)
        if mv is None:
            gate.update("")
            return
        verdict = self.verdicts.get(mv.ref)
        gate.update(gate_text(verdict, mv.ref))
        if verdict is None:
            self._check_gates(mv.ref, confirm=False)

    def _check_gates(self, ref: str, confirm: bool) -> None:
        self._gate_worker(ref, confirm, self._generation)

    @work(thread=True, group="gates")
    def _gate_worker(self, ref: str, confirm: bool, generation: int) -> None:
        try:
            verdict = self.workspace.registry.gate_check(ref)
        except MlcycleError as exc:
            self.app.call_from_thread(self._gates_failed, ref, exc.message)
            return
        self.app.call_from_thread(self._gates_checked, ref, verdict, confirm, generation)

    def _gates_checked(self, ref: str, verdict: dict[str, Any], confirm: bool, generation: int) -> None:
        if generation != self._generation:  # judged against the production version before a reload
            if confirm or (self.selected is not None and self.selected.ref == ref and ref not in self.verdicts):
                self._check_gates(ref, confirm)
            return
        self.verdicts[ref] = verdict
        if self.selected is not None and self.selected.ref == ref:
            self.query_one("#gate-text", Static).update(gate_text(verdict, ref))
        if confirm:
            self._confirm_promotion(ref, verdict)

    def _gates_failed(self, ref: str, message: str) -> None:
        if self.selected is not None and self.selected.ref == ref:
            self.query_one("#gate-text", Static).update(f"[red]✘[/red] could not check the gates: {escape(message)}")

    # -- promote -------------------------------------------------------------
    def action_promote(self) -> None:
        mv = self.selected
        if mv is None or self.busy_with:
            return
        if PRODUCTION in mv.aliases:
            self.notify(f"{mv.ref} is already the production version.", title="Promote")
            return
        verdict = self.verdicts.get(mv.ref)
        if verdict is None:
            self._check_gates(mv.ref, confirm=True)
        else:
            self._confirm_promotion(mv.ref, verdict)

    def _confirm_promotion(self, ref: str, verdict: dict[str, Any]) -> None:
        mv = self.workspace.registry.model_version(ref)
        champion = verdict.get("champion")
        change = f"from v{champion} to v{mv.version}" if champion is not None else f"to v{mv.version} (first time)"
        body = f"Move [b]production[/b] of {escape(mv.name)} {change}; servers load the new version.\n\n"
        body += gate_text(verdict, ref)
        if verdict.get("passed"):
            choices = [("Promote", "promote", "primary")]
        else:
            body += (
                "\n\n[b]The gates refuse this version.[/b] You can force it anyway; a forced promotion is "
                "recorded as such in the alias history."
            )
            choices = [("Force promote (recorded)", "force", "error")]

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self._set_busy(f"promoting {ref}")
                self._promote(mv.name, mv.version, choice == "force")

        self.app.push_screen(ConfirmDialog(f"Promote {ref} to production?", body, choices), chosen)

    @work(thread=True, exclusive=True, group="promote")
    def _promote(self, name: str, version: int, force: bool) -> None:
        try:
            result = self.workspace.registry.promote(name, version, force=force)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, "Promotion refused", exc.message)
            return
        self.app.call_from_thread(self._moved, result, "Promoted")

    def _moved(self, result: dict[str, Any], title: str) -> None:
        self._set_busy("")
        previous = f"v{result['previous']}" if result.get("previous") is not None else NO_VERSION
        forced = " (forced past the gates, recorded)" if result.get("forced") and title == "Promoted" else ""
        self.notify(f"{result['name']} production: {previous} → v{result['version']}{forced}", title=title)
        self.action_reload(select=result["name"], version=result["version"])

    # -- rollback ------------------------------------------------------------
    def action_rollback(self) -> None:
        name = self.model_name
        if name is None or self.busy_with:
            return
        history = self.workspace.registry.alias_history(name, PRODUCTION)
        if not history or history[0].get("previous") is None:
            self.notify(f"{name} has no earlier production version to roll back to.", title="Roll back",
                        severity="warning")
            return
        now, before = history[0]["version"], history[0]["previous"]
        body = (
            f"Move [b]production[/b] of {escape(name)} back from v{now} to v{before}, the version it held "
            "before the last move. Rollback skips the gates; it is recorded in the alias history."
        )

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self._set_busy(f"rolling back {name}")
                self._rollback(name)

        self.app.push_screen(ConfirmDialog(f"Roll back {name}?", body, [("Roll back", "rollback", "warning")]),
                             chosen)

    @work(thread=True, exclusive=True, group="promote")
    def _rollback(self, name: str) -> None:
        try:
            result = self.workspace.registry.rollback(name)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, "Rollback failed", exc.message)
            return
        self.app.call_from_thread(self._moved, result, "Rolled back")

    # -- shared ----------------------------------------------------------------
    def _set_busy(self, what: str) -> None:
        self.busy_with = what
        if what:
            self.query_one("#gate-text", Static).update(Content(f"{what}…"))
        self.refresh_bindings()

    def _failed(self, title: str, message: str) -> None:
        self._set_busy("")
        self.notify(message, title=title, severity="error", timeout=10)
        self.action_reload()

    def action_write_card(self) -> None:
        if self.selected is None:
            return
        self.notify(f"writing the model card of {self.selected.ref}…", title="Model card")
        self._write_card(self.selected.ref)

    @work(thread=True, group="models-card")
    def _write_card(self, ref: str) -> None:
        reports = self.workspace.reports
        try:
            rep = reports.model(ref, out=reports.default_path("model", ref))
        except MlcycleError as exc:
            self.app.call_from_thread(self.notify, exc.message, title="Model card", severity="error", timeout=10)
            return
        self.app.call_from_thread(self.notify, f"wrote {rep.path}; open it in a browser or send it",
                                  title="Model card", timeout=10)

    def action_explain(self) -> None:
        if self.selected is None:
            return
        self.notify(f"explaining how {self.selected.ref} answers the last logged requests…", title="Explain")
        self._explain(self.selected.ref, self.selected.name)

    @work(thread=True, group="models-explain")
    def _explain(self, ref: str, name: str) -> None:
        from mlcycle_tui.experiments.explain import contribution_lines

        ws = self.workspace
        try:
            frame = ws.predictions.frame(name, last=EXPLAINED_ROWS)  # the model's last requests, any version
            if frame.empty:
                raise UserError(f"no predictions of {name} are logged yet: serve it (Serve screen) and send some, "
                                f"or run `mlcycle explain {ref} --input FILE`")
            text = "\n\n".join(contribution_lines(ws.evaluation.explain_rows(ref, frame), top=8))
        except MlcycleError as exc:
            self.app.call_from_thread(self.notify, exc.message, title="Explain", severity="warning", timeout=10)
            return
        self.app.call_from_thread(self.app.push_screen,
                                  TextDialog(f"Why {ref} answers the last {len(frame)} logged requests", text))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("promote", "rollback") and (self.selected is None or self.busy_with):
            return None
        if action in ("write_card", "explain") and self.selected is None:
            return None
        return True


def _registry_state(models: list[dict[str, Any]]) -> tuple[Any, ...]:
    """What decides the screen's content: each model's number of versions and production version."""
    return tuple((m["name"], m.get("versions"), m.get("production")) for m in models)
