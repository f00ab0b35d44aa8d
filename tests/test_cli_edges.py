"""The edges a script meets: empty paths, closed pipes, unreadable folders,
missing files, and the facade's arguments."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from apps import came_back, cli, running_app, starts
from holders import HOLD_FD, holder
from support import LINUX, PACKAGE_ROOT, ROOT, child_env

import rstrtmgr

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

BLIND = [] if ROOT else ["--ignore-uninspected"]


@pytest.mark.parametrize(
    "args",
    [
        ["list", ""],
        ["list", "--", ""],
        ["list", "-t", "/etc/hostname", ""],
        ["shutdown", ""],
        ["replace", "", "--", "true"],
    ],
)
def test_empty_path_is_wrong_usage(args: list[str]) -> None:
    # An unset "$F": never the answer for the working directory.
    done = cli(*args)
    assert done.returncode == 2, done
    assert "empty PATH" in done.stderr
    assert done.stdout == ""


def test_reader_that_leaves_ends_the_command_like_grep(tmp_path: Path) -> None:
    # `rstrtmgr list -t F | head -1`: the reader is gone before the command
    # writes; it ends killed by SIGPIPE, silently, every time.
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)), holder(HOLD_FD, str(path)):
        for args in (["list", "-t"], ["list"], ["list", "--json"]):
            for _ in range(3):
                proc = subprocess.Popen(
                    [sys.executable, "-m", "rstrtmgr", *args, str(path)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=child_env(),
                    cwd=PACKAGE_ROOT,
                )
                assert proc.stdout is not None
                proc.stdout.close()
                _, err = proc.communicate(timeout=60)
                assert proc.returncode == -signal.SIGPIPE, err
                assert err == b""


def test_shutdown_of_a_missing_file_warns_like_list(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file"
    for args in (["list"], ["shutdown", *BLIND]):
        done = cli(*args, str(missing))
        assert f"{missing} does not exist" in done.stderr, (args, done)
        assert done.returncode in (0, 3), done


# Root searches any folder: its command runs without the capabilities that
# let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as an ordinary user would.
WITHOUT_DAC = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if ROOT else []
)


@pytest.fixture
def locked_file(tmp_path: Path) -> Iterator[Path]:
    """A file in a folder that the command cannot search (names readable)."""
    if ROOT and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to run root's command without DAC override")
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "f").write_bytes(b"x")
    folder.chmod(0o600)
    try:
        yield folder / "f"
    finally:
        folder.chmod(0o700)


def test_permission_denied_is_not_does_not_exist(
    locked_file: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-file"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*WITHOUT_DAC, sys.executable, "-m", "rstrtmgr", *args],
            capture_output=True,
            text=True,
            env=child_env(),
            cwd=PACKAGE_ROOT,
            timeout=120,
            check=False,
        )

    done = run("list", str(locked_file), str(missing))
    assert done.returncode in (0, 3), done
    assert f"{locked_file}: permission denied" in done.stderr
    assert f"{locked_file} does not exist" not in done.stderr
    assert f"{missing} does not exist" in done.stderr
    assert f"permission denied: {locked_file}" in done.stdout
    data = json.loads(run("list", "--json", str(locked_file)).stdout)
    assert data["denied"] == [str(locked_file)]
    assert data["missing"] == []
    # The facade tells the two apart too: missing is searched, denied raises.
    facade = subprocess.run(
        [
            *WITHOUT_DAC,
            sys.executable,
            "-c",
            "import sys, rstrtmgr\n"
            "rstrtmgr.who_uses(sys.argv[2])\n"
            "try:\n"
            "    rstrtmgr.who_uses(sys.argv[1])\n"
            "except PermissionError as e:\n"
            "    print('denied', e.filename)\n",
            str(locked_file),
            str(missing),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
        timeout=120,
        check=False,
    )
    assert facade.stdout.split() == ["denied", str(locked_file)], facade.stderr


def test_who_uses_names_a_wrong_argument_and_takes_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with pytest.raises(TypeError, match=r"paths\[0\].*not list.*who_uses\(\*paths\)"):
        rstrtmgr.who_uses([path])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"paths\[1\].*not int"):
        rstrtmgr.who_uses(path, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"paths\[0\] is empty"):
        rstrtmgr.who_uses("")
    with holder(HOLD_FD, str(path)) as child:
        monkeypatch.chdir(tmp_path)
        for relative in ("f", b"f", Path("f"), "./f"):
            pids = {p.pid for p in rstrtmgr.who_uses(relative).processes}
            assert child.pid in pids, relative
    assert os.getcwd() == str(tmp_path)


def test_get_list_after_an_atomic_replace_and_restart_shows_the_new_process(
    tmp_path: Path,
) -> None:
    target = tmp_path / "app.dat"
    target.write_bytes(b"old")
    with running_app(tmp_path, target) as (_, log), rstrtmgr.Session() as s:
        first = starts(log)[0]["pid"]
        s.register(files=[target])
        s.shutdown()
        new = tmp_path / "app.dat.new"
        new.write_bytes(b"new")
        os.replace(new, target)  # the installer's atomic replace
        s.restart(settle_time=0.3)
        second = came_back(log)["pid"]
        now = {p.pid: p for p in s.get_list().processes}
        assert second in now, now
        assert now[second].status == rstrtmgr.AppStatus.RUNNING
        assert now[first].restarted_pid == second


def test_paths_from_a_file_or_standard_input(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / os.fsdecode(b"caf\xe9 x")
    for p in (a, b):
        p.write_bytes(b"x")
    listing = tmp_path / "list"
    listing.write_bytes(os.fsencode(a) + b"\n")
    with holder(HOLD_FD, str(a)) as one, holder(HOLD_FD, str(b)) as two:
        want = sorted([one.pid, two.pid])

        def pids(*args: str, stdin: bytes = b"") -> list[int]:
            done = subprocess.run(
                [sys.executable, "-m", "rstrtmgr", "list", "-t", *args],
                input=stdin,
                capture_output=True,
                env=child_env(),
                cwd=PACKAGE_ROOT,
                check=False,
            )
            assert done.returncode == 1, done.stderr
            return sorted(map(int, done.stdout.split()))

        assert pids("--files-from", str(listing), str(b)) == want
        null = os.fsencode(a) + b"\0" + os.fsencode(b) + b"\0"
        assert pids("--files-from", "-", "-0", stdin=null) == want
        lines = os.fsencode(a) + b"\n" + os.fsencode(b)
        assert pids("--files-from", "-", stdin=lines) == want
    # An empty entry is refused as an empty PATH is; a missing list too.
    empty = cli("list", "--files-from", "-", input="\n\n" + str(a))
    assert empty.returncode == 2
    assert "empty PATH" in empty.stderr
    gone = cli("shutdown", "--files-from", str(tmp_path / "nope"))
    assert gone.returncode == 2
    assert "No such file" in gone.stderr
    assert cli("shutdown").returncode == 2
