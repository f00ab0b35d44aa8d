"""Helpers of the contract suite: platform facts and child interpreters."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import rstrtmgr
from rstrtmgr._rstrtmgr import lib

LINUX = sys.platform.startswith("linux")
WINE = sys.platform == "win32" and bool(lib.rstrtmgr_is_wine())


def _lane_rm() -> bool:
    """Whether the loaded RstrtMgr.dll is the Windows lane's own (tools/wine_rm).

    It exports rstrtmgr_lane_rm; Wine's stub and Microsoft's DLL do not. The
    module the extension imported is asked, not a newly loaded one.
    """
    if sys.platform != "win32":
        return False
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.GetModuleHandleW.restype = ctypes.c_void_p
    kernel32.GetModuleHandleW.argtypes = [ctypes.c_wchar_p]
    kernel32.GetProcAddress.restype = ctypes.c_void_p
    kernel32.GetProcAddress.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    module = kernel32.GetModuleHandleW("rstrtmgr.dll")
    assert module, "the extension is loaded, so RstrtMgr.dll is"
    return bool(kernel32.GetProcAddress(module, b"rstrtmgr_lane_rm"))


#: Wine with the lane's own Restart Manager (sessions, RmGetList over images
#: and modules), not Wine's stub.
LANE_RM = _lane_rm()
#: Wine's stub Rstrtmgr.dll: no sessions, no lists.
WINE_STUB = WINE and not LANE_RM
ROOT = LINUX and os.geteuid() == 0
#: The directory that holds the rstrtmgr package, for child interpreters.
PACKAGE_ROOT = str(Path(rstrtmgr.__file__).resolve().parent.parent)
OTHER_UID = 65534


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child interpreter that imports this rstrtmgr."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + path if path else "")
    env.update(extra)
    return env


#: WinError 1359, ERROR_INTERNAL_ERROR: what Wine's CreateProcess answers
#: when the new process dies before it has reported to wineserver.
WINE_SPAWN_FAILED = 1359


def popen(argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
    """``subprocess.Popen``; under Wine, a child Wine failed to start is tried again.

    Wine's NtCreateUserProcess answers STATUS_INTERNAL_ERROR when the child
    dies before it reports in (its preloader could not reserve the address
    space, say): once in a CI run, not in 140 spawns here. That is the
    emulator starting a holder, not the code under test, and Windows has no
    such failure: so only under Wine, and at most three times.
    """
    for _ in range(2):
        try:
            return subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload,no-any-return]
        except OSError as e:
            if not (WINE and getattr(e, "winerror", None) == WINE_SPAWN_FAILED):
                raise
            time.sleep(0.5)
    return subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload,no-any-return]


def python(
    code: str, *args: str, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.Popen[str]:
    """Start a child Python running ``code``, with pipes for stdin and stdout."""
    return popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env if env is not None else child_env(),
        # `python -c` puts its working directory first on sys.path: start
        # where the package under test is, never in a source checkout.
        cwd=kwargs.pop("cwd", PACKAGE_ROOT),
        **kwargs,
    )


def run_python(code: str, *args: str, timeout: float = 60, **kwargs: object) -> str:
    """Run a child Python to completion; return its stdout, fail on error."""
    proc = python(code, *args, **kwargs)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}): {err}"
    return out


def sessions_in(store: Path) -> list[str]:
    """The session keys that the Linux store holds (live or not yet reclaimed)."""
    sessions = store / "sessions"
    return sorted(p.name for p in sessions.iterdir()) if sessions.exists() else []


def by_pid(result: rstrtmgr.ListResult) -> dict[int, rstrtmgr.ProcessInfo]:
    """The listed processes by pid."""
    return {p.pid: p for p in result.processes}


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def wait_for(predicate: Callable[[], object], timeout: float = 30) -> bool:
    """Poll ``predicate`` until it holds, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def started_pids(log: Path) -> list[int]:
    """The pids a restartable holder appended to ``log``, one per start."""
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def kill_started(log: Path) -> None:
    """Kill every copy of a restartable holder that ``log`` says started."""
    for pid in started_pids(log):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def freeze(script: Path, workdir: Path, mode: str = "onedir") -> Path:
    """Freeze ``script`` with PyInstaller (``onedir`` or ``onefile``) in ``workdir``.

    Returns the frozen executable; skips the test where PyInstaller is absent.
    """
    import pytest

    exe = shutil.which("pyinstaller", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("PyInstaller is not installed (pip install pyinstaller)")
    built = subprocess.run(
        [
            exe,
            f"--{mode}",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(workdir / "dist"),
            "--workpath",
            str(workdir / "build"),
            "--specpath",
            str(workdir),
            str(script),
        ],
        env=child_env(),  # freezes the rstrtmgr under test
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    name = script.stem
    dist = workdir / "dist"
    return dist / name if mode == "onefile" else dist / name / name
