"""A DataTable that asks for the next or previous page at its edges.

Why this exists: a workspace can hold 100,000 runs and a DataTable keeps
every row in memory, so the Experiments screen shows one page from SQL at a
time. PageDown on the last row (PageUp on the first) posts `PageRequest`
instead of doing nothing, so paging through the whole store feels like
scrolling one long table.
"""

from __future__ import annotations

from textual.message import Message
from textual.widgets import DataTable


class RunTable(DataTable[str]):
    """The runs table: PageUp/PageDown move the cursor, and past the edge load a page."""

    class PageRequest(Message):
        """Posted when the cursor is pushed past the first or last row."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.PageRequest(+1))
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.PageRequest(-1))
            return
        super().action_page_up()
