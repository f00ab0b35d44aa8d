"""The CLI's progress display: on a terminal only, never in pipes or JSON."""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apps import running_app, starts
from support import LINUX, PACKAGE_ROOT, ROOT, child_env

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

BLIND = [] if ROOT else ["--ignore-uninspected"]
SLOW_EXIT = "1.5"  # seconds each application takes to exit after SIGTERM


def run_on_terminal(*args: str) -> tuple[int, str, str]:
    """Run the CLI with its stderr on a pseudo-terminal: status, stdout, tty."""
    import fcntl  # POSIX only: imported here so that collection works on Windows
    import termios

    leader, follower = os.openpty()
    # 160 columns: room for the whole line, which is cut to the width.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rstrtmgr", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=child_env(),
        cwd=PACKAGE_ROOT,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: the terminal's last user has gone
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out = proc.stdout.read().decode() if proc.stdout else ""
        status = proc.wait(timeout=60)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return status, out, seen.decode("utf-8", "replace")


@pytest.fixture
def slow_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    held = tmp_path / "app.dat"
    held.write_bytes(b"x")
    env = child_env(REPLACE_TEST_TERM_DELAY=SLOW_EXIT)
    with running_app(tmp_path, held, env=env) as (_, log):
        yield held, log


def test_terminal_shows_who_is_waited_for_and_how_long(slow_app) -> None:  # type: ignore[no-untyped-def]
    held, log = slow_app
    pid = starts(log)[0]["pid"]
    status, out, tty = run_on_terminal(
        "replace",
        *BLIND,
        "--settle-time",
        "0.3",
        "--timeout",
        "20",
        str(held),
        "--",
        "true",
    )
    assert status == 0, tty
    assert "waiting for" in tty
    assert str(pid) in tty
    assert "s left" in tty
    assert "restart" in tty
    assert "\x1b[K" in tty  # the status line is redrawn in place, then cleared
    assert "waiting for" not in out


def test_nothing_is_shown_with_json_on_a_terminal(slow_app) -> None:  # type: ignore[no-untyped-def]
    held, _ = slow_app
    status, out, tty = run_on_terminal(
        "shutdown", "--hold", "0", *BLIND, "--json", "--timeout", "20", str(held)
    )
    assert status == 0, tty
    assert "waiting for" not in tty
    assert "\x1b[K" not in tty
    assert out.lstrip().startswith("{")


def test_nothing_is_shown_in_a_pipe(slow_app) -> None:  # type: ignore[no-untyped-def]
    held, _ = slow_app
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rstrtmgr",
            "shutdown",
            "--hold",
            "0",
            *BLIND,
            "--timeout",
            "20",
            str(held),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "waiting for" not in done.stderr
    assert "\x1b" not in done.stderr
    assert "\r" not in done.stderr
