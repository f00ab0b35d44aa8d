"""Former home of the process records; kept importable. They live in ``_types``."""

from __future__ import annotations

from ._types import (
    ListResult,
    ProcessInfo,
    ProcessLike,
    UniqueProcess,
    filetime_to_datetime,
    iter_items,
    to_unique_process,
)

__all__ = [
    "ListResult",
    "ProcessInfo",
    "ProcessLike",
    "UniqueProcess",
    "filetime_to_datetime",
    "iter_items",
    "to_unique_process",
]
