"""Hostile files in the session store: answered at once, never a hang.

In place of each file of the store (the lock, a session's record, batch,
filters, timeouts and shutdown state, a restart registration) the test puts a
FIFO, a directory, a symbolic link to a valid copy, a huge sparse file that
starts like the real one, and (as root) the real file given to another user.
Every call must answer at once with success, 29 (the store error) or 1219
(the session was reclaimed), and the call that reads the file must not use
it: 29 or 1219.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from faults import report
from support import LINUX, OTHER_UID, PACKAGE_ROOT, ROOT, child_env

pytestmark = [
    pytest.mark.linux_backend,
    pytest.mark.skipif(not LINUX, reason="the store is the Linux backend's"),
]

TARGETS = ["lock", "record", "batch", "filters", "timeouts", "shutdown", "restart"]
KINDS = ["fifo", "directory", "symlink", "sparse"] + (["other_owner"] if ROOT else [])

#: Seconds any one scenario may take, with its child's start: generous, since
#: a hang is what is tested, not speed (speed is for bench/).
SCENARIO_SECONDS = 5.0

CHILD = r"""
import json, os, shutil, sys, time
import rstrtmgr
from rstrtmgr import FilterAction, RestartManagerError

target, base, other_uid = sys.argv[1], sys.argv[2], int(sys.argv[3])
kinds = sys.argv[4:]
held = os.path.join(base, "held.bin")
with open(held, "wb") as f:
    f.write(b"held")
keep_open = open(held, "rb")  # this process is a holder: it lists itself


def locate(store, key):
    sdir = os.path.join(store, "sessions", key)
    if target == "lock":
        return os.path.join(store, "lock")
    if target == "restart":
        rdir = os.path.join(store, "restart")
        return os.path.join(rdir, sorted(os.listdir(rdir))[0])
    if target == "batch":
        batches = [n for n in os.listdir(sdir) if n.startswith("batch-")]
        return os.path.join(sdir, sorted(batches)[0])
    return os.path.join(sdir, target)


def make_hostile(path, kind, aside):
    shutil.copy2(path, aside)
    if kind == "other_owner":
        os.chown(path, other_uid, other_uid)
        return
    os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "directory":
        os.mkdir(path, 0o700)
    elif kind == "symlink":
        os.symlink(aside, path)  # a valid copy: following it would "work"
    elif kind == "sparse":
        shutil.copy2(aside, path)
        with open(path, "r+b") as f:
            f.truncate(1 << 34)  # 16 GiB, valid start, holes after


def outcome(fn):
    t = time.monotonic()
    try:
        fn()
        r = "ok"
    except RestartManagerError as e:
        r = e.winerror
    except BaseException as e:  # what must never come out: reported
        r = f"{type(e).__name__}: {e}"
    return r, round((time.monotonic() - t) * 1000, 1)


for kind in kinds:
    store = os.path.join(base, "store-" + kind)
    os.environ["RSTRTMGR_STATE_DIR"] = store
    s = rstrtmgr.Session()
    s.register(files=[held])
    s.add_filter(FilterAction.NO_RESTART, path="/usr/bin/true")
    s.shutdown(timeout=1)  # writes timeouts and the shutdown state
    rstrtmgr.register_application_restart(["/bin/true"])
    path = locate(store, s.key)
    if kind != "none":
        make_hostile(path, kind, os.path.join(base, "aside-" + kind))
    print(json.dumps({"kind": kind, "start": True}), flush=True)
    results = {}
    me = os.getpid()

    def listing():
        listed = {p.pid: p for p in s.get_list().processes}
        results["self_restartable"] = listed[me].restartable if me in listed else None

    for name, fn in [
        ("get_list", listing),
        ("filters", s.filters),
        ("add_filter", lambda: s.add_filter(FilterAction.NO_SHUTDOWN, path=held)),
        ("register", lambda: s.register(files=[held])),
        ("shutdown", s.shutdown),  # reads the timeouts set above
        ("restart", s.restart),
        ("join", lambda: rstrtmgr.Session.join(s.key).close()),
        ("start", lambda: rstrtmgr.Session().close()),
        ("close", s.close),
    ]:
        print(json.dumps({"kind": kind, "op": name}), flush=True)
        results[name] = outcome(fn)
    try:
        rstrtmgr.unregister_application_restart()
    except RestartManagerError:
        pass  # the registration is the hostile file itself
    print(json.dumps({"kind": kind, "results": results}), flush=True)
"""

# Allowed answers of any call, and those of the calls that read the target.
ANY = {"ok", 29, 1219}
READER = {
    "lock": ["start"],
    "record": ["get_list"],
    "batch": ["get_list"],
    "filters": ["filters"],
    "timeouts": ["shutdown"],
    "shutdown": ["get_list", "restart"],
    "restart": [],
}


def run_child(target: str, base: Path, kinds: list[str]) -> list[dict[str, object]]:
    timeout = SCENARIO_SECONDS * (len(kinds) + 1)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(CHILD),
            target,
            str(base),
            str(OTHER_UID),
            *kinds,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
    )
    hung = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        hung = True
    if hung:
        last = out.strip().splitlines()[-1:] if out.strip() else ["(nothing)"]
        pytest.fail(f"{target}: hung for {timeout} s at {last[0]}")
    assert proc.returncode == 0, f"{target}: child failed: {err[-2000:]}"
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("target", TARGETS)
def test_hostile_file_is_answered_at_once(target: str, tmp_path: Path) -> None:
    base = tmp_path / "hostile"
    base.mkdir(mode=0o700)
    lines = run_child(target, base, ["none", *KINDS])
    results = {d["kind"]: d["results"] for d in lines if "results" in d}
    assert set(results) == {"none", *KINDS}
    baseline = results.pop("none")
    assert all(v[0] == "ok" for k, v in baseline.items() if k != "self_restartable")
    assert baseline["self_restartable"] is True
    slowest = 0.0
    problems = []
    for kind, res in results.items():
        for op, value in res.items():
            if op == "self_restartable":
                continue
            answer, ms = value
            slowest = max(slowest, ms)
            if answer not in ANY:
                problems.append(f"{kind}/{op}: {answer}")
            if ms > SCENARIO_SECONDS * 1000:
                problems.append(f"{kind}/{op}: {ms} ms")
        # The lock's content is never read: a huge one is merely a lock.
        readers = [] if (target, kind) == ("lock", "sparse") else READER[target]
        for op in readers:
            if res[op][0] not in (29, 1219):
                problems.append(f"{kind}/{op}: used the hostile file ({res[op][0]})")
        if target == "restart" and res["self_restartable"]:
            problems.append(
                f"{kind}: a hostile registration made the process restartable"
            )
    report(
        f"hostile_store[{target}]",
        inputs=len(results),
        calls=sum(len(r) - 1 for r in results.values()),
        slowest_ms=slowest,
        hangs=0,
        problems=len(problems),
    )
    assert not problems, "\n".join(problems)
