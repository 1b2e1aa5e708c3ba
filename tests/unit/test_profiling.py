"""The fast ingest paths give the same answers as the plain pandas ones.

Row hashes are pandas' `hash_pandas_object` values (so content hashes of
existing versions stay valid), the threaded profile equals the serial one, the
speed-tuned Parquet encoding round-trips every dtype, and Arrow's ISO date
parser agrees with pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcycle_tui.data import profiling
from mlcycle_tui.data.readers import _parse_date_strings, iso_datetimes
from mlcycle_tui.storage.artifacts import write_parquet


def _mixed_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = rng.choice(["alpha", "beta", "gamma", None], rows)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "x_nan": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows)),
            "level": rng.choice([0.5, 1.0, 1.5], rows),
            "n": rng.integers(0, 50, rows),
            "flag": rng.random(rows) < 0.3,
            "s": pd.Series(text, dtype="str"),
            "o": pd.Series([v if i % 7 else 3 for i, v in enumerate(text)], dtype=object),
            "cat": pd.Categorical(rng.choice(["a", "b"], rows)),
            "when": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, rows), unit="D"),
            "nullable": pd.array(np.where(rng.random(rows) < 0.2, None, rng.integers(0, 9, rows)), dtype="Int64"),
        }
    )


@pytest.mark.parametrize("rows", [1, 5, 2000, 2 * profiling._HASH_BLOCK + 17])
def test_row_hashes_equal_pandas_hash_pandas_object(rows):
    frame = _mixed_frame(rows)
    expected = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    assert np.array_equal(profiling.row_hashes(frame), expected)
    # text columns handed over already factorised (as ingest does) give the same hashes
    factorized = {name: profiling.factorize_text(frame[name]) for name in ("s", "o")}
    assert np.array_equal(profiling.row_hashes(frame, factorized), expected)
    no_columns = frame.iloc[:, :0]
    assert np.array_equal(
        profiling.row_hashes(no_columns), pd.util.hash_pandas_object(no_columns, index=False).to_numpy()
    )
    changed = frame.copy()
    changed.loc[0, "x"] = 123.0
    assert profiling.content_sha256(changed) != profiling.content_sha256(frame)


def test_blockwise_numeric_hash_equals_pandas_across_blocks():
    rows = 3 * profiling._HASH_BLOCK + 17  # several blocks and a short last one
    rng = np.random.default_rng(3)
    floats = rng.normal(size=rows)
    floats[::97] = np.nan
    floats[5::101] = -0.0
    floats[7::103] = 0.0
    floats[9] = np.inf
    floats[11] = -np.inf
    floats[13] = np.float64("nan") * -1  # a NaN with the sign bit set hashes like every NaN
    when = pd.Series(pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, rows), unit="s"))
    when[::50] = pd.NaT
    columns = {
        "float": pd.Series(floats),
        "int": pd.Series(rng.integers(-(2**62), 2**62, rows)),
        "uint": pd.Series(rng.integers(0, 2**63, rows).astype(np.uint64)),
        "bool": pd.Series(rng.random(rows) < 0.5),
        "when": when,
        "span": when - when.min(),
    }
    for name, series in columns.items():
        alone = series.to_frame()  # one column: its row hashes are its values' hashes, combined once
        expected = pd.util.hash_pandas_object(alone, index=False).to_numpy()
        assert np.array_equal(profiling.row_hashes(alone), expected), name
    short = pd.DataFrame({"x": [1.5, np.nan, -0.0]})
    assert np.array_equal(profiling.row_hashes(short), pd.util.hash_pandas_object(short, index=False).to_numpy())


def test_text_shape_is_exact_over_the_whole_column():
    values = ["12", "abc", None, "7.5"] * 5000 + ["longer text"] * 3
    col = profiling.profile_column("t", pd.Series(values, dtype="str"))
    present = [v for v in values if v is not None]
    assert col["numeric_share"] == pytest.approx(sum(v in ("12", "7.5") for v in present) / len(present))
    assert col["mean_length"] == pytest.approx(sum(len(v) for v in present) / len(present))
    assert profiling.profile_column("e", pd.Series([None, None], dtype="str"))["mean_length"] is None


def test_threaded_profile_equals_serial_profile():
    frame = pd.concat([_mixed_frame(60_000)] * 2, ignore_index=True)  # every row twice
    from concurrent.futures import ThreadPoolExecutor

    serial, h1 = profiling.analyse_frame(frame, workers=1)
    threaded, h2 = profiling.analyse_frame(frame)  # as many threads as usable CPUs (2 to 8)
    assert 2 <= profiling.worker_threads() <= 8
    with ThreadPoolExecutor(2) as pool:
        pool.submit(lambda: sum(range(10**6)))  # busy with something else first, as during ingest
        factorized = {"s": pool.submit(profiling.factorize_text, frame["s"])}  # as ingest hands them over
        pooled, content = profiling.profile_and_digest(frame, pool, factorized)
    assert serial == threaded == pooled and np.array_equal(h1, h2)
    assert content == profiling.content_sha256(frame, h1) == profiling.content_sha256(frame)
    assert serial["duplicate_rows"] == 60_000
    by_name = {c["name"]: c for c in serial["columns"]}
    s = by_name["s"]
    assert s["missing"] == int(frame["s"].isna().sum())
    assert s["unique"] == 3 and s["categories"] == ["alpha", "beta", "gamma"]
    counts = frame["s"].value_counts()
    assert [t["count"] for t in s["top"]] == sorted(counts.tolist(), reverse=True)
    assert by_name["x_nan"]["missing"] == int(frame["x_nan"].isna().sum())
    assert by_name["x_nan"]["min"] == pytest.approx(frame["x_nan"].min())
    assert by_name["x"]["quantiles"]["p50"] == pytest.approx(frame["x"].median())
    assert by_name["level"]["unique"] == 3 and by_name["level"]["kind"] == "numeric"


def test_infinities_are_left_out_of_numeric_statistics():
    col = profiling.profile_column("v", pd.Series([1.0, np.inf, 2.0, -np.inf, np.nan, 3.0]))
    assert (col["min"], col["max"], col["unique"], col["missing"]) == (1.0, 3.0, 3, 1)


def test_fast_parquet_encoding_round_trips_every_dtype(tmp_path):
    from mlcycle_tui.storage.artifacts import _arrow_table

    frame = _mixed_frame(3000).drop(columns="o")  # ingest turns mixed objects into text first
    # floats without NaN are taken as they are, the rest as from_pandas makes them: same table
    fast, slow = _arrow_table(frame), pa.Table.from_pandas(frame, preserve_index=False)
    assert fast.equals(slow) and fast.schema.equals(slow.schema, check_metadata=True)
    path = tmp_path / "f.parquet"
    write_parquet(frame, str(path))
    back = pq.read_table(path).to_pandas()
    pd.testing.assert_frame_equal(back, frame)
    meta = pq.ParquetFile(path).metadata
    codecs = {meta.schema.column(i).name: meta.row_group(0).column(i).compression for i in range(meta.num_columns)}
    assert codecs["x"] == "UNCOMPRESSED"  # plain floats: Snappy costs more than it saves
    assert codecs["level"] == "SNAPPY" and codecs["s"] == "SNAPPY"  # few distinct values: dictionary
    assert pa.types.is_large_string(pq.read_schema(path).field("s").type)


def test_text_handed_over_dictionary_encoded_reads_back_as_text(tmp_path):
    from mlcycle_tui.storage.artifacts import ArtifactStore

    frame = _mixed_frame(3000).drop(columns="o")
    # 3,000 distinct values of 200 bytes: a dictionary past 512 KiB, left to the writer
    frame["ids"] = pd.Series([f"{i:06d}" + "x" * 194 for i in range(len(frame))], dtype="str")
    frame["full"] = pd.Series(["x", "y"] * (len(frame) // 2), dtype="str")  # no missing values
    store = ArtifactStore(tmp_path / "store")
    factorized = {name: profiling.factorize_text(frame[name]) for name in ("s", "ids", "full")}
    sha, rel = store.put_parquet(frame, factorized)
    schema = pq.read_schema(store.path(rel))
    assert pa.types.is_dictionary(schema.field("s").type) and pa.types.is_dictionary(schema.field("full").type)
    assert not pa.types.is_dictionary(schema.field("ids").type)
    back = store.load_parquet(sha, rel)
    pd.testing.assert_frame_equal(back, frame)  # text is text again; the categorical stays categorical
    assert isinstance(back["cat"].dtype, pd.CategoricalDtype) and back["s"].dtype == frame["s"].dtype
    assert store.load_parquet(sha, rel, columns=["full", "x"]).columns.tolist() == ["full", "x"]


def test_arrow_iso_dates_agree_with_pandas():
    col = pd.Series(["2024-01-05", None, "2024-02-29 13:45:10", "2023-12-31T00:00:01.250"], dtype="str")
    fast = iso_datetimes(col)
    assert fast is not None
    pd.testing.assert_series_equal(fast, pd.to_datetime(col, format="ISO8601"), check_dtype=False)
    assert fast.dtype == "datetime64[us]"
    # a long column is parsed in two halves at once; a bad value in either half falls back
    from mlcycle_tui.data.readers import _PARALLEL_DATES

    long = pd.Series([f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 0{i % 10}:30:00" for i in range(_PARALLEL_DATES + 3)],
                     dtype="str")
    long[7] = None
    parsed = iso_datetimes(long)
    assert parsed is not None and parsed.dtype == "datetime64[us]"
    pd.testing.assert_series_equal(parsed, pd.to_datetime(long, format="ISO8601"), check_dtype=False)
    for where in (3, len(long) - 3):
        broken = long.copy()
        broken[where] = "2024-13-45"
        assert iso_datetimes(broken) is None
    # other layouts and time zones are left to pandas
    assert iso_datetimes(pd.Series(["01/02/2024"])) is None
    assert iso_datetimes(pd.Series([b"2024-01-01", 3], dtype=object)) is None  # not text at all
    assert iso_datetimes(pd.Series(["2024-01-01T10:00:00Z"])) is None
    frame = _parse_date_strings(pd.DataFrame({"d": ["01/02/2024", "03/04/2024"]}))
    assert pd.api.types.is_datetime64_any_dtype(frame["d"])


def test_mixed_object_column_of_a_dataframe_is_ingested_as_text(tmp_path):
    from mlcycle_tui.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    frame = pd.DataFrame({"v": [1, "two", 3.5, None, pd.NA], "y": [0, 1, 0, 1, 0]})
    ds = ws.data.ingest(frame, name="mixed")
    back = ws.data.load_frame(ds)
    assert back["v"].tolist()[:3] == ["1", "two", "3.5"] and back["v"].iloc[3:].isna().all()
    assert ds.column("v")["kind"] in ("categorical", "text")
