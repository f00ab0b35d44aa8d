"""The Ansible collection over a fleet of real SSH hosts (network namespaces).

A playbook over three hosts finds each host's holders, predicts in check
mode what the replacement would stop (and changes nothing), then replaces a
file in use on each host and brings every holder back with a new pid, and
restarts what holds a stale copy. Run by tools/ansible_lane.sh (CI), as
root, with ansible-core installed; skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fleet_hosts import REPO, SSHD, Fleet, Host, fleet, launch_holder, start_time  # noqa: E402

HOSTS = 3
HOLDERS_PER_HOST = 2


def _cannot_run() -> str | None:
    """Why the fleet cannot be made here; None when it can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces and sshd: Linux only"
    if os.geteuid() != 0:
        return "makes network namespaces: needs root"
    playbook = Path(sys.executable).with_name("ansible-playbook")
    if importlib.util.find_spec("ansible") is None or not playbook.exists():
        return "ansible-core is not installed (tools/ansible_lane.sh installs it)"
    if not (REPO / "ansible_collections" / "rstrtmgr" / "rstrtmgr").is_dir():
        return "the collection is not beside the tests (a copy of the suite)"
    if not os.path.exists(SSHD) or shutil.which("ip") is None:
        return "needs openssh-server and iproute2"
    return None


REASON = _cannot_run()
if REASON and os.environ.get("RSTRTMGR_FLEET_REQUIRED"):
    # The lane that installed all of it must not pass by skipping.
    raise RuntimeError(f"the fleet test cannot run: {REASON}")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

#: What the lane prints: each play's time and sample return values.
REPORT = os.environ.get("RSTRTMGR_FLEET_REPORT")


def _report(key: str, value: object) -> None:
    if not REPORT:
        return
    path = Path(REPORT)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def hosts() -> Iterator[Fleet]:
    with fleet(HOSTS, sys.executable) as made:
        for host in made.hosts:
            app = host.app / "app.so"
            app.write_text(f"v1 {host.name}")
            (host.app / "app.so.new").write_text(f"v2 {host.name}")
            host.holders = [
                launch_holder(host, sys.executable, app)
                for _ in range(HOLDERS_PER_HOST)
            ]
            # A library the "upgrade" replaces by a rename while it is held.
            lib = host.lib / "libold.so"
            lib.write_text(f"old {host.name}")
            host.stale_holder = launch_holder(host, sys.executable, lib)
            upgraded = host.lib / ".libold.so.new"
            upgraded.write_text(f"new {host.name}")
            upgraded.rename(lib)
            plain = host.plain / "data"
            plain.write_text(f"plain {host.name}")
            host.plain_holder = launch_holder(host, sys.executable, plain, launch=False)
        yield made


def _alive(pid: int, logged: dict[int, tuple[str, str]]) -> bool:
    return start_time(pid) == logged[pid][0]


def _held_by(pid: int) -> set[str]:
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return held


def _in_namespace_of(pid: int, host: Host) -> bool:
    return os.stat(f"/proc/{pid}/ns/net").st_ino == host.netns_inode()


def test_find_and_check_mode_change_nothing(hosts: Fleet) -> None:
    took, results = hosts.playbook("find.yml")
    _report("find_play_seconds", round(took, 2))
    for host in hosts.hosts:
        r = results[host.name]
        users = r["users"]
        assert users["changed"] is False
        assert users["pids"] == sorted(host.holders), host.name
        assert isinstance(
            users["uninspected"], int
        )  # as root: 0, or what a container hides
        for p in users["processes"]:
            assert p["restartable"] is True
            assert p["user"] == "root"
            assert p["files"] == [
                {"path": str(host.app / "app.so"), "uses": ["fd"], "deleted": False}
            ]
            assert p["command_line"][-2:] == [str(host.app / "app.so"), str(host.log)]
        stale = r["stale_users"]
        assert stale["pids"] == [host.stale_holder], host.name
        assert stale["processes"][0]["files"][0]["deleted"] is True
        would = r["would"]
        assert would["changed"] is True
        assert [p["pid"] for p in would["stopped"]] == sorted(host.holders)
        assert would["copied"] == [str(host.app / "app.so")]
        assert would["restarted"] == []
    if REPORT:
        _report("sample_files_in_use", results["host1"]["users"])
        _report("sample_check_mode", results["host1"]["would"])
    # Check mode changed nothing: the same processes hold the old file.
    for host in hosts.hosts:
        logged = host.logged()
        assert all(_alive(pid, logged) for pid in host.holders)
        assert (host.app / "app.so").read_text() == f"v1 {host.name}"
        assert len(logged) == HOLDERS_PER_HOST + 2  # nothing was restarted


