"""Property-based fuzzing of the raw layer and of the facade (hypothesis).

Arbitrary arguments, arbitrary store contents: every answer is a documented
code or exception, and nothing crashes the interpreter (CI also runs this
under ASan and UBSan). The budget is fixed and the runs derandomized, so CI
is reproducible; RSTRTMGR_FAULT_SCALE multiplies it for a soak run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from faults import report, scaled
from support import LANE_RM, LINUX

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import rstrtmgr  # noqa: E402
from rstrtmgr import FilterAction, UniqueProcess  # noqa: E402
from rstrtmgr._rstrtmgr import ffi, lib  # noqa: E402

FUZZ = settings(
    max_examples=scaled(80),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
COUNTS: dict[str, int] = {}

#: Codes a raw call may answer with arbitrary arguments.
RAW_CODES = {0, 5, 6, 8, 13, 29, 87, 121, 160, 234, 353, 1219, 1223}
# The Windows lane's own Restart Manager (tools/wine_rm) answers 120 for the
# calls it lacks (services, filters, joins); nothing else.
LANE_RM_CODES = RAW_CODES | {120} if LANE_RM else RAW_CODES

texts = st.text(
    alphabet=st.characters(codec=None, exclude_characters="\0"), max_size=300
)
paths = st.one_of(texts, texts.map(lambda t: "/" + t))
dwords = st.integers(0, 0xFFFFFFFF)


def _wstr(s: str) -> object:
    return ffi.new("WCHAR[]", s)


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("fuzz") / "held"
    path.write_bytes(b"x")
    return str(path)


@pytest.mark.behaviour
@FUZZ
@given(
    files=st.lists(paths, max_size=4),
    procs=st.lists(st.tuples(dwords, dwords, dwords), max_size=3),
    services=st.lists(texts, max_size=3),
    size=st.integers(0, 5),
    action=st.integers(-2, 6),
    key=texts,
    filter_size=st.integers(0, 600),
)
def test_raw_calls_answer_documented_codes(
    *,
    files: list[str],
    procs: list[tuple[int, int, int]],
    services: list[str],
    size: int,
    action: int,
    key: str,
    filter_size: int,
) -> None:
    COUNTS["raw"] = COUNTS.get("raw", 0) + 1
    handle = ffi.new("DWORD *")
    skey = ffi.new("WCHAR[]", lib.CCH_RM_SESSION_KEY + 1)
    assert lib.RmStartSession(handle, 0, skey) == 0
    h = handle[0]
    try:
        keep = [_wstr(f) for f in files]
        arr = ffi.new("LPCWSTR[]", keep) if keep else ffi.NULL
        apps = ffi.new("RM_UNIQUE_PROCESS[]", len(procs)) if procs else ffi.NULL
        for i, (pid, lo, hi) in enumerate(procs):
            apps[i].dwProcessId = pid
            apps[i].ProcessStartTime.dwLowDateTime = lo
            apps[i].ProcessStartTime.dwHighDateTime = hi
        keep_s = [_wstr(s) for s in services]
        svcs = ffi.new("LPCWSTR[]", keep_s) if keep_s else ffi.NULL
        rc = lib.RmRegisterResources(
            h, len(keep), arr, len(procs), apps, len(keep_s), svcs
        )
        assert rc in (LANE_RM_CODES if keep_s else RAW_CODES), rc
        needed, count, reasons = (
            ffi.new("UINT *"),
            ffi.new("UINT *", size),
            ffi.new("DWORD *"),
        )
        infos = ffi.new("RM_PROCESS_INFO[]", size) if size else ffi.NULL
        assert lib.RmGetList(h, needed, count, infos, reasons) in RAW_CODES
        target = _wstr(files[0]) if files else ffi.NULL
        proc = ffi.NULL
        if not files and procs:
            proc = apps
        rc = lib.RmAddFilter(h, target, proc, ffi.NULL, action & 0xFFFFFFFF)
        assert rc in LANE_RM_CODES, rc
        buf = ffi.new("BYTE[]", filter_size) if filter_size else ffi.NULL
        needed_f = ffi.new("DWORD *")
        assert lib.RmGetFilterList(h, buf, filter_size, needed_f) in LANE_RM_CODES
        assert lib.RmRemoveFilter(h, target, proc, ffi.NULL) in LANE_RM_CODES
        joined = ffi.new("DWORD *")
        rc = lib.RmJoinSession(joined, _wstr(key))
        assert rc in LANE_RM_CODES, rc
        if rc == 0:
            assert lib.RmEndSession(joined[0]) == 0
    finally:
        assert lib.RmEndSession(h) == 0


# Anything the facade raises for bad arguments; all else is a bug.
FACADE_ERRORS = (
    TypeError,
    ValueError,
    rstrtmgr.RestartManagerError,
    ProcessLookupError,
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    texts,
    st.binary(max_size=50),
    paths,
    st.lists(paths, max_size=3),
)


@pytest.mark.behaviour
@FUZZ
@given(
    files=anything,
    processes=anything,
    services=anything,
    action=anything,
    target=anything,
    key=anything,
    created=st.one_of(st.floats(), st.integers(-(2**70), 2**70)),
)
def test_facade_raises_only_documented_errors(
    *,
    files: object,
    processes: object,
    services: object,
    action: object,
    target: object,
    key: object,
    created: object,
) -> None:
    COUNTS["facade"] = COUNTS.get("facade", 0) + 1

    class Claims:
        pid = os.getpid()

        def create_time(self) -> object:
            return created

    with rstrtmgr.Session() as s:
        calls = [
            lambda: s.register(files=files),  # type: ignore[arg-type]
            lambda: s.register(processes=processes),  # type: ignore[arg-type]
            lambda: s.register(services=services),  # type: ignore[arg-type]
            lambda: s.add_filter(action, path=target),  # type: ignore[arg-type]
            lambda: s.add_filter(FilterAction.NO_RESTART, service=target),  # type: ignore[arg-type]
            lambda: s.remove_filter(process=target),
            lambda: rstrtmgr.Session.join(key).close(),  # type: ignore[arg-type]
            lambda: UniqueProcess(processes, created),  # type: ignore[arg-type]
            lambda: UniqueProcess.from_process(Claims()),
            s.filters,
            s.get_list,
        ]
        for call in calls:
            with contextlib.suppress(*FACADE_ERRORS):
                call()


STORE_FILES = ["record", "filters", "timeouts", "shutdown", "batch-fuzz"]


@pytest.mark.linux_backend
@pytest.mark.skipif(not LINUX, reason="the store is the Linux backend's")
@FUZZ
@given(
    which=st.sampled_from(STORE_FILES),
    keep=st.integers(0, 200),
    tail=st.binary(max_size=400),
)
def test_arbitrary_store_contents_are_the_store_error(
    held: str, which: str, keep: int, tail: bytes
) -> None:
    """Any content in a session's file: the calls answer, with 29 at worst."""
    COUNTS["store"] = COUNTS.get("store", 0) + 1
    store = Path(os.environ["RSTRTMGR_STATE_DIR"])
    s = rstrtmgr.Session()
    try:
        s.register(files=[held])
        s.add_filter(FilterAction.NO_RESTART, path="/usr/bin/true")
        s.shutdown(timeout=1)
        sdir = store / "sessions" / s.key
        batch = next(p for p in sdir.iterdir() if p.name.startswith("batch-"))
        path = batch if which == "batch-fuzz" else sdir / which
        original = path.read_bytes() if path.exists() else b""
        tmp = sdir / ".fuzz"
        tmp.write_bytes(original[:keep] + tail)
        tmp.chmod(0o600)
        tmp.replace(path)
        calls = (s.get_list, s.filters, lambda: s.shutdown(timeout=1), s.restart)
        for call in calls:
            _answers(call, (29, 1219, 351, 352, 776))
    finally:
        _answers(s.close, (29, 1219))


