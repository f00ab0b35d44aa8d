"""The Restart Manager's enumerations, with the values the compiled module has.

:class:`AppType`, :class:`AppStatus`, :class:`RebootReason`,
:class:`ShutdownType`, :class:`FilterTrigger` and :class:`FilterAction`
(``enum.IntEnum`` and ``enum.IntFlag`` classes) are made on first use (PEP
562): `enum` and building its classes would be most of what ``from rstrtmgr
import Session`` costs, and only a list, a shutdown or a filter needs them.
The first three (what a list's records carry) are made together, and so are
the other three, which ``rstrtmgr list`` never needs.
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
    from types import ModuleType

    from ._enum_classes import AppStatus, AppType, RebootReason
    from ._enum_controls import FilterAction, FilterTrigger, ShutdownType

#: What a list's records carry: made together, the other three likewise.
_OF_A_LIST = ("AppStatus", "AppType", "RebootReason")


def __getattr__(name: str) -> object:
    """One of the enumerations, its group made on first use."""
    if name in __all__:
        made: ModuleType
        if name in _OF_A_LIST:
            from . import _enum_classes  # noqa: PLC0415

            made = _enum_classes
        else:
            from . import _enum_controls  # noqa: PLC0415

            made = _enum_controls
        for each in made.__all__:
            globals()[each] = getattr(made, each)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
