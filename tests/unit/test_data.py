"""Ingest, dataset versions and profiles, on real files in every supported format."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def test_ingest_csv_profile_and_kinds(ws):
    ds = ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    assert (ds.name, ds.version, ds.rows, ds.columns) == ("penguins", 1, 344, 8)
    assert len(ds.sha256) == 64
    kinds = {c["name"]: c["kind"] for c in ds.profile["columns"]}
    assert kinds["species"] == "categorical"
    assert kinds["bill_length_mm"] == "numeric"
    bill = ds.column("bill_length_mm")
    assert bill["missing"] == 2
    assert bill["min"] == pytest.approx(32.1)
    assert sum(bill["histogram"]["counts"]) == 342
    assert ds.column("sex")["missing"] == 11
    assert {t["value"] for t in ds.column("island")["top"]} == {"Biscoe", "Dream", "Torgersen"}
    # the stored artifact is Parquet and reloads to the same frame
    frame = ws.data.load_frame("penguins@1")
    assert frame.shape == (344, 8)


def test_identical_content_gives_same_version_changed_gives_new(ws, tmp_path):
    a = ws.data.ingest(SAMPLES / "penguins.csv", name="p", target="species")
    b = ws.data.ingest(SAMPLES / "penguins.csv", name="p", target="species")
    assert b.version == a.version and b.existing
    changed = tmp_path / "changed.csv"
    changed.write_text((SAMPLES / "penguins.csv").read_text() + "Adelie,Dream,40.0,18.0,190.0,3700.0,male,2009\n")
    c = ws.data.ingest(changed, name="p", target="species")
    assert c.version == 2 and c.rows == 345
    assert [v.version for v in ws.data.versions("p")] == [2, 1]
    assert ws.data.dataset("p").version == 2
    assert ws.data.dataset("p@1").rows == 344


def test_dates_parsed_and_time_column(ws):
    ds = ws.data.ingest(SAMPLES / "seattle_weather.csv", name="w", target="weather", time_column="date")
    assert ds.column("date")["kind"] == "datetime"
    assert ds.column("date")["min"].startswith("2012-01-01")
    frame = ws.data.load_frame(ds)
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])


def test_semicolon_delimiter_quotes_and_cp1252(ws, tmp_path):
    path = tmp_path / "euro.csv"
    text = 'city;note;price\n"Zürich";"a; quoted\nfield";1.5\nKöln;plain;2.5\n"São Paulo";x;3\n'
    path.write_bytes(text.encode("cp1252"))
    ds = ws.data.ingest(path, name="euro")
    frame = ws.data.load_frame(ds)
    assert list(frame.columns) == ["city", "note", "price"]
    assert frame["city"].tolist() == ["Zürich", "Köln", "São Paulo"]
    assert frame["note"][0] == "a; quoted\nfield"
    assert frame["price"].sum() == pytest.approx(7.0)


def test_parquet_jsonl_sqlite(ws, tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "t": pd.to_datetime(["2024-01-01"] * 3)})
    frame.to_parquet(tmp_path / "f.parquet")
    (tmp_path / "f.jsonl").write_text("\n".join(json.dumps({"a": i, "b": s}) for i, s in [(1, "x"), (2, "y")]))
    con = sqlite3.connect(tmp_path / "f.sqlite")
    con.execute("CREATE TABLE items(a INTEGER, b TEXT)")
    con.executemany("INSERT INTO items VALUES (?, ?)", [(1, "x"), (2, "y"), (3, "z")])
    con.commit()
    con.close()
    assert ws.data.ingest(tmp_path / "f.parquet", name="pq").rows == 3
    assert ws.data.ingest(tmp_path / "f.jsonl", name="jl").rows == 2
    assert ws.data.ingest(tmp_path / "f.sqlite", name="sq", table="items").rows == 3
    # one table: no --table needed
    assert ws.data.ingest(tmp_path / "f.sqlite", name="sq2").rows == 3


def test_dataframe_ingest_and_unknown_ref(ws):
    ds = ws.data.ingest(pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}), name="df", target="y")
    assert ds.rows == 2
    with pytest.raises(NotFoundError, match="known datasets: df@1"):
        ws.data.dataset("nope")
    with pytest.raises(NotFoundError):
        ws.data.dataset("df@7")
    with pytest.raises(UserError, match="duplicate column names: a; rename them"):
        ws.data.ingest(pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"]), name="dupes")
    assert [d.name for d in ws.data.datasets()] == ["df"]


BAD_FILES = {
    "empty.csv": (b"", "empty"),
    "header_only.csv": (b"a,b,c\n", "no rows"),
    "ragged.csv": (b"a,b,c\n1,2,3\n4,5\n", "ragged"),
    "binary.csv": (b"\x00\x01\x02\x03PK\x00\x00binary" * 10, "binary"),
    "unknown_encoding.csv": (b"a,b\n\x81\x8d\x8f,\x90\x9d\n", "encoding"),
    "dupes.csv": (b"a,b,a\n1,2,3\n", "duplicate column names: a"),
    "blank.csv": (b"\n\n\n", "blank"),
    "array.jsonl": (b'[{"a": 1}]', "JSON array"),
}


@pytest.mark.parametrize("filename", sorted(BAD_FILES))
def test_bad_files_are_refused_and_change_nothing(ws, tmp_path, filename):
    content, message = BAD_FILES[filename]
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        ws.data.ingest(path, name="bad")
    assert ws.data.datasets() == []
    assert list(ws.artifacts.iter_objects()) == []


def test_bad_options_are_refused(ws, tmp_path):
    with pytest.raises(UserError, match="--target 'nope' is not a column"):
        ws.data.ingest(SAMPLES / "penguins.csv", name="p", target="nope")
    with pytest.raises(UserError, match="--time-column 'nope'"):
        ws.data.ingest(SAMPLES / "penguins.csv", name="p", time_column="nope")
    with pytest.raises(UserError, match="could not be read as dates"):
        ws.data.ingest(SAMPLES / "penguins.csv", name="p", time_column="island")
    with pytest.raises(UserError, match="invalid dataset name"):
        ws.data.ingest(SAMPLES / "penguins.csv", name="a/b")
    with pytest.raises(UserError, match="invalid dataset name"):
        ws.data.ingest(SAMPLES / "penguins.csv", name="..")
    with pytest.raises(NotFoundError, match="no such file"):
        ws.data.ingest(tmp_path / "missing.csv", name="p")
    con = sqlite3.connect(tmp_path / "two.sqlite")
    con.execute("CREATE TABLE a(x)")
    con.execute("CREATE TABLE b(x)")
    con.close()
    with pytest.raises(UserError, match="no table 'c'"):
        ws.data.ingest(tmp_path / "two.sqlite", name="s", table="c")
    with pytest.raises(UserError, match="several tables"):
        ws.data.ingest(tmp_path / "two.sqlite", name="s")
    assert ws.data.datasets() == []


def test_corrupted_artifact_is_refused_and_doctor_reports_it(ws):
    ds = ws.data.ingest(SAMPLES / "penguins.csv", name="p")
    assert ws.doctor()["ok"]
    ws.artifacts.path(ds.artifact_path).write_bytes(b"not parquet")
    with pytest.raises(Exception, match="corrupted"):
        ws.data.load_frame("p")
    report = ws.doctor()
    assert not report["ok"]
    assert report["problems"][0]["owner"] == "p@1"


def test_doctor_finds_and_fixes_orphans(ws):
    ws.artifacts.put_bytes(b"stray", ".bin")
    report = ws.doctor()
    assert len(report["orphans"]) == 1
    assert ws.doctor(fix=True)["removed_orphans"] == 0  # too young: maybe a write in progress
    ws.doctor(fix=True, orphan_grace_s=0)
    assert ws.doctor()["orphans"] == []


def test_events_timeline_records_ingest(ws):
    ws.data.ingest(SAMPLES / "penguins.csv", name="p")
    events = ws.events.recent()
    assert events[0]["kind"] == "ingest" and events[0]["subject"] == "p@1"


def test_empty_last_field_is_not_a_ragged_row(ws, tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,c\n1,2,\n4,5,6\n")
    frame = ws.data.load_frame(ws.data.ingest(path, name="gaps"))
    assert frame.shape == (2, 3)
    assert frame["c"].isna().sum() == 1


def test_mixed_numbers_and_text_in_a_large_csv_become_one_text_column(ws, tmp_path):
    path = tmp_path / "mixed.csv"
    lines = ["a,b"] + [f"{i},{i}" for i in range(300_000)] + [f"x{i},{i}" for i in range(15_000)]
    path.write_text("\n".join(lines) + "\n")
    ds = ws.data.ingest(path, name="mixed")
    col = ds.column("a")
    assert col["dtype"] == "str" and col["unique"] == 315_000
    codes = {(w["code"], w["column"]) for w in ws.data.validate("mixed")["warnings"]}
    assert ("mixed_types", "a") in codes
