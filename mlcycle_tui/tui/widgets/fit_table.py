"""A DataTable that fits its width: long columns are cut to the room left, ending in "…", never mid-word unseen.

Why this exists: at 80 columns a table of events, jobs or schedules is wider
than the terminal, and DataTable would scroll its last columns out of sight
or crop a message in the middle of a word. `FitTable` keeps the full cells,
gives the short columns what they need and shares the rest among its
*elastic* columns (a message, a reason, a result), cutting their text with
"…". When the table is resized it fits again. `full_text` gives a cell back
whole, so a screen can open it in full on Enter (`dialogs/text.py`).

Rows are given as mappings from column key to cell, so a screen can show
fewer columns on a narrow terminal (`set_columns`) without changing how it
builds its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.widgets import DataTable

from mlcycle_tui.tui.format import clip

Cell = str | Text
ELASTIC_MIN = 10
"""An elastic column never gets fewer cells than this (the table scrolls instead)."""


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _clip(cell: Cell, width: int) -> Cell:
    plain = _plain(cell)
    if cell_len(plain) <= width:
        return cell
    if isinstance(cell, Text):
        cut = cell.copy()
        cut.truncate(max(0, width - 1))
        cut.rstrip()
        cut.append("…")
        return cut
    return clip(plain, width)


def share_width(natural: Sequence[int], room: int, floor: int = ELASTIC_MIN) -> list[int]:
    """Widths of the elastic columns: each its natural width if all fit, else a fair share of `room`
    (a narrow column keeps its width and leaves the rest to the wide ones), never below `floor`."""
    widths = [0] * len(natural)
    left = room
    order = sorted(range(len(natural)), key=lambda i: natural[i])
    for n, i in enumerate(order):
        fair = left // (len(order) - n) if len(order) > n else left
        widths[i] = max(min(natural[i], fair), min(floor, natural[i]))
        left -= widths[i]
    return widths


class FitTable(DataTable[Any]):
    """`set_columns([(key, label)], elastic=(keys))`, then `set_rows([(row_key, {key: cell})])`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._columns: list[tuple[str, str]] = []
        self._elastic: tuple[str, ...] = ()
        self._rows: list[tuple[str, Mapping[str, Cell]]] = []
        self._fitted_for: int | None = None

    # -- what to show --------------------------------------------------------------
    def set_columns(self, columns: Sequence[tuple[str, str]], *, elastic: Iterable[str] = ()) -> None:
        """The columns shown (key, header) and which of them give way when the table is too narrow."""
        self._columns = list(columns)
        self._elastic = tuple(k for k in elastic if k in {c for c, _ in self._columns})
        self._fit()

    def set_rows(self, rows: Iterable[tuple[str, Mapping[str, Cell]]]) -> None:
        """Replace the rows; the cursor stays on the same row key when it is still there."""
        self._rows = [(str(key), cells) for key, cells in rows]
        self._fit()

    def full_text(self, row_key: str, column: str) -> str:
        """A cell as it was given, before any cut."""
        for key, cells in self._rows:
            if key == str(row_key):
                return _plain(cells.get(column, ""))
        return ""

    def row_cells(self, row_key: str) -> Mapping[str, Cell]:
        """All cells of a row as given (also those of columns hidden on a narrow terminal)."""
        return next((cells for key, cells in self._rows if key == str(row_key)), {})

    @property
    def row_keys(self) -> list[str]:
        return [key for key, _ in self._rows]

    # -- fitting -------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        if self._room() != self._fitted_for:
            self._fit()

    def _room(self) -> int:
        """Cells available to the columns: the width less a vertical scrollbar when the rows need one."""
        width = self.size.width
        if not width:
            return 0
        if len(self._rows) + (1 if self.show_header else 0) > self.size.height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def _widths(self, room: int) -> dict[str, int]:
        """Every column's width (set, never left to DataTable's auto width: a table refilled between two
        idle moments could draw cells cut to the header's width)."""
        pad = 2 * self.cell_padding
        natural = {
            key: max([cell_len(label)] + [cell_len(_plain(cells.get(key, ""))) for _, cells in self._rows])
            for key, label in self._columns
        }
        out = dict(natural)
        if not room:
            return out
        fixed = sum(natural[k] + pad for k, _ in self._columns if k not in self._elastic)
        elastic_room = room - fixed - pad * len(self._elastic)
        if self._elastic:
            shares = share_width([natural[k] for k in self._elastic], elastic_room)
            for key, width in zip(self._elastic, shares, strict=True):
                out[key] = max(width, cell_len(dict(self._columns)[key]))
        return out

    def _fit(self) -> None:
        room = self._room()
        widths = self._widths(room)
        keep = None
        if self.row_count and self.cursor_row is not None and 0 <= self.cursor_row < self.row_count:
            try:
                keep = str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
            except Exception:  # the cursor pointed past the rows: start at the top
                keep = None
        scroll_y = self.scroll_y
        self.clear(columns=True)
        for key, label in self._columns:
            self.add_column(label, key=key, width=widths[key])
        for row_key, cells in self._rows:
            shown = []
            for key, _label in self._columns:
                cell = cells.get(key, "")
                width = widths[key]
                shown.append(_clip(cell, width) if key in self._elastic else cell)
            self.add_row(*shown, key=row_key)
        self._fitted_for = room
        keys = self.row_keys
        if keep is not None and keep in keys:
            self.move_cursor(row=keys.index(keep), animate=False)
            self.scroll_y = scroll_y


def is_current(event: DataTable.RowHighlighted) -> bool:
    """Whether a highlight still describes the table: refilling a table posts one for its first row
    before the cursor moves back to where it was; that stale one must not change what is shown."""
    return event.cursor_row == event.data_table.cursor_row
