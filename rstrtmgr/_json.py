"""The records' JSON form, schema version 2 (docs/json-schema.md).

A name (a path, a program's name, an argument) that is not UTF-8 cannot be
JSON text as it is: its text shows each byte that does not decode as
U+FFFD, and a sibling field ``<name>_bytes`` holds the raw bytes in base64,
present only for such names. A real name with a backslash stays itself.
"""

from __future__ import annotations

import functools

from ._errors import RestartManagerError
from ._types import ListResult, ProcessInfo

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every command a few ms: for mypy only
    import enum
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "display",
    "error_json",
    "flag_names",
    "paths_json",
    "process_json",
    "result_json",
]

#: Changes only when a field is removed or changes meaning (2: names that
#: are not UTF-8 as U+FFFD text plus base64 bytes, no longer "\\xe9" text).
SCHEMA_VERSION = 2


def _raw(text: str) -> bytes | None:
    """The bytes of a name that is not UTF-8 (lone surrogates); None if it is."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # Windows: an unpaired UTF-16 surrogate
            return text.encode("utf-8", "surrogatepass")
    return None


def _text(text: str, raw: bytes | None) -> str:
    return text if raw is None else raw.decode("utf-8", "replace")


def _b64(raw: bytes) -> str:
    import base64  # noqa: PLC0415 - only for names that are not UTF-8

    return base64.b64encode(raw).decode("ascii")


def _name(out: dict[str, Any], key: str, text: str) -> None:
    """Set ``out[key]`` to the name's text, and ``key_bytes`` when not UTF-8."""
    raw = _raw(text)
    out[key] = _text(text, raw)
    if raw is not None:
        out[key + "_bytes"] = _b64(raw)


def _names(out: dict[str, Any], key: str, texts: Sequence[str] | None) -> None:
    """Names; ``key_bytes`` in parallel (null for UTF-8 ones) if any is not."""
    if texts is None:
        out[key] = None
        return
    raws = [_raw(t) for t in texts]
    out[key] = [_text(t, r) for t, r in zip(texts, raws, strict=True)]
    if any(r is not None for r in raws):
        out[key + "_bytes"] = [None if r is None else _b64(r) for r in raws]


def display(text: str) -> str:
    """Show a name that is not UTF-8 with its raw bytes escaped."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def flag_names(flags: enum.IntFlag) -> list[str]:
    """The lower-case names of the single-bit members set in ``flags``.

    From ``__members__`` in definition order, so that every Python version
    gives the same list (an IntFlag's str() and iteration differ).
    """
    return list(_flag_names(type(flags), int(flags)))


@functools.cache
def _flag_names(cls: type[enum.IntFlag], value: int) -> tuple[str, ...]:
    # A list's records mostly share a few values: each is worked out once.
    return tuple(
        name.lower()
        for name, member in cls.__members__.items()
        if int(member) and int(member) & (int(member) - 1) == 0 and value & int(member)
    )


def process_json(p: ProcessInfo) -> dict[str, Any]:
    """One process in the schema's form."""
    out: dict[str, Any] = {
        "pid": p.pid,
        "start_time": p.start_time.isoformat(),
        "start_filetime": p.start_filetime,
    }
    _name(out, "app_name", p.app_name)
    out.update(
        service_name=p.service_name,
        app_type=p.app_type.name.lower(),
        status=flag_names(p.status),
        ts_session_id=p.ts_session_id,
        restartable=p.restartable,
        restarted_pid=p.restarted_pid,
        uid=p.uid,
        user=p.user,
    )
    _names(out, "command_line", p.command_line)
    if p.files is None:
        out["files"] = None
    else:
        files = []
        for f in p.files:
            entry: dict[str, Any] = {}
            _name(entry, "path", f.path)
            entry["uses"] = list(f.uses)
            entry["deleted"] = f.deleted
            files.append(entry)
        out["files"] = files
    return out


def result_json(result: ListResult) -> dict[str, Any]:
    """A list result in the schema's form (``ListResult.as_json()``)."""
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "processes": [process_json(p) for p in result.processes],
        "reboot_reasons": flag_names(result.reboot_reasons),
        "uninspected": result.uninspected,
    }
    out.update(paths_json())
    return out


def paths_json(
    missing: Sequence[str] = (), denied: Sequence[str] = ()
) -> dict[str, Any]:
    """The result's ``missing`` and ``denied`` fields: what the CLI looked up."""
    out: dict[str, Any] = {}
    _names(out, "missing", list(missing))
    _names(out, "denied", list(denied))
    return out


def error_json(error: BaseException) -> dict[str, Any]:
    """An error as schema version 1 has it."""
    winerror = error.winerror if isinstance(error, RestartManagerError) else None
    errno = getattr(error, "errno", None)
    return {
        "schema_version": SCHEMA_VERSION,
        "error": {
            "type": type(error).__name__,
            "winerror": winerror,
            "errno": errno if isinstance(errno, int) else None,
            "message": str(error),
        },
    }
