"""Which holders are critical: what only root can arrange, never a name alone.

A process chooses its own name (``prctl(PR_SET_NAME)``, ``/proc/self/comm``),
so a name alone must never make a holder critical: otherwise any user could
keep root's shutdowns from ever proceeding (350 for everything). Critical is
pid 1, or a process with a critical daemon's name that runs as root from a
root-owned executable in the system's directories (or in a system unit's
cgroup).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import LINUX, OTHER_UID, ROOT

import rstrtmgr

pytestmark = [
    pytest.mark.linux_backend,
    pytest.mark.skipif(not LINUX, reason="criticality is the Linux backend's"),
]

CRITICAL_NAMES = [
    "systemd",
    "systemd-logind",
    "systemd-journal",
    "dbus-daemon",
    "dbus-broker",
    "dbus-broker-lau",
    "init",
]

#: A root-owned interpreter in a system directory, as the distribution ships.
SYSTEM_PYTHON = "/usr/bin/python3"

# Renames itself (comm, what prctl(PR_SET_NAME) sets), holds argv[2], says
# "ready" and waits; it ignores nothing, so a shutdown ends it.
RENAMED_HOLDER = """
import sys
with open("/proc/self/comm", "w") as f:
    f.write(sys.argv[1])
held = open(sys.argv[2], "rb")
print("ready", flush=True)
sys.stdin.read()
"""


def _system_python() -> str:
    real = os.path.realpath(SYSTEM_PYTHON)
    st = os.stat(real) if os.path.exists(real) else None
    if (
        st is None
        or st.st_uid != 0
        or st.st_mode & 0o022
        or not real.startswith(("/usr/bin/", "/bin/"))
    ):
        pytest.skip(f"{SYSTEM_PYTHON} is not a root-owned system executable")
    return real


def _in_system_unit() -> bool:
    text = Path("/proc/self/cgroup").read_text()
    return "/system.slice/" in text or "/init.scope" in text


@contextmanager
def renamed_holder(
    exe: str, name: str, path: Path, uid: int | None = None
) -> Iterator[subprocess.Popen[str]]:
    """A process running ``exe`` that calls itself ``name`` and holds ``path``."""
    kwargs: dict[str, object] = {}
    if uid is not None:
        kwargs = {"user": uid, "group": uid, "extra_groups": []}
    proc = subprocess.Popen(  # type: ignore[call-overload]
        [exe, "-S", "-c", RENAMED_HOLDER, name, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        **kwargs,
    )
    try:
        line = proc.stdout.readline()
        if line.strip() != "ready":
            _, err = proc.communicate(timeout=30)
            raise AssertionError(f"holder {name} failed: {line!r} {err}")
        comm = Path(f"/proc/{proc.pid}/comm").read_text().strip()
        assert comm == name[:15]
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=30)


@pytest.fixture
def held_file(shared_tmp: Path) -> Path:
    path = shared_tmp / "held.bin"
    path.write_bytes(b"held")
    path.chmod(0o644)
    return path


@pytest.mark.skipif(not ROOT, reason="needs root: the holders are another user's")
def test_other_user_named_after_critical_daemons_is_shut_down(held_file: Path) -> None:
    """uid 65534 processes named systemd, init, ... do not stop root's shutdown."""
    exe = _system_python()
    with contextlib.ExitStack() as stack:
        procs = {
            name: stack.enter_context(
                renamed_holder(exe, name, held_file, uid=OTHER_UID)
            )
            for name in CRITICAL_NAMES
        }
        pids = {p.pid for p in procs.values()}
        with rstrtmgr.Session() as s:
            s.register(files=[held_file])
            listed = {p.pid: p for p in s.get_list().processes}
            assert pids <= set(listed)
            for name, proc in procs.items():
                info = listed[proc.pid]
                assert info.app_type != rstrtmgr.AppType.CRITICAL, name
            assert (
                not s.get_list().reboot_reasons & rstrtmgr.RebootReason.CRITICAL_PROCESS
            )
            s.shutdown(force=True, timeout=5)
        for proc in procs.values():
            assert proc.wait(timeout=10) != 0  # ended by the shutdown


@pytest.mark.skipif(not ROOT, reason="needs root to run a root system process")
def test_root_system_process_with_a_critical_name_stays_critical(
    held_file: Path,
) -> None:
    """Root, a root-owned executable in /usr/bin and a daemon's name: critical."""
    exe = _system_python()
    with renamed_holder(exe, "systemd-logind", held_file) as proc:
        with rstrtmgr.Session() as s:
            s.register(files=[held_file])
            result = s.get_list()
            info = {p.pid: p for p in result.processes}[proc.pid]
            assert info.app_type == rstrtmgr.AppType.CRITICAL
            assert result.reboot_reasons & rstrtmgr.RebootReason.CRITICAL_PROCESS
            with pytest.raises(rstrtmgr.RebootRequiredError) as e:
                s.shutdown(force=True, timeout=5)
            assert e.value.winerror == 350
        time.sleep(0.1)
        assert proc.poll() is None  # never signalled


@pytest.mark.skipif(not ROOT, reason="needs root to run a root process")
def test_root_process_outside_system_directories_is_not_critical(
    held_file: Path, shared_tmp: Path
) -> None:
    """The name of a daemon on a program that is not the system's: not critical."""
    if _in_system_unit():
        pytest.skip("the suite runs in a system unit's cgroup, which is critical")
    exe = shared_tmp / "bin" / "python3"
    exe.parent.mkdir()
    shutil.copy2(_system_python(), exe)
    with renamed_holder(str(exe), "systemd", held_file) as proc:
        with rstrtmgr.Session() as s:
            s.register(files=[held_file])
            info = {p.pid: p for p in s.get_list().processes}[proc.pid]
            assert info.app_type != rstrtmgr.AppType.CRITICAL
            s.shutdown(force=True, timeout=5)
        assert proc.wait(timeout=10) != 0


def test_own_process_named_systemd_is_not_critical(held_file: Path) -> None:
    """Any user, root or not: a renamed program of one's own is shut down."""
    if _in_system_unit():
        pytest.skip("the suite runs in a system unit's cgroup, which is critical")
    exe = held_file.parent / "own-python3"
    shutil.copy2(_system_python(), exe)
    with renamed_holder(str(exe), "dbus-daemon", held_file) as proc:
        with rstrtmgr.Session() as s:
            s.register(files=[held_file])
            info = {p.pid: p for p in s.get_list().processes}[proc.pid]
            assert info.app_type != rstrtmgr.AppType.CRITICAL
            s.shutdown(force=True, timeout=5)
        assert proc.wait(timeout=10) != 0
