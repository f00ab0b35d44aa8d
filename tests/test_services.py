"""Services on Linux: processes in a real systemd-style cgroup (``NAME.service``)."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from holders import HOLD_FD, LOG_ON_TERM, holder
from support import LINUX, ROOT, by_pid, python

import rstrtmgr
from rstrtmgr import AppStatus, AppType, FilterAction

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux cgroups", allow_module_level=True)

SYSTEMD = os.path.isdir("/run/systemd/system")


def cgroup2_root() -> Path | None:
    for path in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(f"{path}/cgroup.procs") and os.path.exists(
            f"{path}/cgroup.controllers"
        ):
            return Path(path)
    return None


class Service:
    """A cgroup named like a system service, and a way to put processes in it."""

    def __init__(self, unit_dir: Path) -> None:
        self.dir = unit_dir
        self.unit = unit_dir.name
        self.name = self.unit.removesuffix(".service")

    def add(self, pid: int) -> None:
        try:
            (self.dir / "cgroup.procs").write_text(str(pid))
        except OSError as e:  # e.g. a container that may not move processes
            pytest.skip(f"cannot move a process into {self.dir}: {e}")


@pytest.fixture
def service() -> Iterator[Service]:
    root = cgroup2_root()
    if not ROOT or root is None:
        pytest.skip("needs root and a writable cgroup2 hierarchy")
    if SYSTEMD:
        pytest.skip("systemd runs here: it, not signals, would stop its units")
    slice_dir = root / "system.slice"
    made_slice = not slice_dir.exists()
    unit_dir = slice_dir / f"rstrtmgr-test-{secrets.token_hex(4)}.service"
    try:
        unit_dir.mkdir(parents=True)
    except OSError as e:
        pytest.skip(f"cannot make a cgroup here: {e}")
    try:
        yield Service(unit_dir)
    finally:
        for pid in (unit_dir / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)  # only the test's own holders
        deadline = time.monotonic() + 30
        while (unit_dir / "cgroup.procs").read_text().strip():
            assert time.monotonic() < deadline, "the test's holders did not die"
            time.sleep(0.02)
        unit_dir.rmdir()
        if made_slice:
            slice_dir.rmdir()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "service.dat"
    path.write_bytes(b"x")
    return path


def test_registered_service_lists_its_processes(service: Service) -> None:
    with holder("") as inside, holder("") as outside:
        service.add(inside.pid)
        with rstrtmgr.Session() as s:
            s.register(services=[service.name])
            listed = by_pid(s.get_list())
        assert set(listed) == {inside.pid}
        info = listed[inside.pid]
        assert info.service_name == service.unit
        assert info.app_type == AppType.SERVICE
        assert info.restartable  # a service can always be started again
        assert outside.poll() is None


def test_file_holder_in_a_service_is_typed_service(
    service: Service, target: Path
) -> None:
    with holder(HOLD_FD, str(target)) as child:
        service.add(child.pid)
        info = by_pid(rstrtmgr.who_uses(target))[child.pid]
        assert info.app_type == AppType.SERVICE
        assert info.service_name == service.unit


def test_a_holder_moved_into_a_service_is_typed_anew(
    service: Service, target: Path
) -> None:
    """A session lists a holder, which is then moved into a cgroup (the
    test's own): its next list reads the cgroup again."""
    with holder(HOLD_FD, str(target)) as child, rstrtmgr.Session() as s:
        s.register(files=[target])
        before = by_pid(s.get_list())[child.pid]
        assert before.service_name != service.unit
        service.add(child.pid)
        after = by_pid(s.get_list())[child.pid]
        assert after.service_name == service.unit
        assert after.app_type == AppType.SERVICE


def test_services_are_shut_down_after_applications(
    service: Service, target: Path, tmp_path: Path
) -> None:
    log = tmp_path / "order"
    children = [
        python(
            LOG_ON_TERM.format(setup=""),
            str(target),
            str(log),
            name,
            delay,
            start_new_session=True,
        )
        for name, delay in (("service", "0"), ("app", "0.5"))
    ]
    try:
        for c in children:
            assert c.stdout is not None
            assert c.stdout.readline().strip() == "ready"
        in_service = children[0]
        service.add(in_service.pid)
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            result = s.shutdown(timeout=20)
        assert log.read_text().split() == ["app", "service"]
        assert by_pid(result)[in_service.pid].status == AppStatus.STOPPED
    finally:
        for c in children:
            c.kill()
            c.communicate(timeout=30)


def test_service_without_its_manager_cannot_be_restarted(
    service: Service, target: Path
) -> None:
    with holder(HOLD_FD, str(target)) as child:
        service.add(child.pid)
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            s.shutdown(only_registered=True, timeout=20)
            assert child.wait(timeout=30) == -signal.SIGTERM
            # No systemd to start the unit again: an honest failure.
            with pytest.raises(rstrtmgr.RestartFailedError) as info:
                s.restart()
            statuses = {p.pid: p.status for p in info.value.processes}
            assert statuses[child.pid] == AppStatus.ERROR_ON_RESTART


def test_no_shutdown_filter_by_service(service: Service, target: Path) -> None:
    with holder(HOLD_FD, str(target)) as kept, holder(HOLD_FD, str(target)) as app:
        service.add(kept.pid)
        with rstrtmgr.Session() as s:
            s.register(files=[target])
            s.add_filter(FilterAction.NO_SHUTDOWN, service=service.name)
            result = s.shutdown(timeout=20)
        assert app.wait(timeout=30) == -signal.SIGTERM
        assert kept.poll() is None
        assert by_pid(result)[kept.pid].status == AppStatus.SHUTDOWN_MASKED


def test_unknown_service_lists_nothing(service: Service) -> None:
    with rstrtmgr.Session() as s:
        s.register(services=[service.name + "-absent"])
        assert s.get_list().processes == []
