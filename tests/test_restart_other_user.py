"""Root restarts a user's process as that user, and nothing a user records
leads to code running as root.

Root's session finds the registration that uid 65534's process recorded in
its own store, restarts it with that user's credentials, environment and
working directory; each attack below is a user-controlled record that must
either be ignored or run as 65534, never as root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from holders import HOLD_FD, holder
from restarts import REGISTER_EXACTLY, kill_all, spec
from support import LINUX, OTHER_UID, child_env, wait_for

import rstrtmgr
from rstrtmgr import AppStatus

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

THIRD_UID = 65533  # a third user, who needs no account for this

# Writes what it runs as, where and with what into argv[1], then its pid
# into argv[1].pid, then sleeps.
REPORT = """
import json, os, sys, time
status = dict(
    line.split(":", 1) for line in open("/proc/self/status").read().splitlines()
)
report = {
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
    "groups": sorted(os.getgroups()),
    "cwd": os.getcwd(),
    "marker": os.environ.get("RESTART_MARKER"),
    "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")],
    "oom_score_adj": open("/proc/self/oom_score_adj").read().strip(),
}
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(report, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
with open(sys.argv[1] + ".pid", "w") as f:
    f.write(str(os.getpid()))
time.sleep(600)
"""

# Appends "<tag> <euid>" to argv[1]: what ran, and as whom.
NOTE_EUID = (
    "import os, sys\n"
    "with open(sys.argv[1], 'a') as f:\n"
    "    f.write(sys.argv[2] + ' ' + str(os.geteuid()) + '\\n')\n"
)


@pytest.fixture
def users_dir(other_user_python: list[str], shared_tmp: Path) -> Path:
    """A directory of uid 65534's, and a target file everyone can read."""
    target = shared_tmp / "app.dat"
    target.write_bytes(b"old version")
    target.chmod(0o644)
    return shared_tmp


def user_dir(base: Path, name: str, uid: int = OTHER_UID) -> Path:
    path = base / name
    path.mkdir(mode=0o700)
    os.chown(path, uid, uid)
    return path


def user_env(**extra: str) -> dict[str, str]:
    env = child_env(**extra)
    for name in ("RSTRTMGR_STATE_DIR", "XDG_RUNTIME_DIR"):
        if name not in extra:
            env.pop(name, None)
    return env


@contextmanager
def as_user(
    python: list[str],
    code: str,
    *args: str,
    uid: int = OTHER_UID,
    cwd: Path,
    env: dict[str, str],
) -> Iterator[subprocess.Popen[str]]:
    """A child Python of ``uid`` that runs ``code``, says "ready", waits."""
    proc = subprocess.Popen(
        [
            *python,
            "-c",
            code + "\nprint('ready', flush=True)\nsys.stdin.read()\n",
            *args,
        ],
        user=uid,
        group=uid,
        extra_groups=[],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            _, err = proc.communicate(timeout=30)
            raise AssertionError(f"uid {uid}'s holder failed: {line!r} {err}")
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def start_since_boot(pid: int) -> int:
    """The store's start of ``pid``: its FILETIME less the boot's (100 ns)."""
    with open("/proc/stat") as f:
        btime = next(int(x.split()[1]) for x in f if x.startswith("btime "))
    boot = 116_444_736_000_000_000 + btime * 10_000_000
    return rstrtmgr.UniqueProcess.of(pid).start_time - boot


def record_of(store: Path, pid: int) -> Path:
    """The registration file of ``pid`` (docs/linux-backend.md: restart/PID-START)."""
    return store / "restart" / f"{pid}-{start_since_boot(pid)}"


def by_pid(processes: object) -> dict[int, rstrtmgr.ProcessInfo]:
    return {p.pid: p for p in processes}  # type: ignore[attr-defined]


@contextmanager
def oom_exempt() -> Iterator[bool]:
    """This process less likely to be OOM-killed (an installer's standing),
    as its children would inherit; yields False where even root may not."""
    with open("/proc/self/oom_score_adj") as f:
        old = f.read()
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-500")
    except PermissionError:  # a container's root may be refused
        yield False
        return
    try:
        yield True
    finally:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(old)


def test_root_restarts_a_users_process_as_that_user(
    users_dir: Path, other_user_python: list[str]
) -> None:
    target = users_dir / "app.dat"
    home = user_dir(users_dir, "home")
    # The user's store is where its own environment puts it: here under its
    # XDG_RUNTIME_DIR, which root cannot take from its own environment.
    runtime = user_dir(users_dir, "runtime")
    report = home / "report.json"
    restart = spec([*other_user_python, "-c", REPORT, str(report)])
    env = user_env(XDG_RUNTIME_DIR=str(runtime), RESTART_MARKER="the user's own")
    new_pid = None
    try:
        with (
            as_user(
                other_user_python,
                REGISTER_EXACTLY,
                str(target),
                restart,
                cwd=home,
                env=env,
            ) as old,
            rstrtmgr.Session() as s,
        ):
            assert (runtime / "rstrtmgr" / "restart").is_dir()
            s.register(files=[target])
            listed = by_pid(s.get_list().processes)
            assert listed[old.pid].restartable
            s.shutdown(only_registered=True, timeout=20)
            assert old.wait(timeout=30) == -signal.SIGTERM
            leak = os.open(str(target), os.O_RDONLY)  # inheritable: must not reach it
            os.set_inheritable(leak, True)
            try:
                with oom_exempt() as lowered:
                    result = s.restart(settle_time=0.5)
            finally:
                os.close(leak)
            info = by_pid(result.processes)[old.pid]
            assert info.status == AppStatus.RESTARTED
            new_pid = info.restarted_pid
            assert new_pid is not None
            assert wait_for(report.exists)
            got = json.loads(report.read_text())
            assert int((home / "report.json.pid").read_text()) == new_pid
            assert got["ids"] == [OTHER_UID] * 4
            assert got["groups"] == [OTHER_UID]  # nobody's groups: initgroups
            assert got["cwd"] == str(home)
            assert got["marker"] == "the user's own"
            assert got["caps"] == ["0000000000000000"] * 4
            if lowered:
                assert got["oom_score_adj"] == "0"
            assert {int(fd) for fd in os.listdir(f"/proc/{new_pid}/fd")} == {0, 1, 2}
            # Detached: a session of its own, not the caller's.
            assert os.getsid(new_pid) != os.getsid(0)
    finally:
        kill_all([new_pid])


def test_what_a_user_records_runs_as_that_user_never_as_root(
    users_dir: Path, other_user_python: list[str]
) -> None:
    """Planted modules, PATH and LD_PRELOAD in a record: all run as 65534."""
    target = users_dir / "app.dat"
    home = user_dir(users_dir, "attacker")
    notes = home / "notes"
    # A module in the recorded working directory that a `python -m` restart
    # wrapper would import (the bug of issue 13's launch).
    planted = user_dir(home, "planted")
    (planted / "rstrtmgr.py").write_text(
        NOTE_EUID.replace("sys.argv[1]", repr(str(notes))).replace(
            "sys.argv[2]", "'planted-module'"
        )
    )
    # A program found through the recorded PATH.
    bindir = user_dir(home, "bin")
    prog = bindir / "installer-helper"
    id_prog = shutil.which("id") or "/usr/bin/id"  # PATH is the bin dir alone
    prog.write_text(f'#!/bin/sh\necho "recorded-path $({id_prog} -u)" >> {notes}\n')
    prog.chmod(0o755)
    # A library preloaded through the recorded LD_PRELOAD.
    cc = shutil.which("cc") or shutil.which("gcc")
    preload = home / "preload.so"
    if cc is not None:
        src = home / "preload.c"
        src.write_text(
            textwrap.dedent(
                f"""
                #include <stdio.h>
                #include <unistd.h>
                __attribute__((constructor)) static void note(void) {{
                    FILE *f = fopen("{notes}", "a");
                    if (f)
                        fprintf(f, "ld-preload %u\\n", (unsigned)geteuid());
                    if (f)
                        fclose(f);
                }}
                """
            )
        )
        subprocess.run(
            [cc, "-shared", "-fPIC", "-o", str(preload), str(src)], check=True
        )
    for path in home.rglob("*"):
        os.lchown(path, OTHER_UID, OTHER_UID)

    store = home / "store"
    env = user_env(RSTRTMGR_STATE_DIR=str(store))
    records = [
        spec([*other_user_python, "-m", "rstrtmgr", "--version"], cwd=str(planted)),
        spec(["installer-helper"], env={**env, "PATH": str(bindir)}),
    ]
    if cc is not None:
        records.append(spec(["/bin/true"], env={**env, "LD_PRELOAD": str(preload)}))
    expected = {"planted-module", "recorded-path"} | ({"ld-preload"} if cc else set())
    with ExitStack() as stack:
        olds = [
            stack.enter_context(
                as_user(
                    other_user_python,
                    REGISTER_EXACTLY,
                    str(target),
                    r,
                    cwd=home,
                    env=env,
                )
            )
            for r in records
        ]
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            listed = by_pid(s.get_list().processes)
            assert all(listed[p.pid].restartable for p in olds)
            s.shutdown(only_registered=True, timeout=20)
            # They all exit at once after what they did: 352, as it should be.
            with pytest.raises(rstrtmgr.RestartFailedError):
                s.restart(settle_time=0.5)
    lines = notes.read_text().split() if notes.exists() else []
    ran = dict(zip(lines[::2], lines[1::2], strict=True))
    assert set(ran) == expected
    assert set(ran.values()) == {str(OTHER_UID)}


def _link_to(path: Path, moved: Path) -> None:
    path.rename(moved)
    path.symlink_to(moved)
    os.lchown(path, OTHER_UID, OTHER_UID)


def _hard_link(record: Path) -> None:
    os.link(record, record.parent.parent / "second-name")


#: What an attacker (or a mistake) can do to a good store after registering.
SPOILERS: dict[str, Callable[[Path, int], None]] = {
    "symlinked record": lambda store, pid: _link_to(
        record_of(store, pid), store / "elsewhere"
    ),
    "symlinked restart directory": lambda store, pid: _link_to(
        store / "restart", store / "restart-real"
    ),
    "hard-linked record": lambda store, pid: _hard_link(record_of(store, pid)),
    "record of mode 0666": lambda store, pid: record_of(store, pid).chmod(0o666),
    "store of mode 0777": lambda store, pid: store.chmod(0o777),
    "store of another user": lambda store, pid: os.chown(store, THIRD_UID, THIRD_UID),
}


def plant_copies(store: Path, own: int, victims: list[int]) -> None:
    """Copies of ``own``'s good record, named after the victims' processes."""
    record = record_of(store, own).read_bytes()
    for victim in victims:
        planted = record_of(store, victim)
        planted.write_bytes(record)
        os.chown(planted, OTHER_UID, OTHER_UID)
        planted.chmod(0o600)


def test_records_root_must_ignore(
    users_dir: Path, other_user_python: list[str]
) -> None:
    """Symlinked stores and records, open or foreign stores, records naming
    root's or a third user's process: none makes anything restartable."""
    target = users_dir / "app.dat"
    notes = user_dir(users_dir, "notes-dir") / "notes"
    python = other_user_python

    def noting(tag: str) -> str:
        return spec([*python, "-c", NOTE_EUID, str(notes), tag])

    ignored: dict[str, subprocess.Popen[str]] = {}
    with ExitStack() as stack:

        def start(tag: str, store: Path, uid: int = OTHER_UID) -> subprocess.Popen[str]:
            return stack.enter_context(
                as_user(
                    python,
                    REGISTER_EXACTLY,
                    str(target),
                    noting(tag),
                    uid=uid,
                    cwd=users_dir,
                    env=user_env(RSTRTMGR_STATE_DIR=str(store)),
                )
            )

        # A store reached through a symbolic link (the user's own backend
        # follows a link in a parent; root follows none).
        real = user_dir(users_dir, "real")
        link = users_dir / "link"
        link.symlink_to(real)
        os.lchown(link, OTHER_UID, OTHER_UID)
        ignored["symlinked store"] = start("symlinked-store", link / "store")
        # Good stores and records, spoiled after the registration.
        for i, (what, spoil) in enumerate(SPOILERS.items()):
            store = user_dir(users_dir, f"spoiled-{i}") / "store"
            p = ignored[what] = start(what.replace(" ", "-"), store)
            spoil(store, p.pid)
        # Records in the attacker's own good store named after root's
        # process and a third user's: copies of its own record.
        store = user_dir(users_dir, "s-good") / "store"
        attacker = start("attacker-itself", store)
        root_holder = stack.enter_context(holder(HOLD_FD, str(target)))
        third = stack.enter_context(
            as_user(
                python,
                "import sys\n" + HOLD_FD.replace("sys.argv[1]", repr(str(target))),
                uid=THIRD_UID,
                cwd=users_dir,
                env=user_env(),
            )
        )
        plant_copies(store, attacker.pid, [root_holder.pid, third.pid])
        ignored["record naming root's process"] = root_holder  # type: ignore[assignment]
        ignored["record naming a third user's process"] = third

        with rstrtmgr.Session() as s:
            s.register(files=[target])
            listed = by_pid(s.get_list().processes)
            assert listed[attacker.pid].restartable  # its own record is good
            wrongly = [k for k, p in ignored.items() if listed[p.pid].restartable]
            assert wrongly == []
            s.shutdown(timeout=20)
            result = s.restart(settle_time=0)
            statuses = by_pid(result.processes)
            assert statuses[attacker.pid].status == AppStatus.RESTARTED
            for p in ignored.values():
                assert statuses[p.pid].status == AppStatus.STOPPED
        assert wait_for(notes.exists)
    # Only the attacker's own restart ran, as the attacker.
    assert notes.read_text().split() == ["attacker-itself", str(OTHER_UID)]


def test_a_uid_without_an_account_comes_back_with_its_own_gid(
    users_dir: Path, other_user_python: list[str]
) -> None:
    # No passwd entry, so no initgroups: the gid it ran with, and no others.
    target = users_dir / "app.dat"
    home = user_dir(users_dir, "third", THIRD_UID)
    report = home / "report.json"
    restart = spec([*other_user_python, "-c", REPORT, str(report)])
    env = user_env(RSTRTMGR_STATE_DIR=str(home / "store"))
    new_pid = None
    try:
        with (
            as_user(
                other_user_python,
                REGISTER_EXACTLY,
                str(target),
                restart,
                uid=THIRD_UID,
                cwd=home,
                env=env,
            ) as old,
            rstrtmgr.Session() as s,
        ):
            s.register(files=[target])
            s.shutdown(only_registered=True, timeout=20)
            result = s.restart(settle_time=0.3)
            new_pid = by_pid(result.processes)[old.pid].restarted_pid
            assert wait_for(report.exists)
            got = json.loads(report.read_text())
            assert got["ids"] == [THIRD_UID] * 4
            assert got["groups"] == [THIRD_UID]
    finally:
        kill_all([new_pid])
