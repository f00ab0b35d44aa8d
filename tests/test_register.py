"""RmRegisterResources: what is accepted, what is refused, and nothing half-done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from holders import HOLD_FD, holder
from support import LINUX

import rstrtmgr
from rstrtmgr import BadArgumentsError, UniqueProcess
from rstrtmgr._rstrtmgr import ffi, lib

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive the Linux backend", allow_module_level=True)


def batches(store: Path, session: rstrtmgr.Session) -> list[str]:
    return sorted(
        p.name
        for p in (store / "sessions" / session.key).iterdir()
        if p.name.startswith("batch-")
    )


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "target.bin"
    path.write_bytes(b"x")
    return path


def test_registrations_accumulate(tmp_path: Path, store: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    with (
        holder(HOLD_FD, str(a)) as ha,
        holder(HOLD_FD, str(b)) as hb,
        rstrtmgr.Session() as s,
    ):
        s.register(files=[a])
        assert s.get_list().pids() == {ha.pid}
        s.register(files=(str(b),))
        assert s.get_list().pids() == {ha.pid, hb.pid}
        assert len(batches(store, s)) == 2


def test_accepts_str_bytes_pathlike_and_one_path(target: Path) -> None:
    with holder(HOLD_FD, str(target)) as h:
        for form in (str(target), os.fsencode(target), target):
            with rstrtmgr.Session() as s:
                s.register(files=form)  # a single path is one file
                assert s.get_list().pids() == {h.pid}
        with rstrtmgr.Session() as s:
            s.register(files=iter([target]))  # any iterable
            assert s.get_list().pids() == {h.pid}


@pytest.mark.parametrize(
    ("files", "error"),
    [
        (["relative/path"], ValueError),
        ([None], TypeError),
        ([42], TypeError),
        ([b"/tmp/nul\0byte"], ValueError),
        (None, TypeError),
        (42, TypeError),
    ],
)
def test_bad_files_register_nothing(
    target: Path, store: Path, files: object, error: type[Exception]
) -> None:
    with rstrtmgr.Session() as s:
        with pytest.raises(error):
            s.register(files=[target, *files] if isinstance(files, list) else files)  # type: ignore[arg-type]
        assert batches(store, s) == []


def test_directory_is_refused_and_nothing_registered(
    tmp_path: Path, target: Path, store: Path
) -> None:
    with holder(HOLD_FD, str(target)) as h, rstrtmgr.Session() as s:
        with pytest.raises(BadArgumentsError) as e:
            s.register(files=[target, tmp_path])
        assert e.value.winerror == 160
        assert isinstance(e.value, ValueError)
        assert batches(store, s) == []
        assert h.pid not in s.get_list().pids()


@pytest.mark.parametrize(
    "processes", [[None], [1.5], ["123"], [True], [UniqueProcess(1, 0), object()]]
)
def test_bad_processes_register_nothing(store: Path, processes: list[object]) -> None:
    with rstrtmgr.Session() as s:
        with pytest.raises(TypeError):
            s.register(processes=processes)
        assert batches(store, s) == []


def test_bad_services_register_nothing(store: Path) -> None:
    with rstrtmgr.Session() as s:
        with pytest.raises(TypeError):
            s.register(services=[None])  # type: ignore[list-item]
        with pytest.raises(BadArgumentsError):
            s.register(services=["ok", "not/a unit"])
        assert batches(store, s) == []
        s.register(services=["no-such-unit-rstrtmgr-test"])
        assert s.get_list().processes == []


def test_pid_that_does_not_exist() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now (until reused)
    with rstrtmgr.Session() as s:
        try:
            UniqueProcess.of(child.pid)
        except ProcessLookupError:
            with pytest.raises(ProcessLookupError):
                s.register(processes=[child.pid])
        else:
            pytest.skip("the pid was reused at once")


def test_pid_psutil_and_unique_process_agree() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        by_pid = UniqueProcess.of(child.pid)
        assert UniqueProcess.from_process(psutil.Process(child.pid)) == by_pid
        with rstrtmgr.Session() as s:
            s.register(processes=[psutil.Process(child.pid)])
            (info,) = s.get_list().processes
            assert info.unique_process == by_pid
            assert info.pid == child.pid
    finally:
        child.kill()
        child.wait()


def test_psutil_object_of_exited_process_never_matches() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    proc = psutil.Process(child.pid)
    proc.create_time()  # psutil caches it
    child.kill()
    child.wait()
    with rstrtmgr.Session() as s:
        s.register(processes=[proc])
        assert child.pid not in s.get_list().pids()


def test_nonexistent_file_is_registered(tmp_path: Path) -> None:
    with rstrtmgr.Session() as s:
        s.register(files=[tmp_path / "not-there-yet"])
        assert s.get_list().processes == []


def test_hundred_thousand_files(tmp_path: Path) -> None:
    n = 100_000
    base = tmp_path / "many"
    base.mkdir()
    names = [os.path.join(base, f"f{i:06d}") for i in range(n)]
    for name in names:
        os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o644))
    with holder(HOLD_FD, names[-1]) as h, rstrtmgr.Session() as s:
        t0 = time.perf_counter()
        s.register(files=names)
        t1 = time.perf_counter()
        pids = s.get_list().pids()
        t2 = time.perf_counter()
        assert pids == {h.pid}
        print(f"register {n} files: {t1 - t0:.3f} s; get_list: {t2 - t1:.3f} s")


# -- the raw layer ----------------------------------------------------------


def raw_start() -> int:
    handle = ffi.new("DWORD *")
    assert lib.RmStartSession(handle, 0, ffi.new("WCHAR[33]")) == 0
    return int(handle[0])


def raw_register(h: int, names: list[str | None]) -> int:
    keep = [ffi.new("WCHAR[]", n) if n is not None else ffi.NULL for n in names]
    return int(
        lib.RmRegisterResources(
            h, len(keep), ffi.new("LPCWSTR[]", keep), 0, ffi.NULL, 0, ffi.NULL
        )
    )


def test_raw_bad_input(target: Path, tmp_path: Path) -> None:
    h = raw_start()
    good = str(target)
    assert raw_register(h, [good, "relative"]) == 160
    assert raw_register(h, [good, str(tmp_path)]) == 160
    assert raw_register(h, [good, None]) == 160
    assert raw_register(h, [good, ""]) == 160
    assert raw_register(h, [good, "/tmp/\ud800lone"]) == 160  # not surrogateescape
    assert lib.RmRegisterResources(h, 2, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL) == 160
    assert lib.RmRegisterResources(h, 0, ffi.NULL, 1, ffi.NULL, 0, ffi.NULL) == 160
    assert lib.RmRegisterResources(h, 0, ffi.NULL, 0, ffi.NULL, 1, ffi.NULL) == 160
    with holder(HOLD_FD, good):
        n = ffi.new("UINT *", 0)
        r = ffi.new("DWORD *")
        # None of the refused calls registered the good file.
        assert lib.RmGetList(h, n, n, ffi.NULL, r) == 0
        assert raw_register(h, [good]) == 0
        assert lib.RmGetList(h, n, ffi.new("UINT *", 0), ffi.NULL, r) == 234
    assert lib.RmEndSession(h) == 0
    assert raw_register(h, [good]) == 6
    assert raw_register(0xFFFFFFFF, [good]) == 6


def test_raw_processes_and_services(target: Path) -> None:
    h = raw_start()
    apps = ffi.new("RM_UNIQUE_PROCESS[]", 1)
    me = UniqueProcess.of(os.getpid())
    apps[0].dwProcessId = me.pid
    apps[0].ProcessStartTime.dwLowDateTime = me.start_time & 0xFFFFFFFF
    apps[0].ProcessStartTime.dwHighDateTime = me.start_time >> 32
    svc = [ffi.new("WCHAR[]", "rstrtmgr-test-none")]
    assert (
        lib.RmRegisterResources(h, 0, ffi.NULL, 1, apps, 1, ffi.new("LPCWSTR[]", svc))
        == 0
    )
    n = ffi.new("UINT *", 4)
    infos = ffi.new("RM_PROCESS_INFO[]", 4)
    r = ffi.new("DWORD *")
    assert lib.RmGetList(h, ffi.new("UINT *"), n, infos, r) == 0
    assert n[0] == 1
    assert infos[0].Process.dwProcessId == os.getpid()
    assert r[0] & lib.RmRebootReasonDetectedSelf
    assert lib.RmEndSession(h) == 0


def test_raw_register_files_buffer(target: Path, tmp_path: Path) -> None:
    # rstrtmgr_register_files: the paths as one NUL-separated buffer, checked
    # whole as RmRegisterResources is; a bad one registers nothing.
    h = raw_start()
    good = os.fsencode(target)
    other = os.fsencode(tmp_path / "not-there")

    def call(data: bytes, count: int) -> int:
        return int(lib.rstrtmgr_register_files(h, data, len(data), count))

    assert call(good + b"\0" + other, 3) == 160  # fewer paths than said
    assert call(good + b"\0" + other, 1) == 160  # more paths than said
    assert call(good + b"\0" + other + b"\0", 2) == 160  # an empty third
    assert call(good + b"\0relative", 2) == 160
    assert call(good + b"\0" + os.fsencode(tmp_path), 2) == 160  # a directory
    assert call(good + b"\0/" + b"x" * 5000, 2) == 160  # longer than PATH_MAX
    assert lib.rstrtmgr_register_files(h, ffi.NULL, 0, 1) == 160
    with holder(HOLD_FD, str(target)):
        n = ffi.new("UINT *", 0)
        r = ffi.new("DWORD *")
        assert lib.RmGetList(h, n, n, ffi.NULL, r) == 0  # nothing registered
        assert call(other + b"\0" + good, 2) == 0
        assert lib.RmGetList(h, n, ffi.new("UINT *", 0), ffi.NULL, r) == 234
    assert call(b"", 0) == 0
    assert lib.RmEndSession(h) == 0
    assert call(good, 1) == 6


def test_register_non_utf8_and_lone_surrogate_names(tmp_path: Path) -> None:
    # The facade's one buffer carries a name that is not UTF-8 as its very
    # bytes; a lone surrogate that stands for no byte is refused, and nothing
    # of the call is registered.
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.bin")
    with open(raw, "wb") as f:
        f.write(b"x")
    with holder(HOLD_FD, os.fsdecode(raw)) as h, rstrtmgr.Session() as s:
        with pytest.raises(ValueError, match="surrogates not allowed"):
            s.register(files=[os.fsdecode(raw), str(tmp_path / "\ud800x")])
        assert s.get_list().pids() == set()
        s.register(files=[os.fsdecode(raw)])
        assert s.get_list().pids() == {h.pid}


# -- the facade's one buffer (rstrtmgr_register_files) -----------------------

#: More than one chunk of the facade's packing (rstrtmgr._session._PACK_CHUNK).
PACKED = 10_000


@pytest.mark.parametrize("at", [0, 1, 4095, 4096, PACKED - 1])
@pytest.mark.parametrize(
    "wrong",
    [
        ("relative/path", ValueError, "is not a full path"),
        ("", ValueError, "is not a full path"),
        ("/tmp/nul\0byte", ValueError, "contains a NUL byte"),
        ("\0/tmp/nul-first", ValueError, "contains a NUL byte"),
        ("/tmp/\ud800lone", ValueError, "surrogates not allowed"),
        (None, TypeError, "not NoneType"),
        (42, TypeError, "not int"),
    ],
)
def test_bad_path_among_many_str_registers_nothing(
    tmp_path: Path, store: Path, at: int, wrong: tuple[object, type[Exception], str]
) -> None:
    # A list of plain str is checked a chunk at a time: a bad item anywhere,
    # in the first chunk or a later one, raises what it raises alone, and
    # nothing of the call is registered.
    bad, error, match = wrong
    names: list[object] = [str(tmp_path / f"f{i}") for i in range(PACKED)]
    names[at] = bad
    with rstrtmgr.Session() as s:
        with pytest.raises(error, match=match):
            s.register(files=names)  # type: ignore[arg-type]
        assert batches(store, s) == []


def test_every_form_of_path_across_chunks_is_registered_as_its_bytes(
    tmp_path: Path,
) -> None:
    # The packing takes plain str chunks whole and converts the others path
    # by path: each file is registered as its very bytes wherever it falls.
    raw = os.fsencode(tmp_path)
    held = {
        "ascii": tmp_path / "plain.bin",
        "utf8": tmp_path / "caf\u00e9.bin",
        "non_utf8": Path(os.fsdecode(raw + b"/raw\xff.bin")),
        "bytes": tmp_path / "as-bytes.bin",
        "pathlike": tmp_path / "as-path.bin",
    }
    for p in held.values():
        p.write_bytes(b"x")
    names: list[object] = [str(tmp_path / "none" / f"{i}") for i in range(PACKED)]
    names[3] = str(held["ascii"])  # in the first, plain chunk
    names[4097] = str(held["utf8"])  # later chunks with one odd item each
    names[5000] = os.fsdecode(held["non_utf8"])
    names[8193] = os.fsencode(held["bytes"])
    names[9999] = held["pathlike"]
    code = "fs = [open(a, 'rb') for a in sys.argv[1:]]"
    with holder(code, *map(str, held.values())) as h, rstrtmgr.Session() as s:
        s.register(files=names)  # type: ignore[arg-type]
        [p] = [p for p in s.get_list(details=True).processes if p.pid == h.pid]
        assert p.files is not None
        assert sorted(os.fsencode(f.path) for f in p.files) == sorted(
            os.fsencode(v) for v in held.values()
        )


def test_packed_paths_allocate_their_bytes_once(tmp_path: Path) -> None:
    # 100,000 plain paths: what Python allocates for the call is their one
    # buffer and a chunk, not a joined str beside its bytes (twice the
    # buffer, as register() did before) nor a list of checked paths.
    import tracemalloc

    names = [str(tmp_path / "none" / f"{i:06d}") for i in range(100_000)]
    size = sum(map(len, names)) + len(names)
    with rstrtmgr.Session() as s:
        s.register(files=names[:10])  # first-call costs out of the way
        tracemalloc.start()
        try:
            s.register(files=names)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert size < peak < size * 1.2, (peak, size)


def test_files_looked_up_in_their_directory_as_by_full_path(tmp_path: Path) -> None:
    # From a directory's second path on, the backend looks each file up by
    # its last name in the directory it opened: symbolic links, "." and a
    # trailing "/" are judged as an lstat of the full path judges them.
    real = tmp_path / "real"
    real.mkdir()
    target = real / "target.bin"
    target.write_bytes(b"x")
    (real / "link.bin").symlink_to(target)
    (real / "subdir").mkdir()
    (real / "dirlink").symlink_to(real / "subdir")
    (tmp_path / "via").symlink_to(real)
    via = tmp_path / "via"
    with holder(HOLD_FD, str(target)) as h:
        for files in (
            [via / "none", via / "target.bin"],  # a run in a linked directory
            [real / "none", real / "link.bin"],  # a link to the file
            [real / "none", f"{target}/"],  # not a directory: nothing there
        ):
            with rstrtmgr.Session() as s:
                s.register(files=[str(f) for f in files])
                pids = s.get_list().pids()
            assert (h.pid in pids) == (files[1] != f"{target}/"), files
        for refused in (
            [real / "none", real / "dirlink"],
            [real / "none", f"{real}/."],
            [real / "subdir" / "none", f"{real}/subdir/"],
            [real / "subdir" / "none", f"{real}/subdir/.."],
        ):
            with rstrtmgr.Session() as s, pytest.raises(BadArgumentsError):
                s.register(files=[str(f) for f in refused])
    before = sorted(os.listdir("/proc/self/fd"))
    with rstrtmgr.Session() as s:
        s.register(files=[str(real / f"{i}") for i in range(100)])
    assert sorted(os.listdir("/proc/self/fd")) == before  # the directory closed


def test_directory_among_files_and_processes_is_refused_alike(
    tmp_path: Path, target: Path, store: Path
) -> None:
    # With processes too the files are still checked whole by the backend
    # (the facade once stat'ed every path itself first, on Linux too).
    with rstrtmgr.Session() as s:
        with pytest.raises(BadArgumentsError, match="is a directory"):
            s.register(files=[target, tmp_path], processes=[os.getpid()])
        assert batches(store, s) == []
