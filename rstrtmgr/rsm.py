"""Removable Storage Manager sessions (ntmsapi.h), where RSM exists.

RSM was removed in Windows 7 and Windows Server 2008 R2 and never existed
elsewhere; there :func:`open_session` raises :class:`RsmUnavailableError`.
Arguments are checked here, before any call, identically on every platform.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import sys
from typing import Any, NoReturn

from . import _marshal
from ._closing import Closing
from ._errors import RestartManagerError

__all__ = [
    "InvalidComputerNameError",
    "InvalidParameterError",
    "NoInterfacesError",
    "NoNetworkError",
    "NotConnectedError",
    "NotReadyError",
    "RsmError",
    "RsmSession",
    "RsmUnavailableError",
    "is_valid_computer_name",
    "open_session",
]

ERROR_MOD_NOT_FOUND = 126
ERROR_PROC_NOT_FOUND = 127


class RsmError(RestartManagerError):
    """A Removable Storage Manager call failed; ``winerror`` says why."""

    summary = "the Removable Storage Manager call failed"


class RsmUnavailableError(RsmError):
    """RSM does not exist on this system (ntmsapi.dll cannot be loaded)."""

    code = ERROR_MOD_NOT_FOUND
    errno_value = errno.ENOSYS
    summary = "the Removable Storage Manager (RSM) is not available on this system"
    remedy = (
        "RSM was removed in Windows 7 and Windows Server 2008 R2 and never "
        "existed outside Windows; use the Windows storage APIs instead"
    )


class InvalidComputerNameError(RsmError, ValueError):
    """ERROR_INVALID_COMPUTERNAME (1210): the server name is malformed."""

    code = 1210
    errno_value = errno.EINVAL
    summary = "the server name is not a valid computer name"
    remedy = (
        'give a NetBIOS name (1-15 characters, none of \\/:*?"<>|), a DNS '
        "name (labels of 1-63 letters, digits or inner hyphens; 253 characters "
        "at most), an IP address, or None for this computer"
    )


class InvalidParameterError(RsmError, ValueError):
    """ERROR_INVALID_PARAMETER (87): options other than 0, or a bad argument."""

    code = 87
    errno_value = errno.EINVAL
    summary = "an argument is invalid"
    remedy = "options must be 0; names must not contain NUL characters"


class NoNetworkError(RsmError):
    """ERROR_NO_NETWORK (1222): the network is not present or not started."""

    code = 1222
    errno_value = errno.ENETDOWN
    summary = "the network is not present or not started"
    remedy = "check the network connection, or open a session on this computer"


class NotConnectedError(RsmError):
    """ERROR_NOT_CONNECTED (2250): the RSM server could not be reached."""

    code = 2250
    errno_value = errno.ENOTCONN
    summary = "the Removable Storage Manager server could not be reached"
    remedy = "check the server name and that the Removable Storage service runs there"


class NotReadyError(RsmError):
    """ERROR_NOT_READY (21): the Removable Storage service is starting."""

    code = 21
    errno_value = errno.EAGAIN
    summary = "the Removable Storage service is still starting"
    remedy = "wait a few seconds and retry"


class NoInterfacesError(RsmError):
    """RPC_S_NO_INTERFACES (1817): the RSM server's RPC interfaces are absent."""

    code = 1817
    errno_value = errno.ECONNREFUSED
    summary = "the Removable Storage service has not registered its RPC interfaces"
    remedy = "start the Removable Storage service on the server, then retry"


_BY_CODE: dict[int, type[RsmError]] = {
    cls.code: cls
    for cls in (
        RsmUnavailableError,
        InvalidComputerNameError,
        InvalidParameterError,
        NoNetworkError,
        NotConnectedError,
        NotReadyError,
        NoInterfacesError,
    )
}
_BY_CODE[ERROR_PROC_NOT_FOUND] = RsmUnavailableError  # ntmsapi.dll without RSM


