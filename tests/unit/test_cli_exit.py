"""The `mlcycle` program's quick exit keeps everything a normal exit guarantees."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_quick_exit_runs_exit_handlers_flushes_and_keeps_the_code() -> None:
    r = _run("""
        import atexit, sys
        from mlcycle_tui.cli import exit_now
        atexit.register(lambda: print("handler ran"))
        sys.stdout.write("x" * 200_000)  # buffered, not yet written
        exit_now(3)
    """)
    assert r.returncode == 3
    assert r.stdout.startswith("x" * 200_000) and r.stdout.endswith("handler ran\n")


def test_a_working_thread_is_waited_for() -> None:
    r = _run("""
        import threading, time
        from mlcycle_tui.cli import exit_now
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished", flush=True))).start()
        exit_now(4)
    """)
    assert r.returncode == 4 and "thread finished" in r.stdout
