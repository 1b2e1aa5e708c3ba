"""Names, references, durations and workspace resolution."""

from __future__ import annotations

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.config import Ref, check_name, parse_duration, parse_ref, resolve_home


@pytest.mark.parametrize("name", ["a", "churn", "my-data_1.v2", "A" * 64])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a..b", ".hidden", "-x", "A" * 65, "sp ace", "é"])
def test_bad_names_are_refused(name):
    with pytest.raises(UserError, match="invalid"):
        check_name(name)


def test_refs():
    assert parse_ref("d") == Ref("d")
    assert parse_ref("d@3") == Ref("d", version=3)
    assert parse_ref("m@production", allow_alias=True) == Ref("m", alias="production")
    with pytest.raises(UserError, match="NAME@VERSION"):
        parse_ref("d@0")
    with pytest.raises(UserError):
        parse_ref("d@prod")


def test_durations():
    assert parse_duration("30s") == 30
    assert parse_duration("15m") == 900
    assert parse_duration("1h") == 3600
    assert parse_duration("7d") == 7 * 86400
    for bad in ("", "10", "1w", "-1s", "0s"):
        with pytest.raises(UserError):
            parse_duration(bad)


def test_workspace_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCYCLE_HOME", str(tmp_path / "env"))
    assert resolve_home(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_home() == tmp_path / "env"
    monkeypatch.delenv("MLCYCLE_HOME")
    monkeypatch.chdir(tmp_path)
    assert resolve_home() == tmp_path / ".mlcycle"
