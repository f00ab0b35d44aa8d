"""``rstrtmgr restart``: what an earlier ``rstrtmgr shutdown`` stopped comes back."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from apps import alive, came_back, cli, running_app, starts
from support import LINUX, ROOT

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

BLIND = [] if ROOT else ["--ignore-uninspected"]
SETTLE = ["--settle-time", "0.3"]


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "app.dat"
    path.write_bytes(b"old")
    return path


def session_key(stderr: str) -> str:
    found = re.search(r"\(session ([0-9a-f]{32})\)", stderr)
    assert found, stderr
    return found[1]


def test_restart_brings_back_what_a_shutdown_stopped(
    tmp_path: Path, target: Path
) -> None:
    with running_app(tmp_path, target) as (_, log):
        first = starts(log)[0]["pid"]
        down = cli("shutdown", *BLIND, *SETTLE, "--hold", "60", str(target))
        # The command itself has ended (its output read to the end): the
        # session waits in a detached keeper.
        assert down.returncode == 0, down.stderr
        assert "rstrtmgr restart" in down.stderr
        assert not alive(first)
        assert len(starts(log)) == 1
        back = cli("restart")
        assert back.returncode == 0, back.stderr
        second = came_back(log)["pid"]
        assert f"restarted: {first} -> {second}" in back.stdout
        # Once restarted the session has ended: nothing more to restart.
        again = cli("restart")
        assert again.returncode == 4
        assert "no shutdown of this user waits" in again.stderr
        assert len(starts(log)) == 2


def test_restart_by_session_key_takes_that_shutdown(
    tmp_path: Path, target: Path
) -> None:
    other = tmp_path / "other.dat"
    other.write_bytes(b"x")
    with (
        running_app(tmp_path, target) as (_, log_a),
        running_app(tmp_path, other) as (_, log_b),
    ):
        a = cli("shutdown", *BLIND, *SETTLE, "--hold", "60", str(target))
        b = cli("shutdown", *BLIND, *SETTLE, "--hold", "60", str(other))
        assert (a.returncode, b.returncode) == (0, 0), (a.stderr, b.stderr)
        wrong = cli("restart", "--session", "0" * 32)
        assert wrong.returncode == 4
        first = cli("restart", "--session", session_key(a.stderr))
        assert first.returncode == 0, first.stderr
        came_back(log_a)
        assert len(starts(log_b)) == 1  # the other shutdown still waits
        latest = cli("restart")
        assert latest.returncode == 0, latest.stderr
        came_back(log_b)


def test_a_held_session_ends_after_hold(tmp_path: Path, target: Path) -> None:
    with running_app(tmp_path, target) as (_, log):
        down = cli("shutdown", *BLIND, "--hold", "0.5", str(target))
        assert down.returncode == 0, down.stderr
        time.sleep(1.5)
        late = cli("restart")
        assert late.returncode == 4
        assert len(starts(log)) == 1  # left down, as a shutdown leaves it


def test_hold_0_keeps_nothing(tmp_path: Path, target: Path) -> None:
    with running_app(tmp_path, target) as (_, log):
        down = cli("shutdown", *BLIND, "--hold", "0", str(target))
        assert down.returncode == 0, down.stderr
        assert "rstrtmgr restart" not in down.stderr
        assert cli("restart").returncode == 4
        assert len(starts(log)) == 1


SQUATTER = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\\0" + sys.argv[1])
s.listen(4)
print("bound", flush=True)
conn, _ = s.accept()  # answers nothing: its peer refuses it first
time.sleep(30)
"""


def test_another_users_socket_under_a_keepers_name_is_passed_over(
    tmp_path: Path, target: Path, other_user_python: list[str]
) -> None:
    import os
    import subprocess

    with running_app(tmp_path, target) as (_, log):
        down = cli("shutdown", *SETTLE, "--hold", "60", str(target))
        assert down.returncode == 0, down.stderr
        key = session_key(down.stderr)
        # Newer than the real keeper, with its key: picked first, refused.
        fake = f"rstrtmgr-restart-{os.getuid()}-{time.time_ns() * 2}-{key}"
        squatter = subprocess.Popen(
            [*other_user_python, "-c", SQUATTER, fake],
            user=65534,
            group=65534,
            extra_groups=[],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert squatter.stdout is not None
            assert squatter.stdout.readline().strip() == "bound"
            back = cli("restart")
            assert back.returncode == 0, back.stderr
            came_back(log)
        finally:
            squatter.kill()
            squatter.communicate(timeout=30)
