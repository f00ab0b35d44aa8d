"""Session calls from the session's own progress callback: an error, never a hang.

``close()`` waits for the calls in flight, and ``shutdown()``/``restart()``
would start a second task of a session inside its first: from the callback
of that very session each raises ``ReentrantCallError`` (a RuntimeError), which
cancels the operation in progress and comes out of it. Other calls (for
example ``get_list()`` or ``cancel()``) are allowed there.
"""

from __future__ import annotations

import subprocess

import pytest
from support import LINUX, python

pytestmark = [pytest.mark.behaviour]

CHILD = r"""
import subprocess, sys, time
import rstrtmgr

path = sys.argv[1]
open(path, "wb").close()
# Ignores SIGTERM: the shutdown waits for it and reports progress meanwhile.
stubborn = subprocess.Popen(
    [sys.executable, "-c",
     "import signal, sys\n"
     "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
     "f = open(sys.argv[1])\n"
     "print('ready', flush=True)\n"
     "sys.stdin.read()\n", path],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
stubborn.stdout.readline()

s = rstrtmgr.Session()
s.register(files=[path])
for what in ("close", "shutdown", "restart"):
    seen = []

    def callback(percent, what=what):
        seen.append(percent)
        getattr(s, what)()

    t = time.monotonic()
    try:
        s.shutdown(timeout=5, progress=callback)
        answer = "returned"
    except Exception as e:
        answer = type(e).__name__
        reentrant = getattr(rstrtmgr, "ReentrantCallError", None)
        if reentrant is not None and isinstance(e, reentrant):
            assert isinstance(e, RuntimeError)
            assert what in str(e), str(e)
    print(what, answer, bool(seen), round(time.monotonic() - t, 1), flush=True)

# The session is still usable, and a callback may list and cancel.
listed = []
s.shutdown(timeout=0.5, force=True, progress=lambda p: listed.append(len(s.get_list())))
print("listed", bool(listed), flush=True)
s.close()
print("closed", s.closed, flush=True)
stubborn.kill()
"""


@pytest.mark.skipif(not LINUX, reason="needs a holder that ignores SIGTERM (POSIX)")
def test_close_shutdown_restart_from_own_callback_raise(tmp_path: object) -> None:
    proc = python(CHILD, str(tmp_path) + "/held")
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()  # its holder exits with it (end of its stdin)
        out, err = proc.communicate()
        pytest.fail(f"hung: {out!r}")
    assert proc.returncode == 0, err
    lines = out.split("\n")
    for what in ("close", "shutdown", "restart"):
        line = next(x for x in lines if x.startswith(what + " "))
        _, answer, called, seconds = line.split()
        assert called == "True", line
        assert answer == "ReentrantCallError", line
        assert float(seconds) < 5, line  # cancelled at once, not after the wait
    assert "listed True" in lines
    assert "closed True" in lines
