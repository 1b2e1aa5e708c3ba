"""`serve_forever` when stopping hangs: the stacks go to stderr, and a second signal stops at once.

A real process and real signals; only the stop is made slow (it sleeps), standing in for
whatever could hold a drain up.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import signal, sys, time
from mlcycle_tui.server.runner import ServerRunner

install = signal.signal
def announce(signum, handler):  # says when serve_forever's handlers are in place
    previous = install(signum, handler)
    if signum == signal.SIGINT and handler is not previous:
        print("listening", flush=True)
    return previous
signal.signal = announce

runner = ServerRunner(sys.argv[1], port=0)
runner.stop_watchdog = 0.5
runner.stop = lambda timeout=30.0: time.sleep(60)  # a stop that hangs
runner.start()
runner.serve_forever()
"""


def test_a_hanging_stop_prints_its_stacks_and_a_second_signal_ends_it(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "ws")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
        proc.send_signal(signal.SIGTERM)
        time.sleep(2.0)  # the watchdog fires after 0.5 s of stopping
        assert proc.poll() is None, "the first signal's stop is meant to still be running"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        assert time.monotonic() - started < 5
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert code == 128 + signal.SIGTERM
    assert "most recent call first" in err and "serve_forever" in err, err[-2000:]
