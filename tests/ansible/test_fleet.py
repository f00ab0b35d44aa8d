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

from fleet import REPO, SSHD, Fleet, Host, fleet, launch_holder, start_time  # noqa: E402

HOSTS = 3
HOLDERS_PER_HOST = 2

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0, reason="makes network namespaces: needs root"
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("ansible") is None,
        reason="ansible-core is not installed (tools/ansible_lane.sh installs it)",
    ),
    pytest.mark.skipif(
        not (REPO / "ansible_collections" / "rstrtmgr" / "rstrtmgr").is_dir(),
        reason="the collection is not beside the tests (a copy of the suite)",
    ),
    pytest.mark.skipif(
        not os.path.exists(SSHD) or shutil.which("ip") is None,
        reason="needs openssh-server and iproute2",
    ),
]

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
        assert len(logged) == HOLDERS_PER_HOST + 1  # nothing was restarted


def test_replace_brings_every_holder_back(hosts: Fleet) -> None:
    took, results = hosts.playbook("replace.yml")
    _report("replace_play_seconds", round(took, 2))
    for host in hosts.hosts:
        r = results[host.name]
        replaced = r["replaced"]
        assert replaced["changed"] is True
        assert replaced["failed"] == []
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
    assert "FAILED" in out, out
    assert f"rstrtmgr is not installed for {bare}/bin/python" in out, out
    assert "-m pip install rstrtmgr" in out, out
    assert "rstrtmgr on the managed nodes" in out, out
