"""Encoding detection reads the whole file: a code-page byte anywhere is found, mixing is refused.

The bug these guard: detection looked only at the first 64 KiB, so a Windows-1252 byte
later in a valid Windows-1252 file was reported as "mixes encodings".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.data.readers import read_table, sniff_csv
from mlcycle_tui.workspace import Workspace

KIB = 1024


def _ascii_rows(first_id: int, count: int) -> bytes:
    return "".join(f"{i},plain city {i},nothing special here\n" for i in range(first_id, first_id + count)).encode()


def test_cp1252_bytes_only_near_the_end_of_a_big_file_ingest_with_the_right_text(
    workspace: Workspace, tmp_path: Path
) -> None:
    head = b"id,city,note\n" + _ascii_rows(1, 6000)
    tail = "6001,Café,costs 5 €\n6002,Zürich,crème brûlée\n".encode("cp1252")
    path = tmp_path / "late_cp1252.csv"
    path.write_bytes(head + tail)
    assert path.stat().st_size > 200 * KIB
    assert max(i for i, b in enumerate(head + tail) if b > 0x7F) > path.stat().st_size - 100  # only at the end
    assert b"\xe9" in tail and b"\x80" in tail  # 'é' and '€' as Windows-1252 bytes

    ds = workspace.data.ingest(path, name="late")
    frame = workspace.data.load_frame(ds)
    assert ds.rows == 6002
    assert frame["city"].tolist()[-2:] == ["Café", "Zürich"]
    assert frame["note"].tolist()[-2:] == ["costs 5 €", "crème brûlée"]
    assert frame["city"][0] == "plain city 1"


def test_cp1252_bytes_only_between_the_sampled_blocks_are_found(tmp_path: Path) -> None:
    # not in the first, middle or last 64 KiB: only the whole-file pass finds them
    rows = _ascii_rows(1, 20_000)
    quarter = rows.index(b"\n", len(rows) // 4) + 1
    body = rows[:quarter] + "99999,Málaga,señal\n".encode("cp1252") + rows[quarter:]
    path = tmp_path / "quarter.csv"
    path.write_bytes(b"id,city,note\n" + body)
    assert path.stat().st_size > 600 * KIB

    assert sniff_csv(path) == ("cp1252", ",")
    frame = read_table(path)
    row = frame[frame["id"] == 99999]
    assert row["city"].tolist() == ["Málaga"] and row["note"].tolist() == ["señal"]


def test_utf8_then_cp1252_reports_mixing_with_the_line_of_the_first_bad_byte(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    lines = ["id,city,note", "1,Café,utf-8 here"]  # line 2: 'é' as UTF-8 (C3 A9)
    body = "\n".join(lines).encode() + b"\n" + _ascii_rows(2, 5000)  # lines 3..5002
    path.write_bytes(body + "5002,Café,cp1252 here\n".encode("cp1252"))  # line 5003: 'é' as 0xE9

    with pytest.raises(UserError) as err:
        workspace.data.ingest(path, name="mixed")
    message = err.value.message
    assert "mixes text encodings" in message
    assert "line 5003" in message and "0xE9" in message
    assert "save the whole file as UTF-8" in message
    assert workspace.data.datasets() == []


def test_cp1252_then_mostly_utf8_is_mixing_too(tmp_path: Path) -> None:
    path = tmp_path / "reverse.csv"
    start = "id,city,note\n1,Caf\xe9,x\n".encode("cp1252")  # line 2: one Windows-1252 byte
    rest = _ascii_rows(2, 100) + "".join(f"{i},Crème brûlée,€\n" for i in range(200, 230)).encode()
    path.write_bytes(start + rest)
    with pytest.raises(UserError, match=r"mixes text encodings: parts of it are UTF-8, but line 2 has a byte \(0xE9\)"):
        read_table(path)


def test_a_byte_windows_1252_does_not_define_later_in_the_file_is_reported_with_its_line(tmp_path: Path) -> None:
    rows = _ascii_rows(2, 20_000)
    cut = rows.index(b"\n", len(rows) // 3) + 1
    data = b"id,city,note\n" + "1,Köln,ok\n".encode("cp1252") + rows[:cut] + b"7,bad \x81 byte,x\n" + rows[cut:]
    line = data[: data.index(b"\x81")].count(b"\n") + 1
    assert line > 5000
    path = tmp_path / "undefined.csv"
    path.write_bytes(data)
    with pytest.raises(UserError) as err:
        read_table(path)
    assert err.value.message.startswith(f"{path} mixes text encodings: it reads as Windows-1252 up to line {line}")
    assert "(0x81)" in err.value.message


def test_utf8_with_bom_still_works_and_the_bom_is_not_in_the_first_column(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "bom.csv"
    body = "id,city\n" + "".join(f"{i},Ürümqi {i}\n" for i in range(4000))  # past 64 KiB, non-ASCII all along
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert path.stat().st_size > 64 * KIB
    frame = workspace.data.load_frame(workspace.data.ingest(path, name="bom"))
    assert list(frame.columns) == ["id", "city"]
    assert frame["city"][3999] == "Ürümqi 3999"


def test_utf8_bom_then_cp1252_bytes_is_mixing(tmp_path: Path) -> None:
    path = tmp_path / "bom_mixed.csv"
    path.write_bytes(b"\xef\xbb\xbfid,city\n1,x\n" + "2,Caf\xe9\n".encode("cp1252"))
    with pytest.raises(UserError, match=r"mixes text encodings.*line 3 "):
        read_table(path)


def test_a_cyrillic_code_page_is_detected_not_read_as_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "ru.csv"
    text = "id,город,заметка\n" + "".join(f"{i},Москва,очень хорошо и тепло\n" for i in range(60))
    path.write_bytes(text.encode("cp1251"))
    frame = read_table(path)
    assert list(frame.columns) == ["id", "город", "заметка"]
    assert frame["город"][0] == "Москва"


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("id,city\n1,Café\n2,東京\n".encode("utf-16"))
    assert read_table(path)["city"].tolist() == ["Café", "東京"]


def test_json_lines_in_a_code_page_get_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    path.write_bytes('{"city": "Köln"}\n{"city": "Zürich"}\n'.encode("cp1252"))
    with pytest.raises(UserError, match="is in Windows-1252, but JSON lines must be UTF-8; save it as UTF-8"):
        read_table(path)
