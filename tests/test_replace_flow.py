"""The installer flow never strands an application: ``rstrtmgr replace`` and
``rstrtmgr.shut_down``, whatever happens between the shutdown and the restart."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from apps import (
    alive,
    came_back,
    cli,
    cli_process,
    running_app,
    starts,
    terms,
    wait_for,
)
from holders import HOLD_FD, holder
from support import LINUX, OTHER_UID, ROOT, child_env

import rstrtmgr

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

# A COMMAND that says it runs, then waits to be interrupted.
WAITING_COMMAND = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(130))\n"
    "open(sys.argv[1], 'w').close()\n"
    "time.sleep(120)\n"
)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "app.dat"
    path.write_bytes(b"old")
    return path


# As an ordinary user, root's processes cannot be looked into: these tests
# mean to go on (their holders are their own).
BLIND = [] if ROOT else ["--ignore-uninspected"]
# How long each restarted program is watched: short, the tests check it runs.
SETTLE = ["--settle-time", "0.3"]


def wait_then_end(stderr: str) -> tuple[str, str]:
    """The note of the wait for those still exiting, and the last line."""
    lines = [
        line
        for line in stderr.strip().splitlines()
        if "could not be looked into" not in line
    ]
    assert len(lines) == 2, stderr
    assert "Traceback" not in stderr
    return lines[0], lines[1]


def one_line(stderr: str) -> str:
    """The one line of ``stderr``, besides the note on what even root cannot see."""
    lines = [
        line
        for line in stderr.strip().splitlines()
        if "could not be looked into" not in line
    ]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("signum", "status", "to_group"),
    [
        (signal.SIGINT, 130, True),  # Ctrl-C: the terminal signals the group
        (signal.SIGTERM, 143, False),
        (signal.SIGHUP, 129, False),
    ],
)
def test_signal_during_the_command_restarts_what_was_shut_down(
    tmp_path: Path, target: Path, signum: int, status: int, to_group: bool
) -> None:
    ran = tmp_path / "command-ran"
    with running_app(tmp_path, target) as (_, log):
        first = starts(log)[0]["pid"]
        replace = cli_process(
            "replace",
            *BLIND,
            *SETTLE,
            "--timeout",
            "20",
            str(target),
            "--",
            sys.executable,
            "-c",
            WAITING_COMMAND,
            str(ran),
        )
        try:
            assert wait_for(ran.exists), replace.communicate(timeout=60)
            assert not alive(first)
            if to_group:
                os.killpg(replace.pid, signum)
            else:
                os.kill(replace.pid, signum)
            _, err = replace.communicate(timeout=60)
        finally:
            if replace.poll() is None:
                replace.kill()
                replace.communicate()
        assert replace.returncode == status, err
        assert "interrupted" in one_line(err)
        came_back(log)  # running again before the CLI exited
        assert len(starts(log)) == 2


def _stopped_and_stuck(
    tmp_path: Path, target: Path, *cli_args: str
) -> tuple[float, str, int, list[dict[str, object]], list[dict[str, object]]]:
    """Two holders: one exits at SIGTERM, one takes 3 s; Ctrl-C mid-wait.

    The seconds from Ctrl-C until the first came back, the CLI's stderr,
    its status, and the starts of each.
    """
    slow_env = child_env(REPLACE_TEST_TERM_DELAY="3")
    with (
        running_app(tmp_path, target) as (_, fast_log),
        running_app(tmp_path, target, env=slow_env) as (_, slow_log),
    ):
        fast = starts(fast_log)[0]["pid"]
        slow = starts(slow_log)[0]["pid"]
        proc = cli_process(*cli_args)
        try:
            # The fast one is gone, the slow one got SIGTERM: the wait is on.
            assert wait_for(lambda: slow in terms(slow_log) and not alive(fast))
            signalled = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            came_back(fast_log, timeout=60)
            back_after = time.monotonic() - signalled
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        # The slow one, asked to exit, was waited for once what had stopped
        # was back, and restarted in its turn: nothing is left down.
        came_back(slow_log)
        return back_after, err, proc.returncode, starts(fast_log), starts(slow_log)


def test_ctrl_c_during_the_shutdown_wait_cancels_it_and_restarts_at_once(
    tmp_path: Path, target: Path
) -> None:
    ran = tmp_path / "command-ran"
    back_after, err, status, fast_starts, slow_starts = _stopped_and_stuck(
        tmp_path,
        target,
        "replace",
        *BLIND,
        *SETTLE,
        "--timeout",
        "60",
        str(target),
        "--",
        sys.executable,
        "-c",
        "pass",
        str(ran),
    )
    assert status == 130, err
    note, line = wait_then_end(err)
    # Within the second, before the wait: what is back, what is waited for.
    assert f"waiting up to 60 s for {slow_starts[0]['pid']} " in note
    assert f"restarted: {fast_starts[0]['pid']} -> {fast_starts[1]['pid']}" in note
    assert "interrupted by Ctrl-C; COMMAND did not run" in line
    first, second = (s["pid"] for s in fast_starts)
    assert f"restarted: {first} -> {second}" in line
    slow, slow_again = (s["pid"] for s in slow_starts)
    assert f"restarted: {slow} -> {slow_again}" in line
    assert "still running" not in line
    assert not ran.exists()
    # Not the 60 s timeout: the shutdown was cancelled (about 0.3 s here).
    assert back_after < 30


def test_failing_command_exits_6_and_restarts(tmp_path: Path, target: Path) -> None:
    with running_app(tmp_path, target) as (_, log):
        done = cli(
            "replace",
            *BLIND,
            *SETTLE,
            str(target),
            "--",
            sys.executable,
            "-c",
            "raise SystemExit(3)",
        )
        assert done.returncode == 6, done.stderr
        assert "exited with status 3" in done.stderr
        came_back(log)


@pytest.mark.parametrize("kind", ["typo", "missing", "not-executable", "directory"])
def test_command_that_cannot_run_stops_nothing(
    tmp_path: Path, target: Path, kind: str
) -> None:
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    command = {
        "typo": "cpp-typo-no-such-program",
        "missing": str(tmp_path / "no-such-command"),
        "not-executable": str(plain),
        "directory": str(tmp_path),
    }[kind]
    with running_app(tmp_path, target) as (_, log):
        first = starts(log)[0]["pid"]
        done = cli("replace", *BLIND, *SETTLE, str(target), "--", command, "x")
        assert done.returncode == 6, done.stderr
        assert command in done.stderr
        assert "nothing was shut down" in done.stderr
        assert "Traceback" not in done.stderr
        # Nothing was stopped, so nothing came back: the first copy runs on.
        assert alive(first)
        assert terms(log) == []
        assert len(starts(log)) == 1


def test_replace_that_works_restarts_and_exits_0(tmp_path: Path, target: Path) -> None:
    with running_app(tmp_path, target) as (_, log):
        done = cli(
            "replace",
            *BLIND,
            *SETTLE,
            str(target),
            "--",
            sys.executable,
            "-c",
            "import sys; open(sys.argv[1], 'wb').write(b'new')",
            str(target),
        )
        assert done.returncode == 0, done.stderr
        came_back(log)
    assert target.read_bytes() == b"new"


def test_only_registered_with_an_unregistered_holder_exits_5(
    tmp_path: Path, target: Path
) -> None:
    ran = tmp_path / "command-ran"
    with holder(HOLD_FD, str(target)) as plain:
        done = cli(
            "replace",
            *BLIND,
            *SETTLE,
            "--only-registered",
            str(target),
            "--",
            sys.executable,
            "-c",
            "import sys; open(sys.argv[1], 'w')",
            str(ran),
        )
        assert done.returncode == 5, done.stderr
        message = one_line(done.stderr)
        assert str(plain.pid) in message
        assert "--only-registered" in message
        assert "776" not in done.stderr
        assert "only_registered" not in done.stderr
        assert plain.poll() is None
    assert not ran.exists()


def test_shutdown_failure_speaks_the_cli_language(target: Path) -> None:
    ignore = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    with holder(ignore + HOLD_FD, str(target)) as child:
        done = cli("shutdown", *BLIND, "--timeout", "0.2", str(target))
        assert done.returncode == 5
        assert "--force" in done.stderr
        assert "force=True" not in done.stderr
        assert str(child.pid) in done.stderr


# -- as a user who cannot look into root's processes -------------------------


@pytest.fixture
def others_cli(other_user_python: list[str], shared_tmp: Path):  # type: ignore[no-untyped-def]
    home = shared_tmp / "other-user"
    home.mkdir(mode=0o700)
    os.chown(home, OTHER_UID, OTHER_UID)

    def run(*args: str):  # type: ignore[no-untyped-def]
        return cli(
            *args,
            env=child_env(RSTRTMGR_STATE_DIR=str(home / "store")),
            user=OTHER_UID,
            group=OTHER_UID,
            extra_groups=[],
        )

    return run


@pytest.mark.skipif(not ROOT, reason="needs root to hold a file as another user")
def test_user_who_cannot_see_roots_holder_exits_3(
    others_cli,
    shared_tmp: Path,  # type: ignore[no-untyped-def]
) -> None:
    target = shared_tmp / "app.dat"
    target.write_bytes(b"x")
    target.chmod(0o644)
    marker = shared_tmp / "writable"
    marker.mkdir()
    os.chown(marker, OTHER_UID, OTHER_UID)
    ran = marker / "command-ran"
    command = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w')", str(ran)]
    with holder(HOLD_FD, str(target)) as roots:
        down = others_cli("shutdown", str(target))
        assert down.returncode == 3, down.stderr
        assert "--ignore-uninspected" in down.stderr
        assert "no process uses" not in down.stdout
        replaced = others_cli("replace", str(target), "--", *command)
        assert replaced.returncode == 3, replaced.stderr
        assert not ran.exists()
        assert roots.poll() is None
        anyway = others_cli(
            "replace", "--ignore-uninspected", str(target), "--", *command
        )
        assert anyway.returncode == 0, anyway.stderr
        assert ran.exists()
        assert roots.poll() is None  # it could not be seen, nor signalled


@pytest.mark.skipif(not ROOT, reason="root's own view")
def test_root_says_what_it_could_not_look_into_and_goes_on(target: Path) -> None:
    with rstrtmgr.Session() as s:
        s.register(files=[target])
        blind = s.get_list().uninspected
    if not blind:
        pytest.skip("root can look into every process here")
    done = cli("shutdown", str(target))
    assert done.returncode == 0, done.stderr
    assert "even as root" in done.stderr or "even to root" in done.stderr


# -- the facade's pattern -----------------------------------------------------


def test_shut_down_restarts_whatever_the_body_raises(
    tmp_path: Path, target: Path
) -> None:
    with running_app(tmp_path, target) as (_, log), rstrtmgr.Session() as s:
        first = starts(log)[0]["pid"]
        s.register(files=[target])
        seen: list[bool] = []

        def replace_files() -> None:
            seen.append(alive(first))
            raise KeyboardInterrupt

        with (
            pytest.raises(KeyboardInterrupt),
            rstrtmgr.shut_down(s, timeout=20, settle_time=0.3),
        ):
            replace_files()
        assert seen == [False]
        came_back(log)


def test_shut_down_restarts_what_stopped_when_the_shutdown_fails(
    tmp_path: Path, target: Path
) -> None:
    ignore = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    with (
        running_app(tmp_path, target) as (_, log),
        holder(ignore + HOLD_FD, str(target)) as stubborn,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[target])
        with (
            pytest.raises(rstrtmgr.ShutdownFailedError),
            rstrtmgr.shut_down(s, timeout=0.5, settle_time=0.3),
        ):
            pytest.fail("the body runs only when everything was shut down")
        came_back(log)
        assert stubborn.poll() is None


def test_shut_down_with_nothing_to_shut_down(target: Path) -> None:
    with rstrtmgr.Session() as s:
        s.register(files=[target])
        with rstrtmgr.shut_down(s) as result:
            assert result.processes == []


def test_ctrl_c_during_shutdown_cancels_it_and_restarts_what_stopped(
    tmp_path: Path, target: Path
) -> None:
    back_after, err, status, fast_starts, slow_starts = _stopped_and_stuck(
        tmp_path, target, "shutdown", *BLIND, "--timeout", "60", str(target)
    )
    assert status == 130, err
    note, line = wait_then_end(err)
    # Within the second, before the wait: what is back, what is waited for.
    assert f"waiting up to 60 s for {slow_starts[0]['pid']} " in note
    assert f"restarted: {fast_starts[0]['pid']} -> {fast_starts[1]['pid']}" in note
    assert "interrupted by Ctrl-C; the shutdown was cancelled" in line
    first, second = (s["pid"] for s in fast_starts)
    assert f"restarted: {first} -> {second}" in line
    slow, slow_again = (s["pid"] for s in slow_starts)
    assert f"restarted: {slow} -> {slow_again}" in line
    assert "still running" not in line
    assert back_after < 30


# Registers a restart that fails: the restarted copy says why and exits 3.
REGISTER_FAILING = (
    "if sys.argv[-1] == '--fail':\n"
    "    sys.stderr.write('cannot resume: the state file is gone\\n')\n"
    "    sys.exit(3)\n"
    "import rstrtmgr\n"
    "rstrtmgr.register_application_restart([sys.argv[1], sys.argv[2], '--fail'])"
)


def test_restart_that_dies_at_once_exits_7_with_its_stderr(
    tmp_path: Path, target: Path
) -> None:
    with running_app(tmp_path, target, register=REGISTER_FAILING) as (_, log):
        first = starts(log)[0]["pid"]
        done = cli("replace", *BLIND, *SETTLE, str(target), "--", "true")
        assert done.returncode == 7, done.stderr
        assert f"not restarted: {first}" in done.stderr
        assert "exited with status 3" in done.stderr
        assert "cannot resume: the state file is gone" in done.stderr
        assert "Traceback" not in done.stderr


def test_restarted_processes_are_shown_old_to_new(tmp_path: Path, target: Path) -> None:
    with running_app(tmp_path, target) as (_, log):
        first = starts(log)[0]["pid"]
        done = cli("replace", *BLIND, *SETTLE, str(target), "--", "true")
        assert done.returncode == 0, done.stderr
        second = came_back(log)["pid"]
        assert f"restarted: {first} -> {second}" in done.stdout


def test_replace_json_has_the_users_and_the_new_pids(
    tmp_path: Path, target: Path
) -> None:
    import json
    import pwd
    from importlib import resources

    from jsonschema import Draft202012Validator

    with running_app(tmp_path, target) as (_, log):
        first = starts(log)[0]["pid"]
        done = cli("replace", "--json", *BLIND, *SETTLE, str(target), "--", "true")
        assert done.returncode == 0, done.stderr
        second = came_back(log)["pid"]
    data = json.loads(done.stdout)
    schema = json.loads(
        (resources.files("rstrtmgr") / "list-output.schema.json").read_text()
    )
    Draft202012Validator(schema).validate(data)
    [p] = [p for p in data["processes"] if p["pid"] == first]
    assert p["restarted_pid"] == second
    assert p["status"] == ["restarted"]
    assert p["uid"] == os.getuid()
    assert p["user"] == pwd.getpwuid(os.getuid()).pw_name


def test_ctrl_c_names_what_is_still_exiting_after_the_timeout(
    tmp_path: Path, target: Path
) -> None:
    slow_env = child_env(REPLACE_TEST_TERM_DELAY="60")
    with (
        running_app(tmp_path, target) as (_, fast_log),
        running_app(tmp_path, target, env=slow_env) as (_, slow_log),
    ):
        fast = starts(fast_log)[0]["pid"]
        slow = starts(slow_log)[0]["pid"]
        proc = cli_process("shutdown", *BLIND, "--timeout", "2", str(target))
        try:
            assert wait_for(lambda: slow in terms(slow_log) and not alive(fast))
            os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        came_back(fast_log)
        assert proc.returncode == 130, err
        note, line = wait_then_end(err)
        assert f"waiting up to 2 s for {slow} " in note
        assert f"still running, not stopped: {slow}" in line
        assert alive(slow)  # never killed without --force
