"""RSM sessions: argument checks everywhere, the RSM-unavailable path for real."""

from __future__ import annotations

import errno
import os
import pickle
import sys
from pathlib import Path

import pytest

import rstrtmgr
from rstrtmgr import rsm
from rstrtmgr._rstrtmgr import ffi, lib

WINDOWS = sys.platform == "win32"
WINE = WINDOWS and bool(lib.rstrtmgr_is_wine())


def ntmsapi_present() -> bool:
    """Whether this Windows still has RSM (before Windows 7 / 2008 R2)."""
    system32 = Path(os.environ.get("SYSTEMROOT", r"C:\Windows"), "System32")
    return WINDOWS and (system32 / "ntmsapi.dll").exists()


needs_no_rsm = pytest.mark.skipif(
    ntmsapi_present(),
    reason="this Windows has ntmsapi.dll: RSM is available here",
)


def last_error() -> int:
    return int(ffi.getwinerror()[0]) if WINDOWS else int(ffi.errno)


# --- the raw layer --------------------------------------------------------


@needs_no_rsm
@pytest.mark.parametrize(
    ("function", "text"),
    [
        ("OpenNtmsSessionW", lambda s: s),
        ("OpenNtmsSessionA", lambda s: s.encode()),
    ],
)
def test_raw_open_fails_with_mod_not_found(function, text) -> None:
    open_session = getattr(lib, function)
    for server, application in [(ffi.NULL, ffi.NULL), (text("srv"), text("app"))]:
        ffi.errno = 0  # Linux: the C call starts from 0, so 126 is its own
        handle = open_session(server, application, 0)
        assert handle == lib.INVALID_HANDLE_VALUE
        assert last_error() == 126  # ERROR_MOD_NOT_FOUND, from LoadLibraryExW


@needs_no_rsm
def test_raw_error_survives_later_calls() -> None:
    # The load is attempted once; later calls must still report why.
    for _ in range(3):
        # another C call in between (on Windows it leaves 127 behind)
        assert lib.rstrtmgr_is_wine() in (0, 1)
        handle = lib.OpenNtmsSessionW(ffi.NULL, ffi.NULL, 0)
        assert handle == lib.INVALID_HANDLE_VALUE
        assert last_error() == 126


@needs_no_rsm
def test_raw_close_returns_mod_not_found() -> None:
    assert lib.CloseNtmsSession(lib.INVALID_HANDLE_VALUE) == 126


def test_invalid_handle_value_is_all_ones() -> None:
    assert ffi.cast("HANDLE", -1) == lib.INVALID_HANDLE_VALUE
    assert (
        int(ffi.cast("uintptr_t", lib.INVALID_HANDLE_VALUE))
        == 2 ** (8 * ffi.sizeof("void *")) - 1
    )


# --- open_session where RSM is unavailable --------------------------------


@needs_no_rsm
@pytest.mark.parametrize(
    ("server", "application"),
    [(None, None), ("SERVER1", "backup"), ("rsm.example.com", None)],
)
def test_open_session_unavailable(server: str | None, application: str | None) -> None:
    with pytest.raises(rsm.RsmUnavailableError) as caught:
        rsm.open_session(server, application)
    error = caught.value
    assert isinstance(error, rsm.RsmError)
    assert isinstance(error, rstrtmgr.RestartManagerError)
    assert isinstance(error, OSError)
    assert error.winerror == 126
    if not WINDOWS:  # there OSError derives errno from winerror itself
        assert error.errno == errno.ENOSYS
    message = str(error)
    assert "not available on this system" in message
    assert "Windows 7" in message
    expected_reason = {
        (True, True): "Wine has no ntmsapi.dll",
        (True, False): "ntmsapi.dll is not in System32",
        (False, False): "has no ntmsapi.dll",
    }[(WINDOWS, WINE)]
    assert expected_reason in message


# --- argument checks, before any call, on every platform ------------------

GOOD_NAMES = [
    "SERVER1",
    "a",
    "x" * 15,
    "back-up_01",  # NetBIOS allows what DNS does not
    "host.example.com",
    "host.example.com.",
    "a-b.c-d.example",
    ".".join(["l" * 63] * 3) + ".com",  # 199 characters
    "192.168.1.10",
    "::1",
    "256.1.1.1",  # no IP address, but NetBIOS names may contain dots
    "fe80::1",
]

