"""Frozen applications come back as their user started them: PyInstaller's
one-folder and one-file programs, restarted through the outer executable,
without the bootloader's private environment, and a one-file program once."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from apps import (
    alive,
    app_source,
    came_back,
    cli,
    kill_started,
    starts,
    store_record,
    wait_for,
)
from support import LINUX, ROOT, child_env, freeze

import rstrtmgr

pytestmark = [
    pytest.mark.behaviour,
    pytest.mark.linux_backend,
    pytest.mark.skipif(not LINUX, reason="frozen and restarted here on Linux"),
]

BLIND = [] if ROOT else ["--ignore-uninspected"]
REGISTER = (
    "import rstrtmgr\n"
    "rstrtmgr.register_application_restart([sys.argv[1], sys.argv[2], '--resumed'])"
)
# The user's own library path, which the one-file bootloader saves and extends.
USERS_LIBRARY_PATH = "/opt/rstrtmgr-test-lib"


def freeze_app(workdir: Path, mode: str) -> Path:
    script = workdir / "frozenapp.py"
    script.write_text(app_source(REGISTER))
    return freeze(script, workdir, mode)


@pytest.fixture(scope="session")
def onefile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return freeze_app(tmp_path_factory.mktemp("onefile"), "onefile")


@pytest.fixture(scope="session")
def onedir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return freeze_app(tmp_path_factory.mktemp("onedir"), "onedir")


def initial_environment(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        items = f.read().split(b"\0")
    return dict(os.fsdecode(i).split("=", 1) for i in items if b"=" in i)


def start_frozen(exe: Path, held: Path, log: Path) -> subprocess.Popen[bytes]:
    env = child_env(LD_LIBRARY_PATH=USERS_LIBRARY_PATH)
    env.pop("PYTHONPATH")  # the frozen program carries rstrtmgr itself
    proc = subprocess.Popen(
        [str(exe), str(held), str(log)],
        env=env,
        cwd=exe.parent,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert wait_for(lambda: starts(log) or proc.poll() is not None, 60)
    assert starts(log), proc.stderr.read()  # type: ignore[union-attr]
    return proc


def assert_user_environment(env: dict[str, str]) -> None:
    """``env`` is the user's: nothing of the bootloader's own."""
    assert not [k for k in env if k.startswith(("_PYI", "_MEI"))], env
    assert env.get("LD_LIBRARY_PATH") == USERS_LIBRARY_PATH
    assert "LD_LIBRARY_PATH_ORIG" not in env


def recorded_environment(store: Path, pid: int) -> dict[str, str]:
    """The environment that the restart registration of ``pid`` holds."""
    argv, _, env = store_record(store, pid)
    assert len(argv) == 4
    assert argv[-1] == b"--resumed"
    return dict(os.fsdecode(e).split("=", 1) for e in env)


def assert_started_by_restart(entry: dict[str, object], exe: Path) -> None:
    argv = entry["argv"]
    assert isinstance(argv, list)
    assert argv[-1] == "--resumed"
    # The restart started the outer executable (for one file, the bootloader
    # whose child this is), which works: the child runs Python again.
    one_file = "_PYI_APPLICATION_HOME_DIR" in entry["env"]  # type: ignore[operator]
    starter = entry["ppid"] if one_file else entry["pid"]
    assert isinstance(starter, int)
    assert os.readlink(f"/proc/{starter}/exe") == str(exe)
    if one_file:  # the bootloader's own environment is what the restart gave
        assert_user_environment(initial_environment(starter))


def test_one_folder_app_comes_back(onedir: Path, tmp_path: Path, store: Path) -> None:
    held = tmp_path / "app.dat"
    held.write_bytes(b"x")
    log = tmp_path / "starts.jsonl"
    proc = start_frozen(onedir, held, log)
    try:
        assert_user_environment(recorded_environment(store, starts(log)[0]["pid"]))
        done = cli(
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
        assert done.returncode == 0, done.stderr
        back = came_back(log)
        assert_started_by_restart(back, onedir)
        # The restarted copy works: it maps its own Python library again.
        assert alive(back["pid"])
    finally:
        kill_started(log)
        proc.kill()
        proc.communicate(timeout=30)


def test_one_file_app_is_shut_down_and_restarted_once(
    onefile: Path, tmp_path: Path, store: Path
) -> None:
    held = tmp_path / "app.dat"
    held.write_bytes(b"x")
    log = tmp_path / "starts.jsonl"
    proc = start_frozen(onefile, held, log)
    try:
        [first] = starts(log)
        assert first["ppid"] == proc.pid  # the bootloader, then its child
        assert_user_environment(recorded_environment(store, first["pid"]))
        # The executable: the bootloader and its child are listed, both
        # registered (--only-registered shuts down nothing otherwise).
        with rstrtmgr.Session() as s:
            s.register(files=[onefile])
            listed = {p.pid: p.restartable for p in s.get_list().processes}
        assert listed == {proc.pid: True, first["pid"]: True}
        done = cli(
            "replace",
            *BLIND,
            "--settle-time",
            "0.3",
            "--only-registered",
            "--timeout",
            "20",
            str(onefile),
            "--",
            "true",
        )
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=30) == 0 or not alive(proc.pid)
        back = came_back(log)
        assert_started_by_restart(back, onefile)
        time.sleep(1.5)  # a second copy would have started by now
        assert len(starts(log)) == 2
        # A file only the child holds: the child alone is listed.
        done = cli(
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
        assert done.returncode == 0, done.stderr
        again = came_back(log, 3)
        assert_started_by_restart(again, onefile)
        assert not alive(back["ppid"])  # the old bootloader went with its child
        # The bootloader alone (by its pid): its child goes with it.
        with rstrtmgr.Session() as s:
            s.register(processes=[again["ppid"]])
            with rstrtmgr.shut_down(
                s, only_registered=True, timeout=20, settle_time=0.3
            ):
                assert wait_for(lambda: not alive(again["pid"]))
        last = came_back(log, 4)
        assert_started_by_restart(last, onefile)
        time.sleep(1.5)
        assert len(starts(log)) == 4
    finally:
        kill_started(log)
        proc.kill()
        proc.communicate(timeout=30)
