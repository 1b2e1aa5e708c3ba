"""`mlcycle data tables FILE` and ingesting a chosen table, through the real entry point."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _shop(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    con.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "Ann"), (2, "Bo")])
    con.execute('CREATE TABLE "order lines" (customer INTEGER, sku TEXT, amount REAL)')
    con.executemany('INSERT INTO "order lines" VALUES (?, ?, ?)', [(1, "a", 9.5), (2, "b", 3.0), (2, "c", 1.0)])
    con.execute('CREATE VIEW big AS SELECT * FROM "order lines" WHERE amount > 2')
    con.commit()
    con.close()
    return path


def test_tables_json_and_text(tmp_path: Path) -> None:
    db = _shop(tmp_path / "shop.db")
    r = mlcycle(tmp_path / "ws", "data", "tables", str(db), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        {"name": "big", "kind": "view", "columns": ["customer", "sku", "amount"], "rows": 2},
        {"name": "customers", "kind": "table", "columns": ["id", "name"], "rows": 2},
        {"name": "order lines", "kind": "table", "columns": ["customer", "sku", "amount"], "rows": 3},
    ]

    r = mlcycle(tmp_path / "ws", "data", "tables", str(db))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "ROWS", "COLUMNS"]
    assert lines[3].split() == ["order", "lines", "table", "3", "customer,", "sku,", "amount"]
    assert lines[-1] == f"import one with `mlcycle data ingest {db} --table NAME --name DATASET`"


def test_ingest_the_table_listed(tmp_path: Path) -> None:
    db = _shop(tmp_path / "shop.sqlite")
    ws = tmp_path / "ws"
    r = mlcycle(ws, "data", "ingest", str(db), "--name", "orders", "--json")
    assert r.returncode == 2
    several = "holds several tables; choose one with --table (tables: big (view), customers, order lines)"
    assert several in r.stderr and several in json.loads(r.stdout)["error"]["message"]

    r = mlcycle(ws, "data", "ingest", str(db), "--name", "orders", "--table", "order lines", "--json")
    assert r.returncode == 0, r.stderr
    assert (json.loads(r.stdout)["rows"], json.loads(r.stdout)["columns"]) == (3, 3)
    show = json.loads(mlcycle(ws, "data", "show", "orders", "--json").stdout)
    assert [c["name"] for c in show["columns"]] == ["customer", "sku", "amount"]


def test_a_file_that_is_not_sqlite_is_one_line_exit_2(tmp_path: Path) -> None:
    fake = tmp_path / "fake.db"
    fake.write_text("id,name\n1,Ann\n")
    for path, needle in ((fake, "is not a SQLite database"), (tmp_path / "missing.db", "no such file")):
        r = mlcycle(tmp_path / "ws", "data", "tables", str(path), "--json")
        assert r.returncode == 2
        assert needle in json.loads(r.stdout)["error"]["message"]  # --json: one JSON document on stdout
        assert needle in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_mixed_encodings_through_the_cli_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    rows = "".join(f"{i},plain\n" for i in range(2, 3000)).encode()  # lines 3..3000
    path.write_bytes("id,city\n1,Café\n".encode() + rows + "3000,Caf\xe9\n".encode("cp1252"))
    r = mlcycle(tmp_path / "ws", "data", "ingest", str(path), "--name", "m")
    assert r.returncode == 2
    assert "mixes text encodings" in r.stderr and "line 3001 has a byte (0xE9)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
