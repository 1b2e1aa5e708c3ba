"""Cross-validation folds for a search: a count, or a strategy with an optional count.

Why this exists: `--cv 5` is what most people type, but grouped data (several
rows per customer) and time-ordered data need their own folds, or the search
scores candidates on rows it has as good as seen. The CLI's `--cv`, the Train
dialog's Folds field, the recipe (so that reproduce and retraining fold the
same way) and the search all read the one spelling parsed here:

    5             the default folds with 5 splits (stratified for classification,
                  plain k-fold for regression: scikit-learn's own default)
    kfold[:N]     shuffled k-fold
    stratified[:N] shuffled stratified k-fold (classification)
    group:COL[:N] group k-fold: the rows of one COL value stay in one fold
    time[:N]      forward-chaining folds in time order (the dataset's time
                  column, else the row order)

N defaults to 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlcycle_tui.common.errors import UserError

DEFAULT_FOLDS = 3
STRATEGIES = ("auto", "kfold", "stratified", "group", "time")
HELP = "a fold count (3) or kfold, stratified, group:COLUMN or time, each with an optional :COUNT (time:5)"


@dataclass(frozen=True)
class Folds:
    """How a search splits the training rows: strategy, number of folds, group column."""

    strategy: str = "auto"
    n: int = DEFAULT_FOLDS
    column: str | None = None

    def spec(self) -> int | str:
        """The spelling that parses back to these folds (an int for the default strategy)."""
        if self.strategy == "auto":
            return self.n
        if self.strategy == "group":
            return f"group:{self.column}:{self.n}"
        return f"{self.strategy}:{self.n}"

    def describe(self) -> str:
        if self.strategy == "auto":
            return f"{self.n} folds"
        if self.strategy == "group":
            return f"{self.n} group folds by {self.column}"
        return f"{self.n} {self.strategy} folds"


def _count(text: str, given: Any) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UserError(f"--cv {given!r}: the fold count {text!r} is not a whole number; use {HELP}") from None
    if n < 2:
        raise UserError(f"--cv must have at least 2 folds, got {given!r}")
    return n


def parse(value: int | str | Folds | None) -> Folds:
    """A `Folds` from `--cv`'s value (see the module doc); a UserError saying what is accepted."""
    if value is None:
        return Folds()
    if isinstance(value, Folds):
        return value
    if isinstance(value, bool):
        raise UserError(f"--cv takes {HELP}, got {value!r}")
    if isinstance(value, int):
        return Folds("auto", _count(str(value), value))
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return Folds("auto", _count(text, value))
    head, _, rest = text.partition(":")
    strategy = head.strip().lower()
    if strategy == "group":
        column, sep, count = rest.rpartition(":")
        if not sep or not count.strip().isdigit():
            column, count = rest, str(DEFAULT_FOLDS)
        if not column.strip():
            raise UserError("--cv group needs the column whose rows stay together: group:COLUMN (e.g. group:customer)")
        return Folds("group", _count(count.strip(), value), column.strip())
    if strategy in ("kfold", "stratified", "time"):
        return Folds(strategy, _count(rest.strip(), value) if rest.strip() else DEFAULT_FOLDS)
    raise UserError(f"unknown --cv {value!r}; use {HELP}")


def _check_classes(y: Any, n: int) -> None:
    counts = y.value_counts()
    smallest = int(counts.min())
    if smallest < n:
        raise UserError(
            f"class {counts.idxmin()!r} has only {smallest} training rows, too few for {n}-fold "
            f"cross-validation; lower --cv to {max(2, smallest)} or add data"
        )


def splitter(folds: Folds, task: str, X: Any, y: Any, seed: int,
             time_column: str | None = None) -> tuple[Any, Any, Any, Any]:
    """(cv, groups, X, y) for a search: the scikit-learn splitter, the group labels (or None),
    and the rows in the order the folds need (time order for `time`). Checks the rows suffice."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    n = folds.n
    if len(y) < n:
        raise UserError(f"{len(y)} training rows are too few for {n}-fold cross-validation; lower --cv")
    if folds.strategy == "auto":
        if task == "classification":
            _check_classes(y, n)
        return n, None, X, y
    if folds.strategy == "kfold":
        return KFold(n_splits=n, shuffle=True, random_state=seed), None, X, y
    if folds.strategy == "stratified":
        if task != "classification":
            raise UserError("--cv stratified needs a classification target; use kfold or time for regression")
        _check_classes(y, n)
        return StratifiedKFold(n_splits=n, shuffle=True, random_state=seed), None, X, y
    if folds.strategy == "group":
        if folds.column not in X.columns:
            raise UserError(f"--cv group:{folds.column}: no column {folds.column!r} in the training rows; "
                            f"columns are: {', '.join(map(str, X.columns))}")
        groups = X[folds.column]
        if groups.isna().any():  # the rows without a value form one group of their own
            groups = groups.astype("string").fillna("(missing)")
        distinct = int(groups.nunique())
        if distinct < n:
            raise UserError(f"--cv group:{folds.column} has only {distinct} distinct values, too few for {n} "
                            "group folds; lower the count (group:COLUMN:2) or group by another column")
        return GroupKFold(n_splits=n), groups.to_numpy(), X, y
    # time: forward chaining over the rows in time order
    if len(y) < n + 1:
        raise UserError(f"{len(y)} training rows are too few for {n} time folds; lower --cv")
    if time_column is not None and time_column in X.columns:
        order = X[time_column].argsort(kind="stable").to_numpy()
        X, y = X.iloc[order], y.iloc[order]
    return TimeSeriesSplit(n_splits=n), None, X, y
