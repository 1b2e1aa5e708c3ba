"""Preprocessing pipelines: task inference, feature selection, JSON-ish input, pickling."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments import preprocess as pp
from mlcycle_tui.experiments.catalog import make_estimator

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "penguins.csv")


@pytest.fixture(scope="module")
def penguin_columns(penguins: pd.DataFrame) -> list[dict[str, str]]:
    return pp.describe_columns(penguins)


@pytest.fixture(scope="module")
def fitted_rf(penguins: pd.DataFrame, penguin_columns: list[dict[str, str]]):
    est = make_estimator("rf", "classification", {"n_estimators": 30}, seed=0)
    pipe = pp.build_pipeline(penguin_columns, "species", est)
    return pipe.fit(penguins.drop(columns="species"), penguins["species"])


# --- infer_task ----------------------------------------------------------------------

@pytest.mark.parametrize(("values", "expected"), [
    (["a", "b", "a"], "classification"),
    ([True, False, True], "classification"),
    ([0, 1, 1, 0], "classification"),
    ([1.0, 2.0, np.nan, 3.0], "classification"),
    ([0.5, 1.25, 3.75, 2.0], "regression"),
    (list(range(100)), "regression"),
    (["1.5", "2.25", "3.0", "4.5"] * 10, "regression"),
])
def test_infer_task(values: list, expected: str) -> None:
    assert pp.infer_task(pd.Series(values, name="y")) == expected


def test_infer_task_on_sample_targets(penguins: pd.DataFrame) -> None:
    assert pp.infer_task(penguins["species"]) == "classification"
    bikes = pd.read_csv(SAMPLES / "bikeshare.csv", usecols=["bikers"])
    assert pp.infer_task(bikes["bikers"]) == "regression"
    weather = pd.read_csv(SAMPLES / "seattle_weather.csv", usecols=["weather"])
    assert pp.infer_task(weather["weather"]) == "classification"


def test_infer_task_forced_and_refused() -> None:
    assert pp.infer_task(pd.Series(list(range(100))), "classification") == "classification"
    assert pp.infer_task(pd.Series([0, 1, 2, 1]), "regression") == "regression"
    assert pp.infer_task(pd.Series([1.0, 2.0, 3.5]), "categorical") == "classification"
    with pytest.raises(UserError, match="not numeric"):
        pp.infer_task(pd.Series(["a", "b"], name="y"), "regression")
    with pytest.raises(UserError, match="single value"):
        pp.infer_task(pd.Series(["yes", "yes", None], name="y"))
    with pytest.raises(UserError, match="all missing"):
        pp.infer_task(pd.Series([None, None], name="y", dtype=object))
    with pytest.raises(UserError, match="continuous"):
        pp.infer_task(pd.Series(np.linspace(0, 1, 200) + 0.001), "classification")


# --- feature selection ----------------------------------------------------------------

COLUMNS = [
    {"name": "customer_id", "dtype": "int64", "kind": "id"},
    {"name": "age", "dtype": "float64", "kind": "numeric"},
    {"name": "plan", "dtype": "object", "kind": "categorical"},
    {"name": "notes", "dtype": "object", "kind": "text"},
    {"name": "signup", "dtype": "object", "kind": "datetime"},
    {"name": "vip", "dtype": "bool", "kind": "boolean"},
    {"name": "churned", "dtype": "int64", "kind": "numeric"},
]


def _names(sig: dict) -> list[str]:
    return [c["name"] for c in sig["inputs"]]


def test_signature_drops_ids_text_and_target() -> None:
    assert _names(pp.signature(COLUMNS, "churned")) == ["age", "plan", "signup", "vip"]
    assert _names(pp.signature(COLUMNS, "churned", include=["notes"], drop=["vip"])) == [
        "age", "plan", "notes", "signup"]
    assert _names(pp.signature(COLUMNS, "churned", include=["churned"])) == [
        "age", "plan", "signup", "vip"]
    assert pp.signature(COLUMNS, "churned")["inputs"][0] == {
        "name": "age", "dtype": "float64", "kind": "numeric"}


def test_selection_errors() -> None:
    with pytest.raises(UserError, match="unknown column"):
        pp.signature(COLUMNS, "churned", drop=["nope"])
    with pytest.raises(UserError, match="no feature columns"):
        pp.signature(COLUMNS[:1] + COLUMNS[-1:], "churned")


# --- the pipeline on handmade data ------------------------------------------------------

def _toy(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = rng.normal(40, 10, n)
    plan = rng.choice(["basic", "pro", "team"], n)
    frame = pd.DataFrame({
        "customer_id": np.arange(n),
        "age": age,
        "plan": plan,
        "notes": ["free text"] * n,
        "signup": pd.date_range("2024-01-01", periods=n, freq="13h").astype(str),
        "vip": rng.random(n) > 0.7,
        "churned": ((age > 40) | (plan == "pro")).astype(int),
    })
    frame.loc[::9, "age"] = np.nan
    frame.loc[::11, "plan"] = None
    return frame


def test_pipeline_steps_and_feature_names() -> None:
    frame = _toy()
    est = make_estimator("logistic", "classification", {}, seed=0)
    pipe = pp.build_pipeline(COLUMNS, "churned", est).fit(frame, frame["churned"])
    assert [name for name, _ in pipe.steps] == ["prep", "model"]
    names = list(pipe.named_steps["prep"].get_feature_names_out())
    assert "numeric__age" in names and "numeric__missingindicator_age" in names
    assert "categorical__plan_pro" in names
    assert {f"datetime__signup_{p}" for p in pp.DATETIME_PARTS} <= set(names)
    assert "boolean__vip_true" in names
    assert not any("customer_id" in n or "notes" in n or "churned" in n for n in names)
    assert pipe.score(frame, frame["churned"]) > 0.8


def test_json_like_rows_unseen_categories_and_missing_values(fitted_rf, penguins) -> None:
    X = penguins.drop(columns="species")
    expected = fitted_rf.predict(X.head(20))
    as_text = X.head(20).astype(object).map(lambda v: None if pd.isna(v) else str(v))
    assert list(fitted_rf.predict(as_text)) == list(expected)
    rows = [
        {"island": "Atlantis", "bill_length_mm": "39.1", "bill_depth_mm": None,
         "flipper_length_mm": "", "body_mass_g": "n/a", "sex": "unknown", "year": "2007"},
        {"island": None, "bill_length_mm": None, "bill_depth_mm": None,
         "flipper_length_mm": None, "body_mass_g": None, "sex": None, "year": None},
    ]
    pred = fitted_rf.predict(pd.DataFrame(rows))
    assert set(pred) <= {"Adelie", "Chinstrap", "Gentoo"}
    proba = fitted_rf.predict_proba(pd.DataFrame(rows))
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_extra_columns_are_ignored(fitted_rf, penguins) -> None:
    X = penguins.drop(columns="species").head(10)
    wider = X.assign(unexpected="x")[["unexpected", *X.columns]]
    assert list(fitted_rf.predict(wider)) == list(fitted_rf.predict(X))


def test_boolean_and_integer_categories_are_normalised() -> None:
    coercer = pp.CategoryCoercer(boolean=True).fit(pd.DataFrame({"b": [True, False]}))
    out = coercer.transform(pd.DataFrame({"b": [True, "yes", "0", 1.0, None, "False"]}))
    assert list(out[:, 0][[0, 1, 2, 3, 5]]) == ["true", "true", "false", "true", "false"]
    assert pd.isna(out[4, 0])
    plain = pp.CategoryCoercer().fit(pd.DataFrame({"c": [1, 2]}))
    assert list(plain.transform(pd.DataFrame({"c": [1, 1.0, "1", " 2 "]}))[:, 0]) == [
        "1", "1", "1", "2"]


def test_high_cardinality_gets_ordinal_codes() -> None:
    n = 200
    frame = pd.DataFrame({"city": [f"c{i % 50}" for i in range(n)],
                          "color": ["red", "blue"] * (n // 2)})
    enc = pp.CategoricalEncoder().fit(frame)
    assert enc.ordinal_columns_ == [0] and enc.onehot_columns_ == [1]
    out = enc.transform(pd.DataFrame({"city": ["c3", "never-seen"], "color": ["red", "green"]}))
    assert out.shape == (2, 3)
    assert out[1, 2] == -1  # unknown city
    assert out[1, :2].tolist() == [0.0, 0.0]  # unknown color: no one-hot column set
    assert list(enc.get_feature_names_out()) == ["color_blue", "color_red", "city"]


def test_ordinal_codes_equal_the_ordinal_encoders_and_survive_pickling() -> None:
    """The hash lookup gives OrdinalEncoder.transform's codes exactly (unknown and missing: -1), and is
    not saved with the model (rebuilt after loading)."""
    import pickle

    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": [f"v{i}" for i in rng.integers(0, 3000, 4000)],
                          "b": [f"w{i % 700}" for i in range(4000)]})
    enc = pp.CategoricalEncoder().fit(train)
    assert enc.ordinal_columns_ == [0, 1]
    probe = pd.DataFrame({"a": [f"v{i}" for i in rng.integers(0, 3500, 300)] + [None, "v1"],
                          "b": [f"w{i}" for i in rng.integers(0, 800, 300)] + ["w3", float("nan")]})
    want = enc.ordinal_.transform(probe.astype(object).to_numpy())
    got = enc.transform(probe)
    assert np.array_equal(got, want) and got.dtype == want.dtype
    assert (got == -1).any() and (got >= 0).any()
    again = pickle.loads(pickle.dumps(enc))
    assert "_ordinal_indexes" not in again.__dict__
    assert np.array_equal(again.transform(probe), want)


def test_datetime_parts() -> None:
    parts = pp.DatetimeParts().fit(pd.DataFrame({"t": ["2024-03-05 14:30:00"]}))
    out = parts.transform(pd.DataFrame({"t": ["2024-03-05 14:30:00", None, "5 March 2024"]}))
    assert out[0].tolist() == [2024, 3, 5, 1, 14]  # a Tuesday
    assert np.isnan(out[1]).all()
    assert out[2].tolist()[:3] == [2024, 3, 5]
    assert list(parts.get_feature_names_out()) == [f"t_{p}" for p in pp.DATETIME_PARTS]


def test_seattle_weather_uses_date_parts() -> None:
    weather = pd.read_csv(SAMPLES / "seattle_weather.csv")
    columns = pp.describe_columns(weather)
    columns[0] = {**columns[0], "kind": "datetime"}
    est = make_estimator("hgb", "classification", {"max_iter": 30}, seed=0)
    pipe = pp.build_pipeline(columns, "weather", est).fit(weather, weather["weather"])
    names = list(pipe.named_steps["prep"].get_feature_names_out())
    assert "datetime__date_month" in names
    assert pipe.score(weather, weather["weather"]) > 0.8


def test_fitted_pipeline_round_trips_through_joblib(fitted_rf, penguins) -> None:
    buffer = io.BytesIO()
    joblib.dump(fitted_rf, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    X = penguins.drop(columns="species")
    assert np.array_equal(loaded.predict(X), fitted_rf.predict(X))
    assert np.allclose(loaded.predict_proba(X), fitted_rf.predict_proba(X))


def test_custom_transformers_follow_the_estimator_contract() -> None:
    from sklearn.base import clone

    for est in (pp.NumericCoercer(), pp.CategoryCoercer(boolean=True),
                pp.CategoricalEncoder(max_onehot=5), pp.DatetimeParts(parts=("year",))):
        copy = clone(est)
        assert copy.get_params() == est.get_params()
        assert not any(k.endswith("_") for k in vars(copy))


# --- vectorized coercers give exactly what the per-value versions gave ------------------------

def _old_category_column(values: pd.Series, boolean: bool) -> list:
    return [pp._category_text(v, boolean) for v in values.astype(object)]


def _old_float_column(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    values = series.astype(object).map(lambda v: v.strip().replace(",", "") if isinstance(v, str) else v)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _same(a: list | np.ndarray, b: list | np.ndarray) -> bool:
    return len(a) == len(b) and all((pd.isna(x) and pd.isna(y)) if not isinstance(x, str) else x == y
                                    for x, y in zip(a, b, strict=True))


MIXED = pd.Series([1, 1.0, "1", True, np.True_, " 2 ", 2.5, -0.0, 0, None, np.nan, pd.NA, "", "NULL", "yes", "No",
                   "1,200", " 3.5 ", "abc", False, 0.0, "0", 10**20, 1e20, float("inf"), np.float32(1.0),
                   np.int64(7), "n/a", "nan", "t"], dtype=object)


def _frames() -> list[pd.DataFrame]:
    frames = [pd.read_csv(path) for path in sorted(SAMPLES.glob("*.csv"))]
    texts = [f.head(500).astype(object).map(lambda v: None if pd.isna(v) else str(v)) for f in frames]
    return [*frames, *texts, pd.DataFrame({"mixed": MIXED, "mixed_rev": MIXED[::-1].to_numpy()})]


def test_category_coercer_matches_the_per_value_conversion() -> None:
    for frame in _frames():
        for boolean in (False, True):
            out = pp.CategoryCoercer(boolean=boolean).fit(frame).transform(frame)
            for i, name in enumerate(frame.columns):
                assert _same(list(out[:, i]), _old_category_column(frame[name], boolean)), (name, boolean)


def test_numeric_coercer_matches_the_per_value_conversion() -> None:
    for frame in _frames():
        out = pp.NumericCoercer().fit(frame).transform(frame)
        assert out.dtype == float
        for i, name in enumerate(frame.columns):
            expected = _old_float_column(frame[name])
            assert np.array_equal(out[:, i], expected, equal_nan=True), name
