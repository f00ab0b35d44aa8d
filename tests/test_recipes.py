"""The recipes of docs/recipes/ run as the programs they are, against real holders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from holders import HOLD_FD, HOLD_LIB, holder, restartable
from support import (
    LINUX,
    OTHER_UID,
    PACKAGE_ROOT,
    ROOT,
    alive,
    child_env,
    freeze,
    started_pids,
    wait_for,
)

import rstrtmgr._rstrtmgr

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
RECIPES = Path(__file__).resolve().parents[1] / "docs" / "recipes"
if not RECIPES.is_dir():
    pytest.skip("docs/recipes is not beside the tests", allow_module_level=True)
if not LINUX:
    # The recipes are portable; their holders here are Linux processes.
    pytest.skip("the holders are Linux processes", allow_module_level=True)

IGNORE_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"


def recipe(name: str, *args: str | Path, timeout: float = 120) -> tuple[int, str]:
    """Run docs/recipes/NAME with ARGS; its exit status and output."""
    ran = subprocess.run(
        [sys.executable, str(RECIPES / name), *map(str, args)],
        env=child_env(),
        cwd=PACKAGE_ROOT,  # beside the package under test, never a checkout
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return ran.returncode, ran.stdout + ran.stderr


def staged_tree(root: Path, names: list[str]) -> tuple[Path, Path]:
    """TARGET with the old files and STAGING with their new versions."""
    staging, target = root / "staging", root / "target"
    for name in names:
        for base, content in ((target, b"old"), (staging, b"new")):
            path = base / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    return staging, target


# ---- installer.py ----------------------------------------------------------


def test_installer_replaces_files_in_use(tmp_path: Path) -> None:
    names = ["bin/app", "lib/libapp.so", "share/app.dat"]
    staging, target = staged_tree(tmp_path, names)
    log = tmp_path / "starts"
    with (
        holder(HOLD_FD, str(target / "bin/app")) as polite,
        holder(IGNORE_TERM + HOLD_FD, str(target / "lib/libapp.so")) as stubborn,
        restartable(target / "share/app.dat", log) as registered,
    ):
        status, out = recipe("installer.py", "--timeout", "1", staging, target)
        assert status == 0, out
        assert f"in use by {polite.pid}" in out
        assert f"still running after 1.0 s: [{stubborn.pid}]" in out
        assert polite.wait(timeout=30) == -signal.SIGTERM
        assert stubborn.wait(timeout=30) == -signal.SIGKILL
        # The registered one came back, with the new file.
        assert wait_for(lambda: len(started_pids(log)) == 2), out
        assert started_pids(log)[0] == registered.pid
        assert "restarted 1 processes" in out
    assert all((target / n).read_bytes() == b"new" for n in names)
    assert not list(target.rglob(".*.installing"))


@pytest.mark.skipif(not ROOT, reason="root closes another user's process")
def test_installer_as_root_closes_another_users_process(
    other_user_python: list[str], shared_tmp: Path
) -> None:
    staging, target = staged_tree(shared_tmp, ["lib/libapp.so"])
    held = target / "lib/libapp.so"
    for path in (target, held.parent):
        path.chmod(0o755)
    held.chmod(0o644)
    other = subprocess.Popen(
        [
            *other_user_python,
            "-c",
            f"import sys\n{HOLD_FD}\nprint('ready', flush=True)\nsys.stdin.read()",
            str(held),
        ],
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "ready"
        status, out = recipe("installer.py", "--timeout", "5", staging, target)
        assert status == 0, out
        assert f"in use by {other.pid}" in out
        assert other.wait(timeout=30) == -signal.SIGTERM
    finally:
        other.kill()
        other.wait(timeout=30)
    assert held.read_bytes() == b"new"


# ---- batch_installer.py ------------------------------------------------------

BATCH_FILES = 2_000
BATCH_HOLDERS = 20
HOLD_ALL = "fs = [open(p, 'rb') for p in sys.argv[1:]]"


def test_batch_installer_replaces_thousands_of_files_across_processes(
    tmp_path: Path,
) -> None:
    names = [f"pkg{i % 40:02d}/module{i:04d}.so" for i in range(BATCH_FILES)]
    staging, target = staged_tree(tmp_path, names)
    per_holder = BATCH_FILES // BATCH_HOLDERS
    with ExitStack() as stack:
        holders = [
            stack.enter_context(
                holder(HOLD_ALL, *(str(target / n) for n in names[i::BATCH_HOLDERS]))
            )
            for i in range(BATCH_HOLDERS)
        ]
        assert len(names[::BATCH_HOLDERS]) == per_holder
        status, out = recipe("batch_installer.py", "--timeout", "10", staging, target)
        assert status == 0, out
        assert f"staged {BATCH_FILES} files" in out
        assert f"{BATCH_HOLDERS} processes use them" in out
        for h in holders:
            assert h.wait(timeout=30) == -signal.SIGTERM
    assert all((target / n).read_bytes() == b"new" for n in names)
    assert not list(target.rglob(".*.staged"))


# ---- venv_in_use.py ------------------------------------------------------------


def test_venv_in_use_before_pip_install(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=60,
    )
    # The environment's bin/python leads to the base interpreter, which this
    # test runs: the recipe must not count every Python program as a user.
    assert (venv / "bin" / "python").is_symlink()
    [site] = venv.glob("lib/python*/site-packages")
    extension = site / "demo" / "_speedups.so"
    extension.parent.mkdir()
    shutil.copy2(str(rstrtmgr._rstrtmgr.__file__), extension)
    status, out = recipe("venv_in_use.py", venv)
    assert status in (0, 3), out  # 3: some processes could not be looked into
    assert str(os.getpid()) not in out.split()
    with holder(HOLD_LIB, str(extension)) as user:
        status, out = recipe("venv_in_use.py", venv)
        assert status == 1, out
        assert out.split()[0] == str(user.pid)
    status, _ = recipe("venv_in_use.py", tmp_path / "missing")
    assert status == 2


# ---- gui_shutdown.py -----------------------------------------------------------


def test_gui_shutdown_reports_progress_to_the_end(tmp_path: Path) -> None:
    target = tmp_path / "app.dat"
    target.write_bytes(b"x")
    with holder(HOLD_FD, str(target)) as polite:
        status, out = recipe("gui_shutdown.py", target)
        assert status == 0, out
        assert polite.wait(timeout=30) == -signal.SIGTERM
    lines = out.splitlines()
    assert lines[-1] == "all closed"
    assert lines[-2].endswith("100%")


def test_gui_shutdown_cancel_from_the_gui_thread(tmp_path: Path) -> None:
    target = tmp_path / "app.dat"
    target.write_bytes(b"x")
    with holder(IGNORE_TERM + HOLD_FD, str(target)) as stubborn:
        started = time.monotonic()
        status, out = recipe("gui_shutdown.py", "--timeout", "60", "--cancel", target)
        took = time.monotonic() - started
        assert status == 1, out
        assert out.splitlines()[-1] == "cancelled"
        # Cancelled long before the 60 s timeout, and not killed.
        assert took < 30, took
        assert stubborn.poll() is None


# ---- self_update.py ------------------------------------------------------------


def self_update(
    app: Path, launch: list[str], tmp_path: Path, env: dict[str, str]
) -> None:
    """Start the application ``launch``; it updates itself to version 2."""
    (app / "VERSION").write_text("1")
    updates = tmp_path / "updates"
    updates.mkdir(exist_ok=True)
    (updates / "VERSION").write_text("2")
    state = tmp_path / "state"
    first = subprocess.Popen(
        [*launch, "run", str(state), str(updates)],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )

    def runs() -> list[tuple[int, int]]:
        text = state.read_text() if state.exists() else ""
        return [
            (int(w[1]), int(w[3]))
            for w in (line.split() for line in text.splitlines())
            if w[0] == "running"
        ]

    try:
        assert wait_for(lambda: len(runs()) == 2, timeout=60), state.read_text()
        (pid1, v1), (pid2, v2) = runs()
        assert (pid1, v1) == (first.pid, 1)
        assert pid2 != pid1
        assert v2 == 2
        assert first.wait(timeout=30) == -signal.SIGTERM
        # The updater reports once RmRestart has watched the new copy settle.
        updated = f"updated {app} to version 2"
        assert wait_for(lambda: updated in state.read_text()), state.read_text()
        for new in updates.iterdir():
            assert (app / new.name).read_bytes() == new.read_bytes()
        # The restarted application stops when asked.
        state.with_name("state.stop").touch()
        assert wait_for(lambda: not alive(pid2))
    finally:
        for pid, _ in runs():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        first.kill()
        first.wait(timeout=30)


def test_self_update_as_a_script(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy2(RECIPES / "self_update.py", app)
    launch = [sys.executable, str(app / "self_update.py")]
    self_update(app, launch, tmp_path, child_env())


def test_self_update_frozen_with_pyinstaller(tmp_path: Path) -> None:
    app = freeze(RECIPES / "self_update.py", tmp_path).parent
    updates = tmp_path / "updates"
    updates.mkdir()
    # The update replaces the running executable itself, too.
    shutil.copy2(app / "self_update", updates / "self_update")
    env = child_env()
    env.pop("PYTHONPATH")  # the frozen copy must carry rstrtmgr itself
    self_update(app, [str(app / "self_update")], tmp_path, env)