def test_replace_brings_every_holder_back(hosts: Fleet) -> None:
    took, results = hosts.playbook("replace.yml")
    _report("replace_play_seconds", round(took, 2))
    for host in hosts.hosts:
        r = results[host.name]
        replaced = r["replaced"]
        assert replaced["changed"] is True
        assert replaced["not_restarted"] == []
        assert [p["pid"] for p in replaced["stopped"]] == sorted(host.holders)
        assert replaced["copied"] == [str(host.app / "app.so")]
        back = {p["pid"]: p["new_pid"] for p in replaced["restarted"]}
        assert sorted(back) == sorted(host.holders), host.name
        logged = host.logged()
        app = str(host.app / "app.so")
        for old, new in back.items():
            assert not _alive(old, logged)
            assert new in logged, f"{new} never started on {host.name}"
            assert _alive(new, logged)
            assert logged[new][1] == f"v2 {host.name}"  # it read the new file
            assert app in _held_by(new)
            assert _in_namespace_of(new, host)  # restarted on that host
        # Done already: the second run changes nothing and stops nobody.
        again = r["again"]
        assert again["changed"] is False
        assert again["stopped"] == []
        assert all(_alive(new, logged) for new in back.values())
        stale = r["restarted_stale"]
        assert [p["pid"] for p in stale["stopped"]] == [host.stale_holder]
        ((new_stale,),) = [[p["new_pid"] for p in stale["restarted"]]]
        assert _alive(new_stale, host.logged())
        assert host.logged()[new_stale][1] == f"new {host.name}"
    if REPORT:
        _report("sample_replace_in_use", results["host1"]["replaced"])
        _report("sample_idempotent_rerun", results["host1"]["again"])


def _app_holders(host: Host) -> list[int]:
    """The live holders of the host's app.so (those that read it last)."""
    logged = host.logged()
    return sorted(
        pid
        for pid, (_, content) in logged.items()
        if content.startswith("v") and _alive(pid, logged)
    )


def test_failures_leave_nothing_stopped(hosts: Fleet) -> None:
    holders = {host.name: _app_holders(host) for host in hosts.hosts}
    took, results = hosts.playbook("fail.yml")
    _report("fail_play_seconds", round(took, 2))
    for host in hosts.hosts:
        r = results[host.name]
        step = r["step_failed"]
        assert step["failed"] is True
        assert "exited with status 3; what was shut down was restarted" in step["msg"]
        assert step["rc"] == 3
        assert "broken" in step["stderr"]
        assert [p["pid"] for p in step["stopped"]] == holders[host.name]
        back = {p["pid"]: p["new_pid"] for p in step["restarted"]}
        assert sorted(back) == holders[host.name]
        logged = host.logged()
        assert not any(_alive(old, logged) for old in back)
        # The next task found them alive: it shut the restarted ones down.
        terminated = r["terminated"]
        assert terminated["failed"] is True
        assert "interrupted by SIGTERM" in terminated["msg"], terminated["msg"]
        assert sorted(p["pid"] for p in terminated["restarted"]) == sorted(
            back.values()
        )
        logged = host.logged()
        for p in terminated["restarted"]:
            assert _alive(p["new_pid"], logged)
            assert not _alive(p["pid"], logged)
        unregistered = r["unregistered"]
        assert unregistered["failed"] is True
        assert "not registered for restart" in unregistered["msg"]
        assert unregistered["stopped"] == []
        assert _alive(host.plain_holder, logged)  # nothing was shut down
    if REPORT:
        _report("sample_failed_step", results["host1"]["step_failed"])
        _report("sample_unregistered", results["host1"]["unregistered"])
        _report("sample_terminated", results["host1"]["terminated"])


def test_the_docs_playbooks_parse(hosts: Fleet) -> None:
    page = (REPO / "docs" / "ansible.md").read_text(encoding="utf-8")
    blocks = [
        b.split("\n", 1)[1] for b in page.split("```")[1::2] if b.startswith("yaml")
    ]
    plays = [b for b in blocks if b.lstrip().startswith(("- name:", "- hosts:"))]
    assert len(plays) >= 2
    for n, play in enumerate(plays):
        path = hosts.base / f"docs-play-{n}.yml"
        path.write_text(play)
        hosts.syntax_check(path)


def test_rstrtmgr_missing_names_the_install_step(hosts: Fleet) -> None:
    bare = hosts.base / "bare-venv"
    # A Python without rstrtmgr on the managed node.
    subprocess.run(
        [
            f"{sys.base_exec_prefix}/bin/python3",
            "-m",
            "venv",
            "--without-pip",
            str(bare),
        ],
        check=True,
    )
    began = time.monotonic()
    out = hosts.adhoc(
        "host1",
        "rstrtmgr.rstrtmgr.files_in_use",
        "paths=/etc/hostname",
        "-e",
        f"ansible_python_interpreter={bare}/bin/python",
    )
    _report("missing_rstrtmgr_seconds", round(time.monotonic() - began, 2))
    _report("missing_rstrtmgr_output", out[-1500:])
    assert "FAILED" in out, out
    assert f"rstrtmgr is not installed for {bare}/bin/python" in out, out
    assert "-m pip install rstrtmgr" in out, out
    assert "rstrtmgr on the managed nodes" in out, out
