"""The Data screen: datasets and their versions, profile, chart, validation, splits.

Why this exists: data enters the lifecycle here. The user imports a file
(`i`), sees what each column is and how it is distributed, checks it (`v`,
against the previous version when there is one) and records a train/test
split (`t`). Everything goes through Workspace methods; the slow ones
(ingest, validate, split) run in thread workers so the UI never freezes.
Data that arrives on its own comes through sources: the Sources panel at the
bottom (`widgets/sources_panel.py`) lists them, `a` adds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.tui.dialogs.ingest import IngestDialog
from mlcycle_tui.tui.dialogs.source import SourceDialog
from mlcycle_tui.tui.dialogs.split import SplitDialog
from mlcycle_tui.tui.dialogs.text import TextDialog
from mlcycle_tui.tui.format import ago, column_stats, number, plural, share
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets.column_chart import ColumnChart
from mlcycle_tui.tui.widgets.data_panels import column_text, splits_text, validation_text, version_facts
from mlcycle_tui.tui.widgets.fit_table import FitTable, is_current
from mlcycle_tui.tui.widgets.sources_panel import SourcesPanel

if TYPE_CHECKING:
    from mlcycle_tui.data.splits import Split
    from mlcycle_tui.data.versions import DatasetVersion

EMPTY_TEXT = (
    "No datasets yet — press [b]i[/b] to import a CSV, Parquet, JSON lines or SQLite file "
    "(try sample_data/penguins.csv)"
)
TABS = {"1": "tab-chart", "2": "tab-validation", "3": "tab-splits"}
KIND_SHORT = {"categorical": "categ.", "numeric": "num", "datetime": "date", "boolean": "bool"}
"""Kinds in the profile table of a narrow terminal."""


def dataset_columns(narrow: bool) -> list[tuple[str, str]]:
    return [("name", "name"), ("ver", "ver")] + ([] if narrow else [("rows", "rows")])


def version_columns(narrow: bool) -> list[tuple[str, str]]:
    return [("ver", "ver"), ("rows", "rows"), ("cols", "cols")] + ([] if narrow else [("created", "created")])


def profile_columns(narrow: bool) -> list[tuple[str, str]]:
    """The profile table's columns: on a narrow terminal shorter headers and missing as a count only."""
    if narrow:
        return [("column", "column"), ("kind", "kind"), ("missing", "miss"), ("unique", "uniq"), ("stats", "stats"),
                ("dtype", "dtype")]
    return [("column", "column"), ("kind", "kind"), ("missing", "missing"), ("unique", "unique"), ("stats", "stats"),
            ("dtype", "dtype")]


PROFILE_ELASTIC = ("column", "stats")