def _answers(call: Callable[[], object], codes: tuple[int, ...]) -> None:
    """Run call; a Restart Manager error must have one of codes."""
    try:
        call()
    except rstrtmgr.RestartManagerError as e:
        if e.winerror not in codes:
            raise


def _code_units_to_nul(field: object, size: int) -> str:
    """A WCHAR field's text read unit by unit through cffi: the reference."""
    units = []
    for i in range(size):
        unit = field[i]  # type: ignore[index]  # char16_t: a str of one unit
        if unit == "\0":
            break
        units.append(unit)
    # As text: a surrogate pair is one character, a lone surrogate itself.
    raw = "".join(units).encode("utf-16-le", "surrogatepass")
    return raw.decode("utf-16-le", "surrogatepass")


@FUZZ
@given(
    app=st.binary(min_size=512, max_size=512),
    svc=st.binary(min_size=128, max_size=128),
    cut=st.integers(0, 255),
)
def test_process_names_read_as_their_code_units(
    app: bytes, svc: bytes, cut: int
) -> None:
    # Any bytes (lone surrogates, no NUL at all, a NUL at any unit): the
    # facade's one-pass reading of RM_PROCESS_INFO gives each name as its
    # code units up to the first NUL.
    from rstrtmgr import _marshal

    COUNTS["process names"] = COUNTS.get("process names", 0) + 1
    infos = ffi.new("RM_PROCESS_INFO[]", 1)
    ffi.memmove(infos[0].strAppName, app, len(app))
    if cut % 3 == 0:  # a NUL at any unit, else wherever the bytes have one
        infos[0].strAppName[cut] = "\0"
    ffi.memmove(infos[0].strServiceShortName, svc, len(svc))
    (got,) = _marshal._process_infos(infos, 1)
    assert got.app_name == _code_units_to_nul(infos[0].strAppName, 256)
    assert got.service_name == _code_units_to_nul(infos[0].strServiceShortName, 64)


def test_fuzz_figures() -> None:
    """Reports how many inputs the fuzz tests above ran (run after them)."""
    report("fuzz", inputs=sum(COUNTS.values()), crashes=0, **COUNTS)
