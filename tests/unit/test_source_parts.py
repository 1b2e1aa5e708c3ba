"""Versions made of parts: a watched source's run stores only its new rows.

Real workspaces, real JSON-lines and folder sources run tick by tick with
`ws.sources.run(id)`; the stored Parquet is counted from the files themselves.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlcycle_tui.common.errors import IntegrityError
from mlcycle_tui.data import profiling
from mlcycle_tui.storage.db import Database
from mlcycle_tui.workspace import DB_FILE, Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def batch(n: int, start: int, seed: int) -> pd.DataFrame:
    """Rows of several kinds: an id, a measurement, a category with gaps, a label, a time."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "event_id": np.arange(start, start + n),
        "x": rng.normal(10, 3, n).round(4),
        "grade": rng.integers(1, 6, n),
        "colour": rng.choice(["red", "green", "blue", None], n),
        "ok": rng.random(n) > 0.3,
        "ratio": np.where(rng.random(n) > 0.8, np.nan, rng.choice([0.25, 0.5, 0.75], n)),
        "at": (pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(start, start + n) * 60, unit="s")),
        "label": rng.integers(0, 2, n),
    })


def assert_close(got: object, want: object, where: str = "") -> None:
    """Equal, floats up to rounding (a merged mean is summed in another order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    else:
        assert got == want, where


def lean(n: int, start: int) -> pd.DataFrame:
    """Narrow rows, for the many-tick test: an id, a measurement, a label."""
    rng = np.random.default_rng(start)
    return pd.DataFrame({"event_id": np.arange(start, start + n), "x": rng.normal(size=n).round(4),
                         "label": rng.integers(0, 2, n)})


def stored(ws: Workspace) -> tuple[int, int]:
    """(rows, files) of the distinct Parquet artifacts the dataset versions refer to."""
    paths = {r["artifact_path"] for r in ws.db.query("SELECT artifact_path FROM dataset_versions")}
    return sum(pq.ParquetFile(ws.artifacts.path(p)).metadata.num_rows for p in paths), len(paths)


def jsonl_source(ws: Workspace, feed: Path, first: pd.DataFrame) -> int:
    feed.write_text(first.to_json(orient="records", lines=True, date_format="iso"))
    time_column = "at" if "at" in first.columns else None
    src = ws.sources.add("events", jsonl=feed, target="label", time_column=time_column, every="1h", settle="0")
    assert ws.sources.run(src["source_id"])["version"] == 1
    return src["source_id"]


def tick(ws: Workspace, sid: int, feed: Path, rows: pd.DataFrame) -> dict:
    with open(feed, "a") as fh:
        fh.write(rows.to_json(orient="records", lines=True, date_format="iso"))
    return ws.sources.run(sid)


def test_a_hundred_ticks_store_each_row_once(workspace, tmp_path):
    """100 ticks of 1,000 rows store ~100,000 rows of Parquet (the whole history each time stored
    5,151,000 here), and the stored rows grow linearly with the ticks."""
    feed = tmp_path / "feed.jsonl"
    sid = jsonl_source(workspace, feed, lean(1000, 0))
    grown = {}
    started = time.time()
    for i in range(1, 101):
        out = tick(workspace, sid, feed, lean(1000, 1000 * i))
        assert (out["error"], out["version"], out["new_rows"]) == (None, i + 1, 1000)
        if i in (50, 100):
            grown[i] = stored(workspace)[0]
    took = time.time() - started
    rows, files = stored(workspace)
    assert rows == 101_000 and files == 101  # each row once, one file per tick
    assert grown[100] - grown[50] == 50_000  # linear: the second 50 ticks stored what arrived
    latest = workspace.data.dataset("events")
    assert (latest.rows, latest.parts) == (101_000, 101)
    ids = latest.column("event_id")  # an id column stays an id, its distinct count exact
    assert (ids["kind"], ids["unique"], ids["min"], ids["max"]) == ("id", 101_000, 0, 100_999)
    assert took < 60, f"100 ticks took {took:.0f}s"
    # the newest version is the whole history, in arrival order
    assert workspace.data.load_frame(latest, columns=["event_id"])["event_id"].tolist() == list(range(101_000))
    # doctor checks every part of every version: 101 files, all sound
    report = workspace.doctor()
    assert (report["ok"], report["checked"], report["orphans"]) == (True, 101, [])


def test_a_multi_part_version_is_the_concatenation(workspace, tmp_path):
    """Loading reads the parts in order; content hash, duplicates and the exact statistics are
    those of ingesting the concatenated frame; that frame maps to the same version."""
    feed = tmp_path / "feed.jsonl"
    batches = [batch(400, 0, 0)]
    sid = jsonl_source(workspace, feed, batches[0])
    for i in range(1, 13):
        rows = batch(150, 400 + 150 * (i - 1), i)
        if i == 4:
            rows = pd.concat([rows, rows.iloc[:5]], ignore_index=True)  # 5 exact duplicate rows
        batches.append(rows)
        assert tick(workspace, sid, feed, rows)["error"] is None
    multi = workspace.data.dataset("events")
    assert multi.parts == 13 and multi.base_id is not None
    assert [p["rows"] for p in workspace.data.parts(multi)] == [len(b) for b in batches]

    frame = workspace.data.load_frame(multi)
    expected = workspace.data.load_frame("events@1")  # JSON-lines read back, as the source read it
    tail = [b.assign(at=pd.to_datetime(b["at"]).astype(expected["at"].dtype)) for b in batches[1:]]
    expected = pd.concat([expected, *[t.astype(expected.dtypes.to_dict()) for t in tail]], ignore_index=True)
    pd.testing.assert_frame_equal(frame, expected)
    pd.testing.assert_frame_equal(workspace.data.load_frame(multi, columns=["x", "colour"]), frame[["x", "colour"]])
    pd.testing.assert_frame_equal(workspace.data.load_rows(multi, 390, 560),
                                  frame.iloc[390:560].reset_index(drop=True))

    flat = workspace.data.ingest(frame, "flat", target="label", time_column="at")
    assert flat.sha256 == multi.sha256  # the content hash is that of the whole data
    again = workspace.data.ingest(frame, "events", target="label", time_column="at")
    assert again.existing and again.version == multi.version  # identical content: the same version
    assert multi.profile["rows"] == flat.profile["rows"] == len(frame)
    assert multi.profile["duplicate_rows"] == flat.profile["duplicate_rows"] == 5
    for got, want in zip(multi.profile["columns"], flat.profile["columns"], strict=True):
        for key in ("name", "dtype", "missing", "missing_share", "min", "max"):
            assert got.get(key) == want.get(key), (want["name"], key)
        for key in ("mean", "std"):
            assert got.get(key) == pytest.approx(want.get(key), rel=1e-9), (want["name"], key)
        if want["unique"] <= profiling.STATE_CAP:  # few distinct values: every statistic is exact
            assert_close(got, want)
        else:  # estimated: distinct count within 5%, quantiles and histogram close
            assert got["unique"] == pytest.approx(want["unique"], rel=0.05)
            if "histogram" not in want:
                continue
            assert got["histogram"]["edges"] == want["histogram"]["edges"]
            assert sum(got["histogram"]["counts"]) == sum(want["histogram"]["counts"])
            values = np.sort(frame[want["name"]].dropna().to_numpy(dtype=float))
            for key, q in (("p05", 0.05), ("p50", 0.5), ("p95", 0.95)):  # ranks off by at most 2%
                assert abs(np.searchsorted(values, got["quantiles"][key]) / values.size - q) < 0.02, key
            assert np.abs(np.subtract(got["histogram"]["counts"], want["histogram"]["counts"])).max() \
                < 0.02 * values.size
    assert workspace.data.validate(multi) == {**workspace.data.validate(flat), "dataset": multi.ref}


def test_split_train_and_drift_on_a_multi_part_version(workspace, tmp_path):
    penguins = pd.read_csv(SAMPLES / "penguins.csv")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = workspace.sources.add("peng", folder=inbox, target="species", every="1h", settle="0s")
    for i, start in enumerate(range(0, len(penguins), 60)):
        penguins.iloc[start:start + 60].to_csv(inbox / f"{i:02}.csv", index=False)
        assert workspace.sources.run(src["source_id"])["error"] is None
    ds = workspace.data.dataset("peng")
    assert (ds.rows, ds.parts) == (len(penguins), 6)
    split = workspace.splits.create(ds, test_size=0.25, stratify=True, seed=3)
    train, test = workspace.splits.frames(split.split_id)
    assert len(train) + len(test) == len(penguins)
    run = workspace.training.train(ds.ref, "logreg", split=split.split_id, seed=1)
    assert run["metrics"]["accuracy"] > 0.9
    # the arrivals of the last run are its own part, read alone
    arrivals = workspace.sources.arrivals(src["source_id"])
    assert arrivals["bill_length_mm"].tolist() == pytest.approx(penguins["bill_length_mm"].iloc[300:].tolist(),
                                                                nan_ok=True)
    # the model's drift reference (its training rows of the multi-part version) against the
    # whole version and against the latest arrivals
    workspace.registry.register(run["run_id"], "peng")
    whole = workspace.monitoring.check_drift("peng", ds.ref)
    assert whole["rows"] == len(penguins) and not whole["drift"]
    assert workspace.sources.check_arrivals(src["source_id"], "peng")["rows"] == len(penguins) - 300


def test_doctor_sees_every_part_and_a_damaged_part_is_refused(workspace):
    ds = workspace.data.ingest(batch(300, 0, 0), "d", target="label")
    for i in range(1, 5):
        ds = workspace.data.append(ds, batch(100, 300 + 100 * (i - 1), i))
    assert ds.parts == 5
    parts = workspace.data.parts(ds)
    assert workspace.doctor()["checked"] == 5
    middle = parts[2]
    workspace.artifacts.path(middle["path"]).write_bytes(b"not parquet")
    report = workspace.doctor()
    assert not report["ok"]
    assert [(p["artifact"], p["owner"]) for p in report["problems"]] == [(middle["path"], "d@3")]
    with pytest.raises(IntegrityError, match="corrupted"):
        workspace.data.load_frame(ds)
    assert len(workspace.data.load_frame("d@2")) == 400  # versions before the damaged part still load


def test_one_file_versions_of_an_older_workspace_keep_working(tmp_path):
    """A workspace made before parts existed: its versions stay one-file versions; appending
    to one makes it the first part."""
    home = tmp_path / "ws"
    frame = batch(200, 0, 0)
    with Workspace.open(home) as ws:  # a version stored as the old code stored it
        sha, rel = ws.artifacts.put_parquet(frame)
        profile, hashes = profiling.analyse_frame(frame)
        content = profiling.content_sha256(frame, hashes)
    (home / DB_FILE).unlink()
    for suffix in ("-wal", "-shm"):
        (home / (DB_FILE + suffix)).unlink(missing_ok=True)
    db = Database(home / DB_FILE)
    db.migrate(until={"data": 1})
    db.execute("INSERT INTO datasets(name, created) VALUES ('old', '2024-01-01')")
    db.execute("INSERT INTO dataset_versions(name, version, content_sha256, artifact_sha256, artifact_path, rows,"
               " columns, target, time_column, source, source_format, schema_json, profile_json, created)"
               " VALUES ('old', 1, ?, ?, ?, 200, 8, 'label', NULL, 'x.csv', 'csv', ?, ?, '2024-01-01')",
               (content, sha, rel, json.dumps(profiling.schema_of(profile)), json.dumps(profile)))
    db.close()
    with Workspace.open(home) as ws:
        old = ws.data.dataset("old@1")
        assert (old.parts, old.base_id) == (1, None)
        pd.testing.assert_frame_equal(ws.data.load_frame(old), frame)
        new = ws.data.append(old, batch(50, 200, 1))
        assert (new.version, new.parts, new.rows) == (2, 2, 250)
        assert ws.data.parts(new)[0]["path"] == rel  # the old file is the first part
        assert ws.doctor()["checked"] == 2


def test_rows_that_change_a_dtype_store_the_history_once_more(workspace, tmp_path):
    """An integer column given a missing value becomes float for the whole history: that run
    writes one file (as before); the runs after it append parts again."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = workspace.sources.add("d", folder=inbox, target="label", every="1h", settle="0s")
    batch(100, 0, 0).to_csv(inbox / "a.csv", index=False)
    workspace.sources.run(src["source_id"])
    batch(20, 100, 1).to_csv(inbox / "b.csv", index=False)
    assert workspace.sources.run(src["source_id"])["version"] == 2
    assert workspace.data.dataset("d").parts == 2
    gap = batch(20, 120, 2)
    gap["grade"] = gap["grade"].astype(float)
    gap.loc[3, "grade"] = np.nan
    gap.to_csv(inbox / "c.csv", index=False)
    assert workspace.sources.run(src["source_id"])["version"] == 3
    v3 = workspace.data.dataset("d")
    assert (v3.parts, v3.rows, v3.column("grade")["dtype"]) == (1, 140, "float64")
    batch(20, 140, 3).to_csv(inbox / "d.csv", index=False)
    assert workspace.sources.run(src["source_id"])["version"] == 4
    v4 = workspace.data.dataset("d")
    assert (v4.parts, v4.rows) == (2, 160)
    whole = workspace.data.load_frame(v4)
    assert whole["grade"].dtype == np.float64 and int(whole["grade"].isna().sum()) == 1
    assert workspace.data.ingest(whole, "d", target="label").version == 4  # same content, same version