class DataScreen(StageScreen):
    STAGE_ID = "data"
    STAGE_KEY = "d"
    STAGE_TITLE = "Data"
    STAGE_SUMMARY = "Import, profile, validate and split datasets"
    HELP = (
        "Datasets are listed on the left (latest version), with the versions of the selected one "
        "below. The profile table shows every column of the selected version; move through it to "
        "chart a column. **Validate** checks quality (and, from version 2 on, compares with the "
        "previous version: removed or retyped columns are errors). **Split** records a reproducible "
        "train/test split that training will use. **1**, **2** and **3** show the Chart, Validation "
        "and Splits tabs; **enter** on a column shows its whole profile (a narrow terminal cuts the "
        "stats with …). Importing identical content again returns the existing version instead of "
        "making a new one."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "ingest", "Import", tooltip="import a file as a new dataset version", id="data.ingest"),
        Binding("v", "validate", "Validate", tooltip="check the selected version", id="data.validate"),
        Binding("t", "split", "Split", tooltip="record a train/test split", id="data.split"),
        Binding("a", "add_source", "Add source", tooltip="watch a folder, SQLite query or JSON-lines file",
                id="data.add_source"),
        Binding("g", "run_source", "Run source", tooltip="run the source highlighted below now", id="data.run_source"),
        Binding("r", "reload", "Refresh", id="data.refresh"),
        Binding("1", "tab('tab-chart')", "Chart tab", show=False, id="data.tab_chart"),
        Binding("2", "tab('tab-validation')", "Validation tab", show=False, id="data.tab_validation"),
        Binding("3", "tab('tab-splits')", "Splits tab", show=False, id="data.tab_splits"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: DatasetVersion | None = None
        self._versions: dict[str, DatasetVersion] = {}
        self.chart_column: str | None = None
        """The column the chart shows (kept when the screen reloads the same version)."""
        self._validations: dict[int, dict[str, Any]] = {}
        """The last validation of each dataset version id shown on this screen."""

    def compose_body(self) -> ComposeResult:
        yield Static(EMPTY_TEXT, id="data-empty", classes="empty")
        with Horizontal(id="data-main"):
            with Vertical(id="data-left"):
                yield Static("Datasets", classes="section-title")
                datasets = FitTable(id="datasets", cursor_type="row")
                datasets.set_columns(dataset_columns(False), elastic=("name",))
                yield datasets
                yield Static("Versions", classes="section-title")
                versions = FitTable(id="versions", cursor_type="row")
                versions.set_columns(version_columns(False))
                yield versions
            with Vertical(id="data-right"):
                yield Static(id="version-facts")
                profile = FitTable(id="profile", cursor_type="row", zebra_stripes=True)
                profile.set_columns(profile_columns(False), elastic=PROFILE_ELASTIC)
                yield profile
                with TabbedContent(id="details"):
                    with TabPane("1 Chart", id="tab-chart"):
                        yield ColumnChart(id="chart")
                    with TabPane("2 Validation", id="tab-validation"), VerticalScroll():
                        yield Static(id="validation")
                    with TabPane("3 Splits", id="tab-splits"), VerticalScroll():
                        yield Static(id="splits")
        yield SourcesPanel(id="data-sources")

    def on_mount(self) -> None:
        super().on_mount()
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def layout_changed(self) -> None:
        narrow = self.narrow
        self.query_one("#datasets", FitTable).set_columns(dataset_columns(narrow), elastic=("name",))
        self.query_one("#versions", FitTable).set_columns(version_columns(narrow))
        self.query_one("#profile", FitTable).set_columns(profile_columns(narrow), elastic=PROFILE_ELASTIC)
        if self.selected is not None:
            self._fill_profile(self.selected)

    def action_tab(self, tab: str) -> None:
        """1, 2, 3: the Chart, Validation and Splits tabs."""
        if self.selected is not None:
            self.query_one("#details", TabbedContent).active = tab

    def service_event(self, kind: str) -> None:
        """The app's scheduler ran a source: its new version shows without a key press."""
        if kind == "source":
            self.action_reload()
            self.query_one(SourcesPanel).reload()

    # -- loading ---------------------------------------------------------
    def action_reload(self, select: str | None = None, version: int | None = None) -> None:
        """Re-read the dataset list; keep (or move to) the selected dataset and version."""
        datasets = self.workspace.data.datasets()
        self.query_one("#data-empty").display = not datasets
        self.query_one("#data-main").display = bool(datasets)
        if select is None and self.selected is not None:
            select, version = self.selected.name, version or self.selected.version
        table = self.query_one("#datasets", FitTable)
        table.set_rows((ds.name, {"name": ds.name, "ver": str(ds.version), "rows": f"{ds.rows:,}"}) for ds in datasets)
        if not datasets:
            self.selected = None
            self.refresh_bindings()
            return
        names = [ds.name for ds in datasets]
        row = names.index(select) if select in names else 0
        self._show_dataset(names[row], version)
        table.move_cursor(row=row, animate=False)
        if self.focused is None:
            table.focus()

    @on(DataTable.RowHighlighted, "#datasets")
    def _dataset_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        name = str(event.row_key.value)
        if self.selected is None or self.selected.name != name:
            self._show_dataset(name)

    def _show_dataset(self, name: str, version: int | None = None) -> None:
        versions = self.workspace.data.versions(name)
        self._versions = {str(v.version): v for v in versions}
        table = self.query_one("#versions", FitTable)
        table.set_rows((str(v.version), {"ver": str(v.version), "rows": f"{v.rows:,}", "cols": str(v.columns),
                                         "created": ago(v.created)}) for v in versions)
        chosen = next((i for i, v in enumerate(versions) if v.version == version), 0)
        table.move_cursor(row=chosen, animate=False)
        self._show_version(versions[chosen])

    @on(DataTable.RowHighlighted, "#versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        ds = self._versions.get(str(event.row_key.value))
        if ds is not None and (self.selected is None or self.selected.id != ds.id):
            self._show_version(ds)

    def _show_version(self, ds: DatasetVersion) -> None:
        """Show a version; the same version again (a reload) keeps its column, chart and tab."""
        same = self.selected is not None and self.selected.id == ds.id
        self.selected = ds
        self.refresh_bindings()
        self.query_one("#version-facts", Static).update(version_facts(ds))
        columns = [c["name"] for c in ds.profile["columns"]]
        keep = self.chart_column if same and self.chart_column in columns else None
        self._fill_profile(ds)
        profile = self.query_one("#profile", FitTable)
        if keep is None:
            self.chart_column = columns[0] if columns else None
            self.query_one("#chart", ColumnChart).show(ds.column(self.chart_column) if self.chart_column else None)
            profile.move_cursor(row=0, animate=False)
        elif profile.row_keys.index(keep) != profile.cursor_row:
            profile.move_cursor(row=profile.row_keys.index(keep), animate=False)
        validated = self._validations.get(ds.id)
        if validated is not None:
            self.query_one("#validation", Static).update(validation_text(validated))
        elif not same:
            previous = f" against {ds.name}@{ds.version - 1}" if ds.version > 1 else ""
            self.query_one("#validation", Static).update(f"Press [b]v[/b] to validate {ds.ref}{previous}.")
        self._show_splits(ds.ref, self.workspace.splits.list(ds.ref))

    def _fill_profile(self, ds: DatasetVersion) -> None:
        narrow = self.narrow
        rows = []
        for col in ds.profile["columns"]:
            missing = f"{col['missing']:,}" if narrow or not col["missing"] else (
                f"{col['missing']:,} ({share(col['missing_share'])})")
            kind = KIND_SHORT.get(col["kind"], col["kind"]) if narrow else col["kind"]
            unique = ("≈" if col.get("distinct_approximate") else "") + number(col["unique"])  # ≈: an estimate
            rows.append((col["name"], {"column": col["name"], "kind": kind, "missing": missing,
                                       "unique": unique, "stats": column_stats(col),
                                       "dtype": col["dtype"]}))
        self.query_one("#profile", FitTable).set_rows(rows)

    @on(DataTable.RowHighlighted, "#profile")
    def _column_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Moving to another column charts it (and shows the chart); a refill of the same one changes nothing."""
        name = str(event.row_key.value)
        if self.selected is None or not is_current(event) or name == self.chart_column:
            return
        self.chart_column = name
        self.query_one("#chart", ColumnChart).show(self.selected.column(name))
        self.query_one("#details", TabbedContent).active = "tab-chart"

    @on(DataTable.RowSelected, "#profile")
    def _column_chosen(self, event: DataTable.RowSelected) -> None:
        """Enter on a column: its whole profile (a narrow table cuts the stats)."""
        if self.selected is not None:
            col = self.selected.column(str(event.row_key.value))
            if col is not None:
                self.app.push_screen(TextDialog(f"{self.selected.ref} · {col['name']}", column_text(col),
                                                markup=True))

    def _show_splits(self, ref: str, splits: list[Split]) -> None:
        self.query_one("#splits", Static).update(splits_text(ref, splits))

    # -- actions ---------------------------------------------------------
    def action_ingest(self) -> None:
        def done(ds: DatasetVersion | None) -> None:
            if ds is None:
                return
            self.selected = None
            self.action_reload(select=ds.name, version=ds.version)
            if ds.existing:
                self.notify(f"Same content as {ds.ref}: no new version was made.", title="Nothing new")
            else:
                self.notify(f"{ds.ref}: {plural(ds.rows, 'row')} × {plural(ds.columns, 'column')}.",
                            title="Imported")
            self.query_one("#profile").focus()

        self.app.push_screen(IngestDialog(self.workspace), done)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("validate", "split") and self.selected is None:
            return None  # shown dimmed in the footer: nothing to act on yet
        if action == "run_source":
            panels = self.query(SourcesPanel)
            return True if panels and panels.first().highlighted() is not None else None
        return True

    def action_validate(self) -> None:
        if self.selected is None:
            return
        ds = self.selected
        reference = f"{ds.name}@{ds.version - 1}" if ds.version > 1 else None
        self.query_one("#validation", Static).update(f"Validating {ds.ref}…")
        self.query_one("#details", TabbedContent).active = "tab-validation"
        self._validate(ds.ref, reference)

    @work(thread=True, exclusive=True, group="validate")
    def _validate(self, ref: str, reference: str | None) -> None:
        try:
            result = self.workspace.data.validate(ref, reference=reference)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, "Validation failed", exc.message)
            return
        self.app.call_from_thread(self._validated, result)

    def _validated(self, result: dict[str, Any]) -> None:
        if self.selected is not None and self.selected.ref == result.get("dataset"):
            self._validations[self.selected.id] = result
        self.query_one("#validation", Static).update(validation_text(result))
        self.query_one("#details", TabbedContent).active = "tab-validation"
        errors, warnings = len(result["errors"]), len(result["warnings"])
        self.notify(
            f"{result['dataset']}: {plural(errors, 'error')}, {plural(warnings, 'warning')}.",
            title="Validation passed" if result["ok"] else "Validation failed",
            severity="information" if result["ok"] else "error",
        )

    def action_split(self) -> None:
        if self.selected is None:
            return
        ds = self.selected

        def chosen(options: dict[str, Any] | None) -> None:
            if options is not None:
                self.query_one("#details", TabbedContent).active = "tab-splits"
                self.query_one("#splits", Static).update(f"Splitting {ds.ref}…")
                self._split(ds.ref, options)

        self.app.push_screen(SplitDialog(ds.ref, ds.profile["columns"], ds.target, ds.time_column), chosen)

    @work(thread=True, exclusive=True, group="split")
    def _split(self, ref: str, options: dict[str, Any]) -> None:
        try:
            split = self.workspace.splits.create(ref, **options)
            splits = self.workspace.splits.list(ref)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, "Split failed", exc.message)
            splits = self.workspace.splits.list(ref)
            self.app.call_from_thread(self._show_splits, ref, splits)
            return
        self.app.call_from_thread(self._split_done, split, splits)

    def _split_done(self, split: Split, splits: list[Split]) -> None:
        self._show_splits(split.dataset, splits)
        self.query_one("#details", TabbedContent).active = "tab-splits"
        what = "Existing split" if split.existing else "Split"
        self.notify(
            f"{what} {split.split_id}: {split.train_rows:,} train / {plural(split.test_rows, 'test row')}.",
            title=f"{split.dataset} split",
        )

    def action_add_source(self) -> None:
        def created(doc: dict[str, Any] | None) -> None:
            if doc is not None:
                self.services.sync_schedules()
                self.notify(f"source {doc['source_id']}: {doc['kind']} {doc['location']} → {doc['dataset']}, every "
                            f"{doc['every']} (g runs it now)", title="Source added")
                self.query_one(SourcesPanel).reload()

        self.app.push_screen(SourceDialog(self.workspace), created)

    def action_run_source(self) -> None:
        self.query_one(SourcesPanel).run_highlighted()

    def on_sources_panel_ingested(self, event: SourcesPanel.Ingested) -> None:
        self.selected = None
        self.action_reload(select=event.dataset, version=event.version)

    def _failed(self, title: str, message: str) -> None:
        self.notify(message, title=title, severity="error", timeout=10)
