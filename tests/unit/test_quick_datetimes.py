"""The quick readings of dates equal pandas': ISO text in the server's checks, parts in the compiled form."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.experiments.preprocess import _parse_datetimes
from mlcycle_tui.registry.compiled_prep import date_parts
from mlcycle_tui.server.inputs import _iso_datetimes


def _iso_text(rng: random.Random) -> str:
    text = f"{rng.randint(1678, 2261):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if rng.random() < 0.7:
        text += rng.choice("T ") + f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
        if rng.random() < 0.7:
            text += f":{rng.randint(0, 59):02d}"
            if rng.random() < 0.4:
                text += "." + str(rng.randint(0, 999_999)).zfill(6)[: rng.randint(1, 6)]
        if rng.random() < 0.4:
            text += rng.choice(["Z", "+02:00", "-05:30", "+14:00", "-12:00", "+00:00"])
    return text


def test_iso_text_reads_as_pandas_reads_it() -> None:
    rng = random.Random(0)
    for _ in range(600):
        values = [_iso_text(rng) for _ in range(rng.randint(1, 4))] + ([None] if rng.random() < 0.3 else [])
        series = pd.Series(values, dtype=object)
        quick = _iso_datetimes(series)
        assert quick is not None, values
        expected = _parse_datetimes(series.reset_index(drop=True))
        assert quick.dtype == expected.dtype and quick.equals(expected), values


@pytest.mark.parametrize("value", ["20210822", "2021-02-30", "2021-08-22T25:00", "yesterday",
                                   "2021-08-22 10:11:12.1234567", "1500-01-01", 20210822, True, ""])
def test_other_values_are_left_to_the_general_path(value: object) -> None:
    assert _iso_datetimes(pd.Series([value], dtype=object)) is None


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_date_parts_equal_pandas_fields_before_and_after_1970(unit: str) -> None:
    rng = np.random.default_rng(1)
    seconds = rng.integers(-60 * 365 * 86400, 90 * 365 * 86400, 5000)
    stamps = (seconds * {"s": 1, "us": 10**6, "ns": 10**9}[unit] + (rng.integers(0, 999, 5000) if unit != "s" else 0))
    stamps = stamps.astype(f"datetime64[{unit}]")
    stamps[::97] = np.datetime64("NaT")
    parts = date_parts(stamps)
    dt = pd.Series(stamps).dt
    for name, field in (("year", dt.year), ("month", dt.month), ("day", dt.day), ("weekday", dt.day_of_week),
                        ("hour", dt.hour)):
        np.testing.assert_array_equal(parts[name], field.to_numpy(dtype=float, na_value=np.nan), err_msg=name)