def test_a_run_killed_while_recording_leaves_no_half_version(workspace, tmp_path, monkeypatch):
    """The part is written, then the version row in one transaction: killed in between, there
    is no version, the base keeps its summary, and the next run makes the version whole."""
    feed = tmp_path / "feed.jsonl"
    sid = jsonl_source(workspace, feed, batch(200, 0, 0))
    assert tick(workspace, sid, feed, batch(50, 200, 1))["version"] == 2
    before = workspace.db.query("SELECT version_id, merge_state IS NOT NULL AS kept FROM dataset_part_digests")
    real = workspace.data.events.log

    def killed(kind, *args):
        if kind == "ingest":
            raise OSError("killed")
        return real(kind, *args)

    monkeypatch.setattr(workspace.data.events, "log", killed)
    with open(feed, "a") as fh:
        fh.write(batch(50, 250, 2).to_json(orient="records", lines=True, date_format="iso"))
    failed = workspace.sources.run(sid)
    assert failed["error"] and failed["version"] is None
    assert workspace.data.dataset("events").version == 2
    assert workspace.db.query("SELECT version_id, merge_state IS NOT NULL AS kept FROM dataset_part_digests") == before
    monkeypatch.setattr(workspace.data.events, "log", real)
    # the cursor did not move: the same rows are read again and become version 3
    again = workspace.sources.run(sid)
    assert (again["error"], again["version"], again["new_rows"], again["rows"]) == (None, 3, 50, 300)
    v3 = workspace.data.dataset("events")
    assert v3.parts == 3 and workspace.data.load_frame(v3)["event_id"].tolist() == list(range(300))
    # the killed run wrote the same rows: the same (content-addressed) file, now recorded
    assert stored(workspace)[0] == 300 and workspace.doctor()["orphans"] == []


