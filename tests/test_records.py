"""The facade's records behave as the frozen dataclasses they replaced, and
importing the package leaves the costly standard modules unimported."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from holders import holder
from support import LINUX, run_python

import rstrtmgr
from rstrtmgr import (
    AppStatus,
    AppType,
    Filter,
    FilterAction,
    FilterTrigger,
    ListResult,
    ProcessInfo,
    RebootReason,
    UniqueProcess,
)
from rstrtmgr._types import filetime_to_datetime

FT = 133_000_000_000_000_000


def info(pid: int = 7) -> ProcessInfo:
    return ProcessInfo(
        pid,
        filetime_to_datetime(FT),
        FT,
        "app",
        "",
        AppType.CONSOLE,
        AppStatus.RUNNING,
        None,
        False,
    )


def test_unique_process_equality_hash_order_repr() -> None:
    a, b = UniqueProcess(1, 5), UniqueProcess(2, 0)
    assert a == UniqueProcess(1, 5)
    assert a != b
    assert hash(a) == hash(UniqueProcess(1, 5))
    assert sorted([b, a, UniqueProcess(1, 4)]) == [UniqueProcess(1, 4), a, b]
    assert a < b
    assert a <= UniqueProcess(1, 5)
    assert b > a
    assert b >= UniqueProcess(2, 0)
    assert repr(a) == "UniqueProcess(pid=1, start_time=5)"
    assert a != (1, 5)
    with pytest.raises(TypeError):
        _ = a < (2, 0)  # type: ignore[operator]
    match a:
        case UniqueProcess(pid, start):
            assert (pid, start) == (1, 5)


def test_records_are_frozen_and_pickle() -> None:
    for record in (
        UniqueProcess(1, 5),
        info(),
        ListResult([info()], RebootReason.PERMISSION_DENIED, 2),
        Filter(
            FilterAction.NO_SHUTDOWN, FilterTrigger.PROCESS, process=UniqueProcess(3, 4)
        ),
    ):
        with pytest.raises(AttributeError):
            record.pid = 2  # type: ignore[union-attr]
        with pytest.raises(AttributeError):
            del record.pid  # type: ignore[union-attr]
        assert pickle.loads(pickle.dumps(record)) == record


def test_process_info_and_list_result() -> None:
    assert info() == info()
    assert info() != info(8)
    assert hash(info()) == hash(info())
    assert info().unique_process == UniqueProcess(7, FT)
    assert info().start_time == UniqueProcess(7, FT).started
    assert repr(info()).startswith("ProcessInfo(pid=7, start_time=datetime.datetime(")
    empty, other = ListResult(), ListResult()
    assert empty == other
    assert empty.processes is not other.processes
    assert empty.reboot_reasons == RebootReason.NONE
    assert empty.uninspected == 0
    full = ListResult([info(), info(8)])
    assert full.pids() == {7, 8}
    assert len(full) == 2
    assert full.in_use
    assert list(full) == full.processes
    with pytest.raises(TypeError):
        hash(full)  # it holds a list, as the dataclass did


def test_filter_fields_and_defaults() -> None:
    f = Filter(FilterAction.NO_RESTART, FilterTrigger.FILE, path="/bin/x")
    assert (f.path, f.process, f.service) == ("/bin/x", None, None)
    assert f == Filter(FilterAction.NO_RESTART, FilterTrigger.FILE, "/bin/x")
    assert f != Filter(FilterAction.NO_SHUTDOWN, FilterTrigger.FILE, "/bin/x")


def test_import_leaves_costly_modules_unimported() -> None:
    out = run_python(
        """
        import sys
        costly = {"typing", "dataclasses", "inspect", "subprocess", "shutil",
                  "datetime", "ctypes", "json"}
        before = set(sys.modules)
        import rstrtmgr
        print(" ".join(sorted(costly & (set(sys.modules) - before))))
        """
    )
    assert out.split() == []


@pytest.mark.skipif(not LINUX, reason="drives a Linux process")
def test_listed_records_equal_records_built_by_hand(tmp_path: Path) -> None:
    # get_list builds its records without __init__, the start time derived
    # from the FILETIME when first read: they must be the records the
    # constructor makes of the same values, in every respect.
    held = tmp_path / "held.bin"
    held.write_bytes(b"x")
    with holder("f = open(sys.argv[1])", str(held)) as child, rstrtmgr.Session() as s:
        s.register(files=[held])
        [listed] = [p for p in s.get_list().processes if p.pid == child.pid]
    built = ProcessInfo(
        listed.pid,
        filetime_to_datetime(listed.start_filetime),
        listed.start_filetime,
        listed.app_name,
        listed.service_name,
        listed.app_type,
        listed.status,
        listed.ts_session_id,
        listed.restartable,
    )
    assert listed == built
    assert hash(listed) == hash(built)
    assert repr(listed) == repr(built)
    assert pickle.loads(pickle.dumps(listed)) == built
    assert listed.start_time == UniqueProcess(child.pid, listed.start_filetime).started
    changed = listed._replace(uid=5, app_name="other")
    assert (changed.uid, changed.app_name, changed.pid) == (5, "other", listed.pid)
    assert changed.start_time == listed.start_time
    assert (listed.uid, listed.app_name) == (None, built.app_name)
    with pytest.raises(TypeError, match="no field 'nope'"):
        listed._replace(nope=1)
    with pytest.raises(AttributeError):
        listed.app_name = "x"  # type: ignore[misc]
    match listed:
        case ProcessInfo(pid, start):
            assert (pid, start) == (listed.pid, listed.start_time)
