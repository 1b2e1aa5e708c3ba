"""Streamed ingest (block by block, bounded memory) makes the version in-memory ingest makes.

Real CSV files, forced into many tiny blocks; the same content hash, rows, dtypes, kinds and
data, and a profile that differs only where it says it is approximate."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.data.streaming import DEFAULT_BLOCK_BYTES, stream_csv
from mlcycle_tui.data.versions import Data
from mlcycle_tui.workspace import Workspace

# profile keys a streamed profile may estimate, by the flag that says so
FLAGGED = {"distinct_approximate": ("unique",), "quantiles_approximate": ("quantiles", "histogram"),
           "top_approximate": ("top",)}
MERGED = ("mean", "std")  # merged pairwise (Chan): equal up to rounding


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def rich_csv(path, rows=6000):
    """Numbers, an id, categories with gaps, ISO dates, day-first date times, booleans, text, and
    columns whose type changes near the end (an int column gets a gap, numbers get a word)."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "order_id": rng.permutation(rows) + 1,
        "amount": rng.normal(50, 20, rows).round(2),
        "qty": rng.integers(1, 9, rows).astype(object),
        "city": rng.choice(["Paris", "Lyon", "Nice", None], rows),
        "day": (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, rows), unit="D")).strftime(
            "%Y-%m-%d"),
        "when": (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, rows), unit="s")).strftime(
            "%d/%m/%Y %H:%M"),
        "flag": rng.choice(["True", "False"], rows),
        "note": [f"note {i % 3000} about {i % 7}" for i in range(rows)],
        "code": [str(i % 1500) for i in range(rows)],
        "big": rng.integers(0, 10**6, rows),
    })
    frame.loc[rows - 5, "qty"] = None  # an int column with one gap, late: floats
    frame.loc[rows - 3, "code"] = "X-9"  # numbers, then a word, late: text
    frame.loc[rng.integers(0, rows, 50), "amount"] = np.nan
    frame.loc[rows - 2, "day"] = None
    frame.to_csv(path, index=False)
    return path


def assert_same_version(a, b):
    assert (a.sha256, a.rows, a.columns, a.schema) == (b.sha256, b.rows, b.columns, b.schema)
    assert a.profile["duplicate_rows"] == b.profile["duplicate_rows"]
    for ca, cb in zip(a.profile["columns"], b.profile["columns"], strict=True):
        loose = {k for flag, keys in FLAGGED.items() if cb.get(flag) for k in keys}
        for key in sorted(set(ca) | set(cb) - set(FLAGGED)):
            if key in loose:
                continue
            if key in MERGED and ca[key] is not None:
                assert math.isclose(ca[key], cb[key], rel_tol=1e-9), (ca["name"], key)
            else:
                assert ca.get(key) == cb.get(key), (ca["name"], key)