def test_profile_summary_is_kept_for_the_newest_version_only(workspace):
    ds = workspace.data.ingest(batch(100, 0, 0), "d", target="label")
    for i in range(1, 4):
        ds = workspace.data.append(ds, batch(10, 100 + 10 * i, i))
    kept = workspace.db.query("SELECT d.version_id FROM dataset_part_digests d WHERE merge_state IS NOT NULL")
    assert [r["version_id"] for r in kept] == [ds.id]
    blobs = workspace.db.query("SELECT length(row_hashes) AS n FROM dataset_part_digests ORDER BY version_id")
    assert [r["n"] for r in blobs] == [800, 80, 80, 80]  # 8 bytes a row, each part once
    assert math.isclose(ds.column("x")["mean"], workspace.data.load_frame(ds)["x"].mean(), rel_tol=1e-12)


def test_an_id_column_is_checked_when_new_ids_fall_among_old_ones(workspace):
    """Ids within the old range: the one id column of the history is read to decide whether it
    is still an id (distinct) or has become a number (a repeat), as a full profile would."""
    even = pd.DataFrame({"order_id": np.arange(0, 4000, 2), "label": np.arange(2000) % 2})
    ds = workspace.data.ingest(even, "orders", target="label")
    assert ds.column("order_id")["kind"] == "id"
    odd = workspace.data.append(ds, pd.DataFrame({"order_id": [1, 3, 5], "label": [0, 1, 0]}))
    assert (odd.parts, odd.column("order_id")["kind"], odd.column("order_id")["unique"]) == (2, "id", 2003)
    repeat = workspace.data.append(odd, pd.DataFrame({"order_id": [7, 8], "label": [1, 1]}))
    flat = workspace.data.ingest(workspace.data.load_frame(repeat), "flat", target="label")
    assert repeat.column("order_id")["kind"] == flat.column("order_id")["kind"] == "numeric"


def test_an_append_killed_before_its_files_were_recorded_is_completed_not_repeated(workspace, tmp_path,
                                                                                    monkeypatch):
    feed = tmp_path / "feed.jsonl"
    sid = jsonl_source(workspace, feed, batch(100, 0, 0))
    real = type(workspace.sources)._finish_plan
    calls = {"n": 0}

    def dies_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("killed")  # the two-part version exists; the run did not record it
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(workspace.sources), "_finish_plan", dies_once)
    assert tick(workspace, sid, feed, batch(30, 100, 1))["error"]
    assert (workspace.data.dataset("events").version, workspace.data.dataset("events").parts) == (2, 2)
    again = workspace.sources.run(sid)
    assert again["version"] is None and again["error"] is None  # recovered from the plan's content hash
    assert workspace.data.dataset("events").version == 2
    assert [r["status"] for r in workspace.sources.runs(sid)][:2] == ["done", "recovered"]
    assert tick(workspace, sid, feed, batch(10, 130, 2))["rows"] == 140
