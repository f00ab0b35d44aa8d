"""register_application_restart(args): the interpreter, its options and the
script (or -m module, or the frozen program) stay; only the script's own
arguments are replaced. The computation is portable (it runs under Wine
too); the restarts themselves run on Linux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from apps import app_source, came_back, running_app
from support import LINUX, PACKAGE_ROOT, child_env

import rstrtmgr
from rstrtmgr import _program

PY = "/usr/bin/python3"
# The scripts' absolute paths as this platform writes them (\\ on Windows).
APP = os.path.join(os.sep, "srv", "app", "app.py")
SRV_APP = os.path.join(os.sep, "srv", "app.py")
ODD = os.path.join(os.sep, "srv", "-odd-name.py")


@pytest.mark.parametrize(
    ("orig_argv", "main_file", "default", "resumed"),
    [
        (
            ["python3", "-X", "dev", "-W", "error", "app.py", "a", "b"],
            APP,
            [PY, "-X", "dev", "-W", "error", APP, "a", "b"],
            [PY, "-X", "dev", "-W", "error", APP, "--resumed"],
        ),
        (
            ["python3", "-OOuXdev", "-Werror", "./app.py", "x"],
            APP,
            [PY, "-OOuXdev", "-Werror", APP, "x"],
            [PY, "-OOuXdev", "-Werror", APP, "--resumed"],
        ),
        (
            ["python3", "-I", "-m", "pkg.tool", "serve"],
            os.path.join(os.sep, "srv", "pkg", "tool.py"),
            [PY, "-I", "-m", "pkg.tool", "serve"],
            [PY, "-I", "-m", "pkg.tool", "--resumed"],
        ),
        (
            ["python3", "-mpkg", "x", "y"],
            os.path.join(os.sep, "srv", "pkg", "__main__.py"),
            [PY, "-mpkg", "x", "y"],
            [PY, "-mpkg", "--resumed"],
        ),
        (
            ["python3", "-c", "import app", "-v"],
            None,
            [PY, "-c", "import app", "-v"],
            [PY, "-c", "import app", "--resumed"],
        ),
        (
            ["python3", "--check-hash-based-pycs", "always", SRV_APP, "-v"],
            SRV_APP,
            [PY, "--check-hash-based-pycs", "always", SRV_APP, "-v"],
            [PY, "--check-hash-based-pycs", "always", SRV_APP, "--resumed"],
        ),
        (
            ["python3", "-u", "--", "-odd-name.py", "-v"],
            ODD,
            [PY, "-u", "--", ODD, "-v"],
            [PY, "-u", "--", ODD, "--resumed"],
        ),
    ],
)
def test_python_keeps_interpreter_options_and_script(
    orig_argv: list[str],
    main_file: str | None,
    default: list[str],
    resumed: list[str],
) -> None:
    start = _program.ProgramStart(
        executable=PY, orig_argv=orig_argv, main_file=main_file, frozen=False
    )
    assert start.restart_argv(None) == default
    assert start.restart_argv(["--resumed"]) == resumed
    assert start.restart_argv([]) == resumed[:-1]


def test_frozen_program_keeps_only_itself() -> None:
    start = _program.ProgramStart(
        executable="/opt/app/app", orig_argv=["./app", "a"], main_file=None, frozen=True
    )
    assert start.restart_argv(None) == ["/opt/app/app", "a"]
    assert start.restart_argv(["--resumed"]) == ["/opt/app/app", "--resumed"]


def test_this_interpreter() -> None:
    start = _program.ProgramStart.current()
    argv = start.restart_argv(["--resumed"])
    assert argv[0] == sys.executable
    assert argv[-1] == "--resumed"


def test_frozen_environment_loses_the_bootloaders_variables() -> None:
    env = {
        "HOME": "/home/u",
        "_PYI_ARCHIVE_FILE": "/opt/app/app",
        "_PYI_APPLICATION_HOME_DIR": "/tmp/_MEIabc",
        "_PYI_PARENT_PROCESS_LEVEL": "1",
        "_MEIPASS2": "/tmp/_MEIabc",
        "LD_LIBRARY_PATH": "/tmp/_MEIabc:/opt/lib",
        "LD_LIBRARY_PATH_ORIG": "/opt/lib",
    }
    assert _program.restart_environment(env, frozen=True) == {
        "HOME": "/home/u",
        "LD_LIBRARY_PATH": "/opt/lib",
    }
    del env["LD_LIBRARY_PATH_ORIG"]
    assert _program.restart_environment(env, frozen=True) == {"HOME": "/home/u"}
    assert _program.restart_environment(env, frozen=False) == env


# -- real restarts ------------------------------------------------------------

# Registers the two files it needs and --resumed, after leaving the directory
# it was started in (the script was named relative to that).
REGISTER_RESUMED = (
    "import rstrtmgr\n"
    "os.chdir('/')\n"
    "rstrtmgr.register_application_restart([sys.argv[1], sys.argv[2], '--resumed'])"
)


@pytest.mark.behaviour
@pytest.mark.linux_backend
@pytest.mark.skipif(not LINUX, reason="restarts these processes on Linux")
def test_script_comes_back_as_the_script_with_its_new_arguments(
    tmp_path: Path,
) -> None:
    held = tmp_path / "app.dat"
    held.write_bytes(b"x")
    with (
        running_app(
            tmp_path,
            held,
            register=REGISTER_RESUMED,
            command=[sys.executable, "-X", "dev", "app.py"],
            cwd=tmp_path,
        ) as (_, log),
        rstrtmgr.Session() as s,
    ):
        s.register(files=[held])
        with rstrtmgr.shut_down(s, timeout=20, settle_time=0.3):
            pass
        back = came_back(log)
    assert back["argv"] == [
        str(tmp_path / "app.py"),
        str(held),
        back["argv"][2],
        "--resumed",
    ]
    assert back["dev_mode"]


@pytest.mark.behaviour
@pytest.mark.linux_backend
@pytest.mark.skipif(not LINUX, reason="restarts these processes on Linux")
def test_module_comes_back_as_the_module(tmp_path: Path) -> None:
    held = tmp_path / "app.dat"
    held.write_bytes(b"x")
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "rstrtmgr_test_app.py").write_text(app_source(REGISTER_RESUMED))
    env = child_env()
    env["PYTHONPATH"] = f"{modules}{os.pathsep}{env['PYTHONPATH']}"
    with (
        running_app(
            tmp_path,
            held,
            register=REGISTER_RESUMED,
            command=[sys.executable, "-m", "rstrtmgr_test_app"],
            env=env,
        ) as (_, log),
        rstrtmgr.Session() as s,
    ):
        s.register(files=[held])
        with rstrtmgr.shut_down(s, timeout=20, settle_time=0.3):
            pass
        back = came_back(log)
    assert back["orig_argv"][1:3] == ["-m", "rstrtmgr_test_app"]
    assert back["argv"][-1] == "--resumed"


@pytest.mark.linux_backend
@pytest.mark.skipif(not LINUX, reason="the Linux backend's own call")
def test_only_a_bootloader_parent_may_be_registered(tmp_path: Path) -> None:
    # Under a shell (another executable), the call registers nothing.
    code = (
        "from rstrtmgr import _marshal\n"
        "print(_marshal.register_restart([b'/bin/true'], b'/', [], bootloader=True))"
    )
    done = subprocess.run(
        ["/bin/sh", "-c", '"$0" -c "$1"; true', sys.executable, code],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
        timeout=60,
        check=False,
    )
    assert done.stdout.split() == ["87"], done.stderr
    assert not list((tmp_path / "store" / "restart").glob("*"))


@pytest.mark.skipif(LINUX, reason="Windows' stubs of the Linux backend's calls")
def test_launch_and_bootloader_registrations_are_linux_only() -> None:
    from rstrtmgr import _marshal

    for flag in ("launch", "bootloader"):
        code = _marshal.register_restart(
            [b"prog", b"--resumed"], b"C:\\", [], **{flag: True}
        )
        assert code == 120
