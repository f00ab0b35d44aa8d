"""The Restart Manager's enumerations, with the values the compiled module has.

:class:`AppType`, :class:`AppStatus`, :class:`RebootReason`,
:class:`ShutdownType`, :class:`FilterTrigger` and :class:`FilterAction`
(``enum.IntEnum`` and ``enum.IntFlag`` classes) are made on the first use of
any of them (PEP 562): `enum` and building its classes would be most of what
``from rstrtmgr import Session`` costs, and only a list, a shutdown or a
filter needs them.
"""

from __future__ import annotations

__all__ = [
    "AppStatus",
    "AppType",
    "FilterAction",
    "FilterTrigger",
    "RebootReason",
    "ShutdownType",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._enum_classes import (
        AppStatus,
        AppType,
        FilterAction,
        FilterTrigger,
        RebootReason,
        ShutdownType,
    )


def __getattr__(name: str) -> object:
    """One of the enumerations, all of them made on first use."""
    if name in __all__:
        from . import _enum_classes  # noqa: PLC0415

        for each in __all__:
            globals()[each] = getattr(_enum_classes, each)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
