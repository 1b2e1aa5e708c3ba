"""Listing a SQLite file's tables and views (sqlite-utils, read-only) and ingesting one of them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.data.readers import read_table, sqlite_tables
from mlcycle_tui.workspace import Workspace

ODD = 'my "odd" table'  # a double quote and spaces
BRACKET = "prices]2024"  # a closing bracket: breaks [bracket] quoting


def _odd_file(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute(
        'CREATE TABLE "my ""odd"" table" (id INTEGER PRIMARY KEY AUTOINCREMENT, "first name" TEXT, "a""b" REAL)'
    )
    con.executemany('INSERT INTO "my ""odd"" table"("first name", "a""b") VALUES (?, ?)', [("Ann", 1.5), ("Bo", 2.5)])
    con.execute('CREATE TABLE "prices]2024" (sku TEXT, price REAL)')
    con.executemany('INSERT INTO "prices]2024" VALUES (?, ?)', [("a", 1.0), ("b", 2.0), ("c", 3.0)])
    con.execute('CREATE VIEW "big spenders" AS SELECT "first name" FROM "my ""odd"" table" WHERE "a""b" > 2')
    con.commit()
    con.close()
    return path


def test_tables_and_views_with_columns_and_row_counts(tmp_path: Path) -> None:
    path = _odd_file(tmp_path / "odd.db")
    before = path.read_bytes()
    assert sqlite_tables(path) == [
        {"name": "big spenders", "kind": "view", "columns": ["first name"], "rows": 1},
        {"name": ODD, "kind": "table", "columns": ["id", "first name", 'a"b'], "rows": 2},
        {"name": BRACKET, "kind": "table", "columns": ["sku", "price"], "rows": 3},
    ]  # sorted by name; AUTOINCREMENT's own sqlite_sequence table is left out
    assert path.read_bytes() == before  # opened read-only: nothing written


def test_the_data_stage_lists_the_same(workspace: Workspace, tmp_path: Path) -> None:
    path = _odd_file(tmp_path / "odd.sqlite")
    assert workspace.data.sqlite_tables(str(path)) == sqlite_tables(path)
    assert workspace.data.format_of(path) == "sqlite"
    assert workspace.data.format_of(tmp_path / "x.sqlite3") == workspace.data.format_of("y.DB") == "sqlite"
    assert workspace.data.format_of("data.csv") == "csv" and workspace.data.format_of("notes.md") is None


def test_ingest_a_table_or_view_with_an_odd_name(workspace: Workspace, tmp_path: Path) -> None:
    path = _odd_file(tmp_path / "odd.db")
    ds = workspace.data.ingest(path, name="odd", table=ODD)
    frame = workspace.data.load_frame(ds)
    assert list(frame.columns) == ["id", "first name", 'a"b'] and frame["first name"].tolist() == ["Ann", "Bo"]
    assert workspace.data.ingest(path, name="prices", table=BRACKET).rows == 3
    assert workspace.data.load_frame(workspace.data.ingest(path, name="v", table="big spenders"))[
        "first name"
    ].tolist() == ["Bo"]


def test_several_tables_message_lists_them_and_marks_views(tmp_path: Path) -> None:
    path = _odd_file(tmp_path / "odd.db")
    with pytest.raises(UserError) as err:
        read_table(path)
    assert err.value.message == (
        f"{path} holds several tables; choose one with --table "
        f"(tables: big spenders (view), {ODD}, {BRACKET})"
    )
    with pytest.raises(UserError, match=r"has no table 'nope'; tables there: big spenders \(view\)"):
        read_table(path, table="nope")


def test_one_table_is_chosen_without_asking(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite3"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)")  # + sqlite_sequence
    con.execute("INSERT INTO t(v) VALUES ('x')")
    con.commit()
    con.close()
    assert [t["name"] for t in sqlite_tables(path)] == ["t"]
    assert read_table(path)["v"].tolist() == ["x"]


def test_a_view_sqlite_cannot_compute_is_listed_and_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE gone (x)")
    con.execute("CREATE TABLE kept (x)")
    con.execute("CREATE VIEW stale AS SELECT x FROM gone")
    con.execute("DROP TABLE gone")
    con.commit()
    con.close()
    assert sqlite_tables(path) == [
        {"name": "kept", "kind": "table", "columns": ["x"], "rows": 0},
        {"name": "stale", "kind": "view", "columns": [], "rows": None},
    ]
    with pytest.raises(UserError) as err:
        read_table(path, table="stale")
    assert "table 'stale' could not be read (no such table: main.gone); fix it in the database" in err.value.message


def test_a_file_with_no_tables_says_so(tmp_path: Path) -> None:
    path = tmp_path / "blank.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.execute("DROP TABLE t")  # a valid database file, now without tables
    con.commit()
    con.close()
    assert sqlite_tables(path) == []
    with pytest.raises(UserError, match="holds no tables or views; nothing to ingest"):
        read_table(path)


@pytest.mark.parametrize(
    "content,error,needle",
    [
        (b"id,name\n1,x\n", UserError, "is not a SQLite database (file is not a database); give the path of a SQLite"),
        (b"", UserError, "is empty (0 bytes), not a SQLite database"),
        (None, NotFoundError, "no such file"),
    ],
)
def test_not_sqlite_gets_a_clear_error(tmp_path: Path, content: bytes | None, error: type, needle: str) -> None:
    path = tmp_path / "not.db"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error) as err:
        sqlite_tables(path)
    assert needle in err.value.message
    if content:
        with pytest.raises(UserError, match="is not a SQLite database"):
            read_table(path)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a folder; give the path of a SQLite file"):
        sqlite_tables(tmp_path)


def test_a_name_with_uri_characters_opens(tmp_path: Path) -> None:
    path = _odd_file(tmp_path / "odd #1?%20.db")
    assert len(sqlite_tables(path)) == 3
