"""HTML reports: `mlcycle report drift|evaluation|model` and `mlcycle monitor report ID --out`.

Real parts only: a workspace trained on the bundled penguins (target `sex`, so the
fairness figures have a default positive class), the real CLI in a subprocess, a
generated 50-column dataset with a hostile column name and a hostile category for
the size and escaping checks, and (marked slow) real headless Chromium rendering
the files to PNG while its network log is kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.cli import main
from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments.tracking import Run
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
CHROMIUM = Path("/usr/bin/chromium")
MAX_BYTES = 1_000_000
HOSTILE = '<script>alert("x")</script> & \'q\''
HOSTILE_VALUE = "<img src=x onerror=alert(1)>"
SHIFTED = {"bill_length_mm": 1.3, "bill_depth_mm": 1.25, "flipper_length_mm": 1.2, "body_mass_g": 1.3}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def mlcycle(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), *args],
                          capture_output=True, text=True, timeout=240)


def json_of(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class Page(HTMLParser):
    """What the tests read from a report: tags in order (checked to nest), svgs, links, the verdict's text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.svgs = 0
        self.verdict = ""
        self.cards: list[str] = []
        self._in_verdict = 0
        self._card_h3 = False
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"never closed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        self.svgs += tag == "svg"
        if a.get("id") == "verdict":
            self._in_verdict = 1
        elif self._in_verdict and tag not in VOID:
            self._in_verdict += 1
        if tag == "h3" and self.stack and self.stack[-1] == "div" and "card" in self._classes_of_open_div():
            self._card_h3 = True
            self.cards.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def _classes_of_open_div(self) -> str:
        for tag, a in reversed(self.tags[:-1]):
            if tag == "div":
                return a.get("class") or ""
        return ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if self._in_verdict:
            self._in_verdict -= 1
        if tag == "h3":
            self._card_h3 = False

    def handle_data(self, data: str) -> None:
        if self._in_verdict:
            self.verdict += data
        if self._card_h3 and self.stack[-1] != "span":
            self.cards[-1] += data


def check_page(path: Path) -> tuple[str, Page]:
    """A report that parses cleanly, has inline charts, fetches nothing, and stays under 1 MB."""
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.problems == [], page.problems[:5]
    assert page.svgs >= 1
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed", "img", "link")]
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http://", "https://", "//")), (tag, name, value)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert len(text.encode()) < MAX_BYTES
    assert not list(path.parent.glob(f".{path.name}.*.part"))  # written through a temporary file, renamed
    return text, page


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """penguins (target sex) trained as a small forest, version 1 in production; a shifted copy of it."""
    root = tmp_path_factory.mktemp("reports")
    ws = Workspace.open(root / "ws")
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="sex")
    ws.training.settings["training"] = {"explain": False}  # no importances: the tests record their own
    run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    ws.registry.register(run["run_id"], "penguins")
    ws.registry.promote("penguins", 1)
    ws.close()
    frame = pd.read_csv(SAMPLES / "penguins.csv")
    for column, factor in SHIFTED.items():
        frame[column] = frame[column] * factor
    frame.to_csv(root / "shifted.csv", index=False)
    return root / "ws"


@pytest.fixture(scope="module")
def drift_cli(home: Path) -> dict[str, Any]:
    out = home.parent / "out" / "drift.html"
    doc = json_of(mlcycle(home, "report", "drift", "penguins", "--current", str(home.parent / "shifted.csv"),
                          "--out", str(out), "--json"))
    return doc


def wide_frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """50 input columns (40 numbers, 8 categories, a hostile name, a region with a hostile value) and a label."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {f"num_{i:02d}": rng.normal(0, 1, n) + (shift if i < 6 else 0.0) for i in range(40)}
    for i in range(8):
        p = [0.1, 0.2, 0.3, 0.4] if shift and i == 0 else [0.4, 0.3, 0.2, 0.1]
        cols[f"cat_{i}"] = rng.choice(["a", "b", "c", "d"], n, p=p)
    cols[HOSTILE] = rng.normal(5, 2, n) + 3 * shift
    cols["region"] = rng.choice(["north", "south", HOSTILE_VALUE], n)
    logit = cols["num_00"] + 0.8 * cols["num_01"] - 0.5 * cols["num_02"] + (cols["cat_0"] == "a") * 0.7
    cols["label"] = np.where(logit + rng.normal(0, 0.8, n) > 0, "yes", "no")
    return pd.DataFrame(cols)


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The 50-column workspace and its three reports, written through the Python API."""
    root = tmp_path_factory.mktemp("wide")
    wide_frame(700, 1).to_csv(root / "train.csv", index=False)
    wide_frame(1000, 2, shift=0.8).to_csv(root / "current.csv", index=False)
    with Workspace.open(root / "ws") as ws:
        ws.data.ingest(root / "train.csv", name="wide", target="label")
        ws.training.settings["training"] = {"explain": False}  # cards in the order of their statistics
        run = ws.training.train("wide", "logistic")
        ws.registry.register(run["run_id"], "wide")
        ws.registry.promote("wide", 1)
        reports = {
            "drift": ws.reports.drift_check("wide", current=str(root / "current.csv"), estimate=True, chunk=250,
                                            out=root / "drift.html"),
            "evaluation": ws.reports.evaluation("wide", slice_column="region", sensitive="region",
                                                out=root / "evaluation.html"),
            "model": ws.reports.model("wide", slice_column=HOSTILE, sensitive="region", out=root / "model.html"),
        }
    return {"root": root, "reports": reports}