def _unavailable_reason(code: int) -> str:
    """Why ntmsapi.dll could not be used here, for RsmUnavailableError."""
    if sys.platform != "win32":
        return f"RSM is a Windows service; {sys.platform} has no ntmsapi.dll"
    if _marshal.is_wine():
        return "Wine has no ntmsapi.dll"
    if code == ERROR_PROC_NOT_FOUND:
        return "System32's ntmsapi.dll lacks the RSM session functions"
    return "ntmsapi.dll is not in System32"


def _error(code: int, call: str) -> RsmError:
    cls = _BY_CODE.get(code, RsmError)
    what = cls.summary
    if cls is RsmUnavailableError:
        what = f"{what}: {_unavailable_reason(code)} (error {code})"
    elif cls is RsmError:
        what = f"{what} (error {code})"
    return cls(code, f"{call}: {cls.describe(what)}")


def _raise(cls: type[RsmError], call: str, detail: str) -> NoReturn:
    raise cls(cls.code, f"{call}: {cls.describe(detail)}")


# NetBIOS names: 1-15 characters, none of these (Microsoft's naming rules).
_NETBIOS_FORBIDDEN = frozenset('\\/:*?"<>|')
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def _is_netbios_name(name: str) -> bool:
    return (
        1 <= len(name) <= 15
        and name.isascii()
        and name.isprintable()
        and " " not in name
        and not name.startswith(".")
        and not name.isdigit()  # an all-digit name reads as an IPv4 number
        and _NETBIOS_FORBIDDEN.isdisjoint(name)
    )


def _is_dns_name(name: str) -> bool:
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    return (
        len(name.rstrip(".")) <= 253
        and all(_DNS_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()  # RFC 3696: a top-level label has a letter
    )


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_valid_computer_name(name: str) -> bool:
    """Whether ``name`` is a NetBIOS name, a DNS host name or an IP address."""
    return _is_netbios_name(name) or _is_dns_name(name) or _is_ip_address(name)


class RsmSession(Closing):
    """An open RSM session; closes itself at the end of a ``with`` block.

    A session belongs to the process that opened it: it cannot be pickled or
    passed to another process.
    """

    _handle: Any  # cdata HANDLE, or None once closed

    def __init__(self, handle: Any) -> None:
        """Take ownership of ``handle``, a HANDLE from OpenNtmsSession."""
        self._handle = handle

    @property
    def handle(self) -> Any:
        """The session's HANDLE (cdata), or None once closed."""
        return self._handle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._handle is None

    def close(self) -> None:
        """End the session (CloseNtmsSession); later calls do nothing.

        The handle is given up even when CloseNtmsSession reports an error:
        it is not valid to close it a second time.
        """
        handle, self._handle = self._handle, None
        if handle is None:
            return
        code = _marshal.close_ntms_session(handle)
        if code != 0:
            raise _error(code, "CloseNtmsSession")

    def __reduce__(self) -> NoReturn:
        """Refuse to pickle: the handle means nothing in another process."""
        raise TypeError("an RSM session belongs to the process that opened it")

    def __repr__(self) -> str:
        """Whether the session is open, and its handle."""
        state = "closed" if self.closed else f"handle={self._handle!r}"
        return f"<RsmSession {state}>"


def _text(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")


def open_session(
    server: str | None = None, application: str | None = None, options: int = 0
) -> RsmSession:
    """Open an RSM session on ``server`` (None: this computer) for ``application``.

    Raises :class:`RsmUnavailableError` where RSM does not exist (Windows 7
    and later, Wine, Linux), and one :class:`RsmError` subclass per documented
    error of OpenNtmsSession otherwise.
    """
    call = "OpenNtmsSession"
    server = _text(server, "server")
    application = _text(application, "application")
    if isinstance(options, bool) or not isinstance(options, int):
        raise TypeError(f"options must be an int, not {type(options).__name__}")
    if options != 0:
        _raise(InvalidParameterError, call, f"options must be 0, not {options!r}")
    if server is not None and not is_valid_computer_name(server):
        _raise(InvalidComputerNameError, call, f"{server!r} is not a computer name")
    if application is not None and "\0" in application:
        _raise(InvalidParameterError, call, "the application name contains NUL")
    handle, error = _marshal.open_ntms_session(server, application, options)
    if handle is None:
        raise _error(error, call)
    return RsmSession(handle)
