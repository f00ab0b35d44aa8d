"""``rstrtmgr launch`` registers the program itself, never a Python detour that
imports code from the launcher's working directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from apps import cli, store_record
from support import LINUX, OTHER_UID, ROOT, alive, child_env, wait_for

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

BLIND = [] if ROOT else ["--ignore-uninspected"]

# What a source checkout (or a planted file) would run if imported.
PLANTED = "open({marker!r}, 'w').write('imported')\n"

# The console script: the launcher as a user runs it, importing the installed
# package (its own directory first on sys.path, never the working directory).
CONSOLE_SCRIPT = "import sys\nfrom rstrtmgr._cli import main\nsys.exit(main())\n"


def program_copy(tmp_path: Path) -> Path:
    """A private copy of sleep(1): only this test's processes execute it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "rstrtmgr-test-sleeper"
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", program)
    program.chmod(0o755)
    return program


def running(program: Path) -> list[int]:
    """The pids that execute ``program`` now."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/exe") == str(program):
                    pids.append(int(entry))
            except OSError:
                continue
    return [p for p in pids if alive(p)]


def kill_all(program: Path) -> None:
    for pid in running(program):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A source checkout: rstrtmgr/ without its compiled module, rstrtmgr.py."""
    marker = tmp_path / "checkout-code-ran"
    tree = tmp_path / "checkout"
    (tree / "rstrtmgr").mkdir(parents=True)
    (tree / "rstrtmgr" / "__init__.py").write_text(PLANTED.format(marker=str(marker)))
    (tree / "rstrtmgr" / "__main__.py").write_text(PLANTED.format(marker=str(marker)))
    (tree / "rstrtmgr.py").write_text(PLANTED.format(marker=str(marker)))
    return tree, marker


def launch(
    tmp_path: Path, cwd: Path, program: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    script = tmp_path / "rstrtmgr-console-script.py"
    script.write_text(CONSOLE_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), "launch", "--", program.name, "600"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def check_launch_and_restart(
    tmp_path: Path, store: Path, cwd: Path, marker: Path
) -> None:
    program = program_copy(tmp_path)
    # Found on PATH at launch time, recorded as an absolute path.
    env = child_env(PATH=f"{program.parent}{os.pathsep}{os.environ['PATH']}")
    launcher = launch(tmp_path, cwd, program, env)
    try:
        assert wait_for(lambda: running(program) == [launcher.pid])
        recorded, _, _ = store_record(store, launcher.pid)
        done = cli(
            "replace", *BLIND, "--settle-time", "0.3", str(program), "--", "true"
        )
        assert done.returncode == 0, done.stderr
        assert launcher.wait(timeout=30) == -signal.SIGTERM
        came_back = wait_for(lambda: len(running(program)) == 1, 10)
        assert not marker.exists(), "the restart ran code from the launch directory"
        assert came_back, done.stdout
        assert recorded == [os.fsencode(program), b"600"]
        [again] = running(program)
        assert again != launcher.pid
        # Restarted, and still registered for the next update.
        argv, _, _ = store_record(store, again)
        assert argv == [os.fsencode(program), b"600"]
    finally:
        kill_all(program)
        launcher.kill()
        launcher.wait(timeout=30)
    assert not marker.exists()


def test_launch_from_a_source_checkout(
    tmp_path: Path, store: Path, checkout: tuple[Path, Path]
) -> None:
    tree, marker = checkout
    check_launch_and_restart(tmp_path, store, tree, marker)


@pytest.mark.skipif(not ROOT, reason="root launching in another user's directory")
def test_root_launch_in_another_users_directory(tmp_path: Path, store: Path) -> None:
    marker = tmp_path / "planted-code-ran-as-root"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "rstrtmgr.py").write_text(PLANTED.format(marker=str(marker)))
    os.chown(theirs, OTHER_UID, OTHER_UID)
    os.chown(theirs / "rstrtmgr.py", OTHER_UID, OTHER_UID)
    tmp_path.chmod(0o755)
    check_launch_and_restart(tmp_path, store, theirs, marker)


def test_launch_of_a_program_not_on_path(tmp_path: Path) -> None:
    done = cli("launch", "--", "rstrtmgr-test-no-such-program")
    assert done.returncode == 6
    assert "rstrtmgr-test-no-such-program" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not ROOT, reason="root restarting another user's launched program")
def test_users_launch_record_never_enters_roots_store(
    other_user_python: list[str], shared_tmp: Path, store: Path
) -> None:
    home = shared_tmp / "other-user"
    home.mkdir(mode=0o700)
    os.chown(home, OTHER_UID, OTHER_UID)
    program = program_copy(shared_tmp)
    shared_tmp.joinpath("bin").chmod(0o755)
    launcher = subprocess.Popen(
        [*other_user_python, "-m", "rstrtmgr", "launch", "--", str(program), "600"],
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
        env=child_env(RSTRTMGR_STATE_DIR=str(home / "store")),
        cwd=home,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: running(program) == [launcher.pid])
        done = cli("replace", "--settle-time", "0.3", str(program), "--", "true")
        assert done.returncode == 0, done.stderr
        assert wait_for(lambda: len(running(program)) == 1)
        [again] = running(program)
        assert os.stat(f"/proc/{again}").st_uid == OTHER_UID
        # Root's store holds no record of it: root would trust that one.
        assert not list((store / "restart").glob(f"{again}-*"))
    finally:
        kill_all(program)
        launcher.kill()
        launcher.wait(timeout=30)
