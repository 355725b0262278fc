"""The suite's own check that no test leaves a thread running, tried on an inner pytest session."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

INNER = """
import threading

def test_leaves_a_thread():
    stop = threading.Event()
    threading.Thread(target=stop.wait, args=(30,), name="left-behind", daemon=True).start()

def test_joins_its_thread():
    worker = threading.Thread(target=lambda: None, name="joined")
    worker.start()
    worker.join()

def test_starts_fsspecs_loop_thread_which_is_process_wide():
    threading.Thread(target=threading.Event().wait, args=(30,), name="fsspecIO", daemon=True).start()
"""


def test_a_test_that_leaves_a_thread_running_fails_and_names_it(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # where the inner session finds the guard
    pytester.makeconftest('pytest_plugins = ["thread_guard"]\n')
    pytester.makepyfile(test_inner=INNER)

    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")  # its threads end with it

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_leaves_a_thread*", "the test left threads running: left-behind (daemon)"]
    )