# --------------------------------------------------------------------------- the drift report


def test_drift_report_leads_with_the_verdict_and_the_drifted_columns(drift_cli: dict[str, Any]) -> None:
    path = Path(drift_cli["path"])
    assert drift_cli["kind"] == "drift" and drift_cli["report_id"] >= 1
    assert drift_cli["headline"].startswith("Drift in 4 of 7 columns")
    text, page = check_page(path)
    assert page.verdict.strip().startswith("Drift in 4 of 7 columns")
    assert text.index('id="verdict"') < text.index("<svg")  # the verdict comes before any chart
    # the four shifted columns are the first cards, each with its histogram; the rest is a table row
    assert {c.strip() for c in page.cards[:4]} == set(SHIFTED)
    assert page.svgs >= 4 + 1
    assert "All columns" in text and "island" in text


def test_stored_drift_report_is_written_with_out(home: Path, drift_cli: dict[str, Any],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = home.parent / "out" / "stored.html"
    doc = json_of(mlcycle(home, "monitor", "report", str(drift_cli["report_id"]), "--out", str(out), "--json"))
    assert doc["path"] == str(out) and doc["report_id"] == drift_cli["report_id"]
    assert doc["verdict"] == "drift" and len(doc["columns"]) == 7  # still the stored report's JSON
    text, page = check_page(out)
    assert page.verdict.strip().startswith("Drift in 4 of 7 columns")
    assert f"check: <b>{drift_cli['report_id']}</b>" in text
    # the same command for people, in this process (the subprocess above is the one that counts for --json)
    assert main(["--workspace", str(home), "monitor", "report", str(drift_cli["report_id"]), "--out", str(out)]) == 0
    human = capsys.readouterr().out
    assert human.startswith("penguins@1: DRIFT in 4/7 columns") and f"HTML report written to {out}" in human


def test_a_check_that_cannot_judge_says_so(home: Path) -> None:
    few = pd.read_csv(SAMPLES / "penguins.csv").head(10)
    with Workspace.open(home) as ws:
        rep = ws.reports.drift_check("penguins", current=few)
    assert rep.headline.startswith("Cannot judge: not enough data (10 rows; needs 20)")
    page = Page(rep.html)
    assert page.problems == [] and page.verdict.strip().startswith("Cannot judge")
    assert "--window 7d" in rep.html  # what to do next
    assert rep.path is None


def test_a_stored_check_of_logged_predictions_is_drawn_from_its_own_rows(home: Path, tmp_path: Path) -> None:
    shutil.copytree(home, tmp_path / "ws")
    inputs = pd.read_csv(SAMPLES / "penguins.csv").dropna().drop(columns=["sex"]).head(60)
    inputs["bill_length_mm"] *= 1.3
    now = time.time()
    rows = [prediction_row(new_prediction_id(), "penguins", 1, rec, "male", at=now - 120 + i)
            for i, rec in enumerate(inputs.to_dict("records"))]
    with Workspace.open(tmp_path / "ws") as ws:
        ws.predictions.log(rows)
        ws.predictions.add_feedback("penguins", [{"prediction_id": r[0], "label": "female"} for r in rows[:30]])
        first = ws.reports.drift_check("penguins", window="1h")
        # later traffic, far off: a report of the stored check must not draw it
        later = [prediction_row(new_prediction_id(), "penguins", 1, dict(rec, bill_length_mm=5.0), "male",
                                at=now - 30 + i) for i, rec in enumerate(inputs.head(40).to_dict("records"))]
        ws.predictions.log(later)
        again = ws.reports.drift(first.report_id)
    charts = re.findall(r"<svg.*?</svg>", first.html, re.S)
    assert len(charts) >= 4 and re.findall(r"<svg.*?</svg>", again.html, re.S) == charts
    assert again.notes == [] and "bill_length_mm" in Page(again.html).cards[0]
    assert "Performance on labelled rows" in again.html  # the feedback labels of the window's rows


def test_recorded_importances_rank_the_drifted_columns(home: Path, drift_cli: dict[str, Any],
                                                        tmp_path: Path) -> None:
    shutil.copytree(home, tmp_path / "ws")
    with Workspace.open(tmp_path / "ws") as ws:
        run_id = ws.registry.model_version("penguins").run_id
        before = ws.reports.drift(drift_cli["report_id"])
        # what a run's permutation importances look like as an artifact (a list of {feature, importance})
        importances = [{"feature": "body_mass_g", "importance": 0.30}, {"feature": "species", "importance": 0.25},
                       {"feature": "bill_depth_mm", "importance": 0.02}, {"feature": "year", "importance": 0.0}]
        Run(ws.runs, run_id, "penguins").log_artifact(json.dumps(importances).encode(), name="importances.json")
        after = ws.reports.drift(drift_cli["report_id"])
    assert "the model relies on it" not in before.html and "recorded no feature importances" in before.html
    cards = [c.strip() for c in Page(after.html).cards]
    assert cards[0] == "body_mass_g"  # the drifted column the model relies on most comes first
    assert set(cards[:4]) == set(SHIFTED) and cards[:4] != [c.strip() for c in Page(before.html).cards[:4]]
    assert "Drift in columns the model relies on: <b>body_mass_g</b>" in after.html
    assert after.html.count("the model relies on it") == 1  # species relies too, but did not drift: no card


def test_out_must_be_a_file_and_is_replaced_whole(home: Path, tmp_path: Path) -> None:
    with Workspace.open(home) as ws:
        with pytest.raises(UserError, match="is a folder; give a file name such as"):
            ws.reports.model("penguins", out=tmp_path)
        target = tmp_path / "deep" / "card.html"
        target.parent.mkdir()
        target.write_text("an older report")
        rep = ws.reports.model("penguins", out=target)
    assert rep.path == target and target.read_text(encoding="utf-8") == rep.html
    assert sorted(p.name for p in target.parent.iterdir()) == ["card.html"]  # no temporary file left
    assert "written to" in rep.message and "open it in a browser" in rep.message


# --------------------------------------------------------------------------- evaluation and the model card


def test_evaluation_report_has_curves_slices_and_fairness(home: Path) -> None:
    out = home.parent / "out" / "evaluation.html"
    doc = json_of(mlcycle(home, "report", "evaluation", "penguins", "--slice", "island", "--sensitive",
                          "species", "--out", str(out), "--json"))
    assert doc["path"] == str(out) and doc["headline"].startswith("f1 ")
    text, page = check_page(out)
    assert page.verdict.strip().startswith("f1 ")
    for heading in ("Metrics against the baseline", "Confusion matrix", "ROC curve", "Precision-recall curve",
                    "Per slice of island", "Fairness across species"):
        assert heading in text, heading
    for group in ("Adelie", "Chinstrap", "Gentoo", "Biscoe", "Dream", "Torgersen"):
        assert group in text
    assert page.svgs >= 5  # bars, confusion matrix, ROC, PR, slices (and fairness gaps)


def test_model_card_has_data_recipe_gates_and_lineage(home: Path) -> None:
    out = home.parent / "out" / "model.html"
    doc = json_of(mlcycle(home, "report", "model", "penguins@production", "--out", str(out), "--json"))
    assert doc["subject"] == "penguins@1" and "promotion gates passed" in doc["headline"]
    text, page = check_page(out)
    assert "Model card · penguins@1" in text
    for section in ("Data", "Schema", "Recipe", "Metrics against the baseline", "Feature importances",
                    "Promotion gates", "Lineage", "Alias history", "Versions of penguins"):
        assert f">{section}" in text, section
    assert "penguins@1" in text and "<code>rf</code>" in text and "n_estimators=10" in text
    assert "random, test size 0.2, seed 42" in text  # the split of the recipe (sex has gaps: not stratified)
    assert ">production<" in text  # the alias history row
    assert page.svgs >= 3


# --------------------------------------------------------------------------- 50 columns: size and escaping


def test_reports_of_50_columns_stay_small(wide: dict[str, Any]) -> None:
    for kind, rep in wide["reports"].items():
        assert rep.path is not None and rep.path.stat().st_size == rep.bytes
        assert rep.bytes < MAX_BYTES, (kind, rep.bytes)
        check_page(rep.path)
    drift = wide["reports"]["drift"]
    assert "of 50 columns drifted" in drift.headline
    assert "Estimated performance" in drift.html and "CBPE" in drift.html  # --estimate: 4 chunks of 250 rows
    assert "Cannot estimate" not in drift.html
    assert len(re.findall(r'class="card(?: bad)?"', drift.html)) <= 7  # at most 6 columns and the predictions


def test_hostile_column_names_and_values_are_escaped(wide: dict[str, Any]) -> None:
    for kind, rep in wide["reports"].items():
        assert HOSTILE not in rep.html and HOSTILE_VALUE not in rep.html, kind
        page = Page(rep.html)
        assert not [t for t, _ in page.tags if t in ("script", "img")], kind
        assert page.problems == []
    drift = wide["reports"]["drift"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in drift.html
    # the hostile column moved the most, so it is the first card, named as text
    assert Page(drift.html).cards[0].strip() == HOSTILE
    assert "&lt;img src=x onerror=alert(1)&gt;" in wide["reports"]["evaluation"].html


# --------------------------------------------------------------------------- a real browser


def png_pixels(path: Path) -> np.ndarray:
    """The RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded with zlib and numpy."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, width * bpp + 1)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prior = np.zeros(width * bpp, dtype=np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + prior) % 256
        elif kind == 1:
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        else:  # 3 average, 4 Paeth: each byte needs the one decoded before it (plain lists: faster)
            cur, up = [0] * bpp + line.tolist(), [0] * bpp + prior.tolist()
            for i in range(bpp, len(cur)):
                a, b, c = cur[i - bpp], up[i], up[i - bpp]
                if kind == 3:
                    cur[i] = (cur[i] + (a + b) // 2) % 256
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) % 256
            row = np.array(cur[bpp:], dtype=np.int64)
        out[y] = row
        prior = row
    return out.reshape(height, width, bpp)[:, :, :3]


def page_requests(net_log: Path) -> list[str]:
    """URLs that a page asked the network stack for, from Chromium's NetLog (--log-net-log).

    Every URL request Chromium starts is a URL_REQUEST_START_JOB event with the request's
    network isolation key; a request made by a page loaded from a file has the key
    "file://...", while Chromium's own background requests (update checks and the like)
    have another. The positive control in the test proves this finds page requests."""
    text = net_log.read_text(encoding="utf-8", errors="replace")
    try:
        log = json.loads(text)
    except ValueError:  # a log cut short: the events written so far
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log.get("events", []):
        params = event.get("params") or {}
        if event.get("type") == start_job and str(params.get("network_isolation_key", "")).startswith("file://"):
            urls.append(str(params.get("url")))
    return urls


def render(html: Path, work: Path) -> tuple[Path, list[str]]:
    """Headless Chromium, no network at all (every host name fails to resolve): a PNG and the page's requests."""
    png, net_log = work / f"{html.stem}.png", work / f"{html.stem}.netlog.json"
    profile = work / f"profile-{html.stem}"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1200,1600", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--log-net-log={net_log}", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, env=os.environ | {"HOME": str(work)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.is_file(), proc.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    return png, page_requests(net_log)


def colours_near(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 6) -> int:
    return int((np.abs(pixels.astype(int) - np.array(rgb)).max(axis=2) <= tolerance).sum())


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                   "(apt-get install -y chromium)")
def test_reports_render_in_headless_chromium_without_network(home: Path, drift_cli: dict[str, Any],
                                                             wide: dict[str, Any], tmp_path: Path) -> None:
    # positive control: the same detector must see a page that does fetch (else it could see nothing)
    probe = tmp_path / "probe.html"
    probe.write_text('<!doctype html><p>probe</p><img src="http://mlcycle-probe.invalid/pixel.png">'
                     '<link rel="stylesheet" href="https://mlcycle-probe.invalid/style.css">', encoding="utf-8")
    _, probed = render(probe, tmp_path)
    assert sorted(probed) == ["http://mlcycle-probe.invalid/pixel.png", "https://mlcycle-probe.invalid/style.css"]

    for html in (Path(drift_cli["path"]), wide["reports"]["model"].path):
        png, requests = render(html, tmp_path)
        assert requests == [], requests
        pixels = png_pixels(png)
        assert pixels.shape == (1600, 1200, 3)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, charts, tints: not a blank page
        assert colours_near(pixels, (255, 255, 255)) < pixels.shape[0] * pixels.shape[1] * 0.97
        top = pixels[:450]
        if html.stem == "drift":
            assert colours_near(top, (0xFE, 0xF3, 0xF2), 2) > 20_000  # the red verdict box, at the top
            assert colours_near(pixels, (0x7A, 0x9C, 0xC6)) > 2_000  # reference bars of the histograms
            assert colours_near(pixels, (0xE8, 0x77, 0x2E)) > 2_000  # current bars
        else:
            assert colours_near(top, (0xDA, 0xFB, 0xE1), 2) > 20_000  # the green verdict box: gates passed
        shutil.copy(png, html.with_suffix(".png"))  # beside the report, to look at when it fails