def test_streamed_version_equals_the_in_memory_one(ws, tmp_path):
    path = rich_csv(tmp_path / "orders.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas on day-first dates
        whole = ws.data.ingest(path, name="whole", target="amount", time_column="day")
        said = []
        streamed = ws.data.ingest(path, name="streamed", target="amount", time_column="day", stream=True,
                                  block_bytes=20_000, progress=lambda _f, m: said.append(m))
    assert sum(m.startswith("streaming") for m in said) > 20  # many blocks
    assert any("'qty' is float64 further on" in m for m in said)  # read again, with the wider type
    assert_same_version(whole, streamed)
    pd.testing.assert_frame_equal(ws.data.load_frame(whole), ws.data.load_frame(streamed))
    kinds = {c["name"]: c["kind"] for c in streamed.profile["columns"]}
    assert kinds == {"order_id": "id", "amount": "numeric", "qty": "numeric", "city": "categorical",
                     "day": "datetime", "when": "datetime", "flag": "boolean", "note": "text",
                     "code": "categorical", "big": "numeric"}
    assert streamed.column("big")["quantiles_approximate"] and "quantiles_approximate" not in whole.column("big")
    assert streamed.column("code")["dtype"] == "str"
    # the exact distinct counts are exact above the 1,000 values kept in the merge state
    assert streamed.column("note")["unique"] == whole.column("note")["unique"] == 6000
    assert "distinct_approximate" not in streamed.column("note")


def test_past_the_exact_limit_distinct_counts_are_estimates_and_say_so(ws, tmp_path):
    path = rich_csv(tmp_path / "orders.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        whole = ws.data.ingest(path, name="whole")
        done = stream_csv(path, ws.artifacts, target=None, time_column=None, block_bytes=50_000,
                          exact_distinct=500, report=lambda _f, _m: None)
    assert done.content == whole.sha256
    for col, ref in zip(done.profile["columns"], whole.profile["columns"], strict=True):
        assert col["kind"] == ref["kind"], col["name"]  # the id stays an id: its values read back
        if ref["unique"] > 500 and col["name"] != "order_id":  # (an id's count is exact: all distinct)
            assert col["distinct_approximate"] is True, col["name"]
            assert abs(col["unique"] - ref["unique"]) <= 0.05 * ref["unique"], col["name"]
        else:
            assert col["unique"] == ref["unique"] and "distinct_approximate" not in col, col["name"]


CSV_BAD = {
    "header_only.csv": b"a,b,c\n",
    "ragged.csv": b"a,b,c\n1,2,3\n4,5\n",
    "binary.csv": b"\x00\x01\x02\x03PK\x00\x00binary" * 10,
    "unknown_encoding.csv": b"a,b\n\x81\x8d\x8f,\x90\x9d\n",
    "dupes.csv": b"a,b,a\n1,2,3\n",
    "blank.csv": b"\n\n\n",
    "prose.csv": b"This is a sentence about nothing in particular.\nAnd another one follows it here.\n",
}


def refusal(ingest, path):
    with pytest.raises(UserError) as caught:
        ingest(path)
    return str(caught.value)


@pytest.mark.parametrize("filename", sorted(CSV_BAD))
def test_bad_files_are_refused_alike_when_streamed(ws, tmp_path, filename):
    path = tmp_path / filename
    path.write_bytes(CSV_BAD[filename])
    whole = refusal(lambda p: ws.data.ingest(p, name="bad", format="csv"), path)
    streamed = refusal(lambda p: ws.data.ingest(p, name="bad", format="csv", stream=True, block_bytes=64), path)
    assert streamed == whole
    assert ws.data.datasets() == [] and list(ws.artifacts.iter_objects()) == [] and ws.artifacts.tmp_files() == []


@pytest.mark.parametrize(("tail", "said"), [(b"1,2,3,4\n", "ragged rows at line 20003: expected 3 fields, found 4"),
                                            (b"5,6\n", "ragged rows at line 20003: expected 3 fields, found 2"),
                                            (b"7,\xe9t\xe9,8\n", "line 20003 has a byte (0xE9) that is not UTF-8")],
                         ids=["long", "short", "encoding"])
def test_a_malformed_row_in_a_late_block_is_refused_as_in_memory(ws, tmp_path, tail, said):
    path = tmp_path / "late.csv"
    rows = b"".join(b"%d,x%d,%d\n" % (i, i % 10, i) for i in range(20_000))
    path.write_bytes(b"a,b,c\n1,\xc3\xa9t\xc3\xa9,1\n" + rows + tail + b"9,9,9\n")  # UTF-8 first, then not
    whole = refusal(lambda p: ws.data.ingest(p, name="late"), path)
    streamed = refusal(lambda p: ws.data.ingest(p, name="late", stream=True, block_bytes=4096), path)
    assert streamed == whole and said in whole
    assert ws.data.datasets() == [] and list(ws.artifacts.iter_objects()) == [] and ws.artifacts.tmp_files() == []


def test_numbers_then_text_mix_as_in_memory_when_blocks_are_large(ws, tmp_path):
    path = tmp_path / "mixed.csv"  # pandas types it in chunks of 262,144 rows: ints, then ints and words
    lines = ["a,b"] + [f"{i},{i}.5" for i in range(300_000)] + [f"x{i},{i}" for i in range(15_000)]
    path.write_text("\n".join(lines) + "\n")
    whole = ws.data.ingest(path, name="whole")
    streamed = ws.data.ingest(path, name="streamed", stream=True, block_bytes=3 << 20)
    assert_same_version(whole, streamed)
    assert streamed.column("a")["dtype"] == "str" and streamed.column("a")["unique"] == 315_000


def test_known_content_streamed_returns_the_version_and_keeps_no_second_file(ws, tmp_path):
    path = rich_csv(tmp_path / "orders.csv", rows=800)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        first = ws.data.ingest(path, name="orders")
        files = sorted(ws.artifacts.iter_objects())
        again = ws.data.ingest(path, name="orders", stream=True, block_bytes=8192)
        twice = ws.data.ingest(path, name="orders", stream=True, block_bytes=8192)
    assert again.existing and twice.existing and again.ref == twice.ref == first.ref
    assert sorted(ws.artifacts.iter_objects()) == files and ws.artifacts.tmp_files() == []


def test_the_setting_streams_a_file_above_it(ws, tmp_path):
    path = rich_csv(tmp_path / "orders.csv", rows=500)
    said: list[str] = []
    data = Data(ws.db, ws.artifacts, ws.events, settings={"ingest": {"stream_above_mb": 0}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        streamed = data.ingest(path, name="a", progress=lambda _f, m: said.append(m))
        whole = ws.data.ingest(path, name="b")  # the default: 1 GiB
    assert any(m.startswith("streaming") for m in said)
    assert streamed.sha256 == whole.sha256
    assert DEFAULT_BLOCK_BYTES == 32 << 20


def test_the_setting_in_config_toml_reaches_the_workspace(tmp_path):
    from mlcycle_tui.workspace import Workspace

    home = tmp_path / "ws"
    home.mkdir()
    (home / "config.toml").write_text("[ingest]\nstream_above_mb = 0\n", encoding="utf-8")
    path = rich_csv(tmp_path / "orders.csv", rows=200)
    said: list[str] = []
    ws = Workspace.open(home)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ws.data.ingest(path, name="a", progress=lambda _f, m: said.append(m))
    finally:
        ws.close()
    assert any(m.startswith("streaming") for m in said)