BAD_NAMES = [
    "",
    "bad|name",
    "a\\b",
    "a/b",
    "a:b",
    "a*",
    "a?",
    'a"b',
    "a<b",
    "a>b",
    "with space",
    "\tab",
    "nul\0in",
    ".leading",
    "12345",  # all digits: NetBIOS forbids it, and it is no IP address
    "under_score_too_long",  # 20 characters: not NetBIOS; "_" is not DNS
    "-start.example.com",
    "end-.example.com",
    "a..b.example.com",
    "l" * 64 + ".com",  # a DNS label is at most 63 characters
    ".".join(["l" * 63] * 4) + ".com",  # 259 characters
    "host.example.123",  # the top-level label must not be all digits
    "caf\u00e9.example.com",
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_computer_names_pass(name: str) -> None:
    assert rsm.is_valid_computer_name(name)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_computer_names(name: str) -> None:
    assert not rsm.is_valid_computer_name(name)
    # 1210 rather than the 126 that the call gives here: checked first
    with pytest.raises(rsm.InvalidComputerNameError) as caught:
        rsm.open_session(name, "app")
    assert caught.value.winerror == 1210
    assert isinstance(caught.value, ValueError)
    assert repr(name) in str(caught.value)


@needs_no_rsm
@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_reach_the_call(name: str) -> None:
    with pytest.raises(rsm.RsmUnavailableError):
        rsm.open_session(name)


@pytest.mark.parametrize("options", [1, 2, -1, 0x80000000])
def test_options_must_be_zero(options: int) -> None:
    with pytest.raises(rsm.InvalidParameterError) as caught:
        rsm.open_session(None, "app", options)
    assert caught.value.winerror == 87
    assert "options must be 0" in str(caught.value)


def test_options_checked_before_server() -> None:
    with pytest.raises(rsm.InvalidParameterError):
        rsm.open_session("bad|name", None, 1)


def test_application_with_nul_is_invalid() -> None:
    with pytest.raises(rsm.InvalidParameterError) as caught:
        rsm.open_session(None, "app\0x")
    assert caught.value.winerror == 87


@pytest.mark.parametrize(
    "kwargs",
    [{"server": b"SERVER"}, {"application": 5}, {"options": "0"}, {"options": False}],
)
def test_wrong_types(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        rsm.open_session(**kwargs)  # type: ignore[arg-type]


# --- the documented errors ------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls", "words"),
    [
        (1210, rsm.InvalidComputerNameError, "computer name"),
        (87, rsm.InvalidParameterError, "invalid"),
        (1222, rsm.NoNetworkError, "network"),
        (2250, rsm.NotConnectedError, "could not be reached"),
        (21, rsm.NotReadyError, "wait a few seconds and retry"),
        (1817, rsm.NoInterfacesError, "RPC interfaces"),
        (126, rsm.RsmUnavailableError, "not available on this system"),
        (127, rsm.RsmUnavailableError, "not available on this system"),
        (5, rsm.RsmError, "(error 5)"),
    ],
)
def test_each_error_code_has_its_exception(code: int, cls: type, words: str) -> None:
    error = rsm._error(code, "OpenNtmsSession")
    assert type(error) is cls
    assert error.winerror == code
    assert isinstance(error, rstrtmgr.RestartManagerError)
    assert words in str(error)
    assert str(error).startswith(f"[WinError {code}] OpenNtmsSession: ")
    assert pickle.loads(pickle.dumps(error)).winerror == code


# --- RsmSession -----------------------------------------------------------


@needs_no_rsm
def test_close_gives_up_the_handle_once() -> None:
    # CloseNtmsSession is called for real; without RSM it reports 126 once,
    # and the handle is never closed a second time.
    session = rsm.RsmSession(lib.INVALID_HANDLE_VALUE)
    assert not session.closed
    with pytest.raises(rsm.RsmUnavailableError):
        session.close()
    assert session.closed
    assert session.handle is None
    session.close()
    assert "closed" in repr(session)


@needs_no_rsm
def test_context_manager_closes() -> None:
    with (
        pytest.raises(rsm.RsmUnavailableError),
        rsm.RsmSession(lib.INVALID_HANDLE_VALUE) as session,
    ):
        assert not session.closed
    assert session.closed


def test_session_cannot_be_pickled() -> None:
    session = rsm.RsmSession(lib.INVALID_HANDLE_VALUE)
    try:
        with pytest.raises(TypeError, match="process that opened it"):
            pickle.dumps(session)
    finally:
        session._handle = None  # never opened: nothing to close
