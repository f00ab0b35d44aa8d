"""The ``rstrtmgr list`` command: table, JSON and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from holders import HOLD_FD, holder
from support import LINUX, PACKAGE_ROOT, ROOT, child_env

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rstrtmgr", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,  # not the checkout: `-m` imports from the cwd first
        check=False,
    )


def test_list_in_use_table_and_json(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        table = cli("list", str(path))
        assert table.returncode == 1
        assert str(child.pid) in table.stdout.split()
        js = cli("list", "--json", str(path))
        assert js.returncode == 1
        data = json.loads(js.stdout)
        assert [p["pid"] for p in data["processes"]] == [child.pid]
        assert data["processes"][0]["status"] == ["running"]
    free = cli("list", "--json", str(path))
    assert json.loads(free.stdout)["processes"] == []
    assert free.returncode == (3 if json.loads(free.stdout)["uninspected"] else 0)


def test_list_table_is_that_of_the_details(tmp_path: Path) -> None:
    # The table asks for the users alone, not the details' second look: it
    # prints what the table of the full details prints.
    import rstrtmgr
    from rstrtmgr._cli_list import table, without_self

    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        out = cli("list", str(path))
        with rstrtmgr.Session() as s:
            s.register(files=[path])
            full = without_self(s.get_list(details=True))
        assert out.stdout == table(full) + "\n"
        assert str(child.pid) in out.stdout.split()
        verbose = cli("list", "-v", str(path))
        assert verbose.stdout == table(full, verbose=True) + "\n"
        # STARTED is the start time in local time, to the second, in
        # whatever zone the table is printed.
        (info,) = full.processes
        for zone in ("UTC", "Asia/Kathmandu", "America/St_Johns"):
            local = cli_in_zone(zone, "list", str(path))
            started = local.stdout.splitlines()[1].split()[-2:]
            want = child_start_in(zone, info.start_filetime)
            assert " ".join(started) == want


def cli_in_zone(zone: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rstrtmgr", *args],
        capture_output=True,
        text=True,
        env=child_env(TZ=zone),
        cwd=PACKAGE_ROOT,
        check=False,
    )


def child_start_in(zone: str, filetime: int) -> str:
    """The start time as a datetime prints it in local time under TZ=zone."""
    code = (
        "import sys\n"
        "from rstrtmgr._types import filetime_to_datetime\n"
        "t = filetime_to_datetime(int(sys.argv[1]))\n"
        "print(t.astimezone().strftime('%Y-%m-%d %H:%M:%S'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(filetime)],
        capture_output=True,
        text=True,
        env=child_env(TZ=zone),
        cwd=PACKAGE_ROOT,
        check=True,
    )
    return out.stdout.strip()


def test_list_usage_and_errors(tmp_path: Path) -> None:
    assert cli("list").returncode == 2
    assert cli().returncode == 2
    bad = cli("list", "--no-recursive", str(tmp_path))  # a directory
    assert bad.returncode == 4
    assert "director" in bad.stderr


def test_list_takes_paths_as_the_shell_gives_them(tmp_path: Path) -> None:
    # Relative names, "..", "//", "/." and a name that is not UTF-8 are made
    # absolute as abspath makes them; each names the file the holder uses.
    (tmp_path / "d").mkdir()
    name = os.fsdecode(b"d/caf\xe9")  # Latin-1: surrogates in argv's str
    (tmp_path / name).write_bytes(b"x")
    with holder(HOLD_FD, str(tmp_path / name)) as child:
        for given in (
            name,
            f"./{name}",
            name.replace("/", "//"),
            f"d/../{name}",
            str(tmp_path / "d" / "." / "caf\udce9"),
            f"{tmp_path}//{name}",
        ):
            out = subprocess.run(
                [sys.executable, "-m", "rstrtmgr", "list", "--pids", given],
                capture_output=True,
                env=child_env(),
                cwd=tmp_path,  # holds no rstrtmgr: `-m` imports the package's
                check=False,
            )
            assert (out.returncode, out.stdout.split()) == (1, [b"%d" % child.pid])
        other = subprocess.run(
            [sys.executable, "-m", "rstrtmgr", "list", "--pids", "d/cafe"],
            capture_output=True,
            env=child_env(),
            cwd=tmp_path,
            check=False,
        )
        assert other.returncode in (0, 3)
        assert b"does not exist" in other.stderr


AFTER_LIST = """
import atexit, sys
atexit.register(lambda: print("interpreter torn down", file=sys.stderr))
sys.argv = ["rstrtmgr", *sys.argv[1:]]
from rstrtmgr.__main__ import main
sys.exit(main())
"""


def test_list_ends_the_process_at_once_with_its_output(tmp_path: Path) -> None:
    # After `list` the console script skips the interpreter's teardown
    # (atexit included): the output is whole, the exit status kept.
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        for args in (["list", "--json", str(path)], ["list", str(path)] * 400):
            out = subprocess.run(
                [sys.executable, "-c", AFTER_LIST, *args],
                capture_output=True,
                text=True,
                env=child_env(),
                cwd=PACKAGE_ROOT,
                check=False,
            )
            assert out.returncode == 1, out.stderr
            assert "torn down" not in out.stderr
            assert str(child.pid) in out.stdout
    # Any other command exits as Python does.
    usage = subprocess.run(
        [sys.executable, "-c", AFTER_LIST, "launch"],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
        check=False,
    )
    assert usage.returncode == 2
    assert "torn down" in usage.stderr


def test_list_into_a_closed_pipe_fails_as_without_the_quick_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    plain = AFTER_LIST.replace("rstrtmgr.__main__", "rstrtmgr._cli")
    with holder(HOLD_FD, str(path)):
        ends = []
        for code in (AFTER_LIST, plain):
            proc = subprocess.Popen(
                [sys.executable, "-c", code, "list", str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env(),
                cwd=PACKAGE_ROOT,
            )
            assert proc.stdout is not None
            proc.stdout.close()  # the reader is gone before anything is written
            _, err = proc.communicate(timeout=60)
            ends.append((proc.returncode, err.splitlines()[:1]))
    assert ends[0] == ends[1]
    assert ends[0][0] != 0


# An ordinary user cannot look into root's processes: shutdown and replace
# refuse then, unless told to go on (these tests' holders are their own).
BLIND = [] if ROOT else ["--ignore-uninspected"]
IGNORE_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"


def test_shutdown_closes_the_users(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        done = cli("shutdown", *BLIND, "--timeout", "20", "--json", str(path))
        assert done.returncode == 0, done.stderr
        assert child.wait(timeout=30) == -15
        [entry] = json.loads(done.stdout)["processes"]
        assert entry["pid"] == child.pid
        assert entry["status"] == ["stopped"]


def test_shutdown_that_fails_exits_5(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(IGNORE_TERM + HOLD_FD, str(path)) as child:
        done = cli("shutdown", *BLIND, "--timeout", "0.2", str(path))
        assert done.returncode == 5
        assert "still running after 0.2 s" in done.stderr
        assert child.poll() is None
        forced = cli("shutdown", *BLIND, "--force", "--timeout", "0.2", str(path))
        assert forced.returncode == 0, forced.stderr
        assert child.wait(timeout=30) == -9


def test_replace_runs_the_command_between_shutdown_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    with holder(HOLD_FD, str(path)) as child:
        done = cli(
            "replace",
            *BLIND,
            "--timeout",
            "20",
            str(path),
            "--",
            sys.executable,
            "-c",
            "import sys; open(sys.argv[1], 'wb').write(b'new')",
            str(path),
        )
        assert done.returncode == 0, done.stderr
        assert child.wait(timeout=30) == -15
    assert path.read_bytes() == b"new"
    failing = cli(
        "replace", *BLIND, str(path), "--", sys.executable, "-c", "raise SystemExit(3)"
    )
    assert failing.returncode == 6
    assert cli("replace", str(path)).returncode == 2


def test_launch_of_a_missing_program(tmp_path: Path) -> None:
    done = cli("launch", "--", str(tmp_path / "no-such-program"))
    assert done.returncode == 6
    assert "no-such-program" in done.stderr
    assert cli("launch").returncode == 2


def test_list_leaves_out_the_command_itself() -> None:
    # Every Python here maps the interpreter, the command's own too: it lists
    # this test's process, but not itself (gone once it has answered).
    # Its pid is known from Popen; other users of the interpreter may come
    # and go meanwhile, so only the command's own absence is asserted.
    interpreter = os.path.realpath(sys.executable)
    command = subprocess.Popen(
        [sys.executable, "-m", "rstrtmgr", "list", "--json", interpreter],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
    )
    out, err = command.communicate(timeout=120)
    assert command.returncode == 1, err
    data = json.loads(out)
    pids = {p["pid"] for p in data["processes"]}
    assert os.getpid() in pids
    assert command.pid not in pids
    assert "detected_self" not in data["reboot_reasons"]


COMMANDS = ["list", "shutdown", "restart", "replace", "launch"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_built_alone_is_that_of_the_whole_parser(command: str) -> None:
    # main() builds only the command its first argument names: the same
    # subparser, options, help and defaults as in the parser of every command.
    import argparse

    from rstrtmgr._cli import _COMMANDS, build_parser

    def commands(parser: argparse.ArgumentParser) -> dict[str, Any]:
        subs = argparse._SubParsersAction
        [sub] = [a for a in parser._actions if isinstance(a, subs)]
        return dict(sub.choices)

    whole, alone = commands(build_parser()), commands(build_parser(command))
    assert list(whole) == list(_COMMANDS) == COMMANDS
    assert list(alone) == [command]
    assert alone[command].format_help() == whole[command].format_help()
    args = {
        "list": ["list", "-t", "/a/file"],
        "shutdown": ["shutdown", "--force", "/a/file"],
        "restart": ["restart", "--session", "0" * 32],
        "replace": ["replace", "--settle-time", "0", "/a/file"],
        "launch": ["launch"],
    }[command]
    assert build_parser(command).parse_args(args) == build_parser().parse_args(args)


def test_unknown_command_and_help_name_every_command() -> None:
    wrong = cli("lst", "/etc/hostname")
    assert wrong.returncode == 2
    assert (
        "invalid choice: 'lst' (choose from 'list', 'shutdown', 'restart', "
        "'replace', 'launch')" in wrong.stderr
    )
    helped = cli("--help")
    assert helped.returncode == 0
    for command in COMMANDS:
        assert f"    {command} " in helped.stdout, command
