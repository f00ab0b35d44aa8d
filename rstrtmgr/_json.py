"""The CLI's JSON output, schema version 1 (docs/json-schema.md)."""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence

from ._errors import RestartManagerError
from ._types import ListResult, ProcessInfo

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every command a few ms: for mypy only
    from typing import Any

__all__ = ["SCHEMA_VERSION", "display", "error_json", "flag_names", "result_json"]

#: Changes only when a field is removed or changes meaning.
SCHEMA_VERSION = 1


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
    """One process as schema version 1 has it."""
    return {
        "pid": p.pid,
        "start_time": p.start_time.isoformat(),
        "start_filetime": p.start_filetime,
        "app_name": display(p.app_name),
        "service_name": p.service_name,
        "app_type": p.app_type.name.lower(),
        "status": flag_names(p.status),
        "ts_session_id": p.ts_session_id,
        "restartable": p.restartable,
        "uid": p.uid,
        "user": p.user,
        "command_line": (
            None if p.command_line is None else [display(a) for a in p.command_line]
        ),
        "files": (
            None
            if p.files is None
            else [
                {"path": display(f.path), "uses": list(f.uses), "deleted": f.deleted}
                for f in p.files
            ]
        ),
    }


def result_json(
    result: ListResult, missing: Sequence[str] = (), denied: Sequence[str] = ()
) -> dict[str, Any]:
    """A list result as the schema has it."""
    return {
        "schema_version": SCHEMA_VERSION,
        "processes": [process_json(p) for p in result.processes],
        "reboot_reasons": flag_names(result.reboot_reasons),
        "uninspected": result.uninspected,
        "missing": [display(m) for m in missing],
        "denied": [display(d) for d in denied],
    }


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
