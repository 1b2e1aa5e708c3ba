"""A killed `mlcycle serve` has logged every prediction it answered (issue 17, item 14).

Real server processes on 127.0.0.1 (port 0), 8 keep-alive client threads sending one-row
predictions, the server killed mid-load (SIGKILL: no chance to flush; SIGTERM: the clean
stop) and started again over the same workspace, three times; the last signal comes right
after the last answer, with no request in flight. Every prediction id
answered 200 must then be in the prediction log: the server replies only after the
transaction holding the row has been committed, and WAL keeps a committed row through a
process kill.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .helpers import ROW, Client

pytestmark = pytest.mark.slow

PREDICT = "/v1/models/penguins/predict"
CLIENTS = 8
ROUNDS = 3
LOAD_SECONDS = 1.5


def _serve(home: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(home), "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise AssertionError(f"the server did not start: {proc.communicate(timeout=10)[1][-2000:]}")
    # read both pipes all along: a server blocked on a full pipe would look like a server that hangs
    out: list[str] = []
    for pipe in (proc.stdout, proc.stderr):
        threading.Thread(target=lambda p=pipe: out.extend(p), daemon=True).start()
    proc.output = out  # type: ignore[attr-defined]
    return proc, int(json.loads(line)["port"])


def _wait(proc: subprocess.Popen[str], timeout: float) -> int:
    """The exit code; a server still running after `timeout` fails the test with what it printed
    (the server prints every thread's stack when stopping takes over 25 s)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        time.sleep(0.5)
        raise AssertionError(f"the server did not stop within {timeout:g} s of the signal:\n"
                             + "".join(proc.output)[-6000:]) from None  # type: ignore[attr-defined]


def _load_then(proc: subprocess.Popen[str], port: int, sig: signal.Signals,
               after_traffic: bool = False) -> tuple[list[str], int]:
    """8 clients send one-row predictions until the server goes away, `sig` sent mid-load
    (or, `after_traffic`, right after the last answer, as in the issue).

    Returns the ids answered 200 and the number of other answers (there should be none)."""
    answered: list[str] = []
    others: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def traffic() -> None:
        client = Client(port)
        try:
            while not stop.is_set():
                try:
                    status, out = client.post(PREDICT, {"instances": [ROW]})
                except Exception:
                    return  # the server went away: a request without an answer does not count
                with lock:
                    if status == 200:
                        answered.extend(out["prediction_ids"])
                    else:
                        others.append(status)
        finally:
            client.close()

    threads = [threading.Thread(target=traffic, daemon=True) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    if after_traffic:  # every request answered, then the signal at once
        stop.set()
        for t in threads:
            t.join(30)
    proc.send_signal(sig)
    if sig == signal.SIGTERM:
        # keep-alive clients may go on sending while the server drains (up to its 5 s drain timeout):
        # half a second of that is the interesting part
        time.sleep(0.5)
        stop.set()
    code = _wait(proc, 30)
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    if sig == signal.SIGTERM:
        assert code == 0, "".join(proc.output)[-3000:]  # type: ignore[attr-defined]
    else:
        assert code == -signal.SIGKILL
    with lock:
        return list(answered), len(others)


def _logged(home: Path) -> set[str]:
    conn = sqlite3.connect(home / "mlcycle.db", timeout=30)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM predictions")}
    finally:
        conn.close()


def _kill_rounds(home: Path, sig: signal.Signals) -> None:
    answered: list[str] = []
    per_round = []
    for round_ in range(ROUNDS):
        proc, port = _serve(home)
        try:
            ids, others = _load_then(proc, port, sig, after_traffic=round_ == ROUNDS - 1)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert others == 0
        lost_now = len(set(ids) - _logged(home))
        per_round.append((len(ids), lost_now))
        answered += ids
    assert len(answered) == len(set(answered))
    assert all(n > 50 for n, _ in per_round), per_round  # each round was under load when the signal came
    lost = set(answered) - _logged(home)
    print(f"\n{sig.name}: {len(answered)} answered over {ROUNDS} rounds, {len(lost)} not logged "
          f"(per round: answered, lost = {per_round})")
    assert not lost, f"{len(lost)} of {len(answered)} answered predictions are not in the log: {per_round}"


def test_sigkill_mid_load_loses_no_answered_prediction(trained_home: Path, tmp_path: Path) -> None:
    import shutil

    home = tmp_path / "ws"
    shutil.copytree(trained_home, home)
    _kill_rounds(home, signal.SIGKILL)


def test_sigterm_mid_load_loses_no_answered_prediction(trained_home: Path, tmp_path: Path) -> None:
    import shutil

    home = tmp_path / "ws"
    shutil.copytree(trained_home, home)
    _kill_rounds(home, signal.SIGTERM)
