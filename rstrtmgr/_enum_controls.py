"""The enumerations of a shutdown's flags and of filters, as ``_enum_classes``'.

Made by ``_enums`` on first use of one of them, apart from those a list's
records carry (``_enum_classes``): ``rstrtmgr list`` builds none of these.
Each class says it is ``rstrtmgr._enums``', where it is found (and pickled
from).
"""

from __future__ import annotations

import enum

from ._marshal import constant

__all__ = ["FilterAction", "FilterTrigger", "ShutdownType"]


class ShutdownType(enum.IntFlag):
    """RM_SHUTDOWN_TYPE: flags of RmShutdown."""

    __module__ = "rstrtmgr._enums"

    FORCE = constant("RmForceShutdown")
    ONLY_REGISTERED = constant("RmShutdownOnlyRegistered")


class FilterTrigger(enum.IntEnum):
    """RM_FILTER_TRIGGER: what a filter applies to."""

    __module__ = "rstrtmgr._enums"

    INVALID = constant("RmFilterTriggerInvalid")
    FILE = constant("RmFilterTriggerFile")
    PROCESS = constant("RmFilterTriggerProcess")
    SERVICE = constant("RmFilterTriggerService")


class FilterAction(enum.IntEnum):
    """RM_FILTER_ACTION: what a filter prevents."""

    __module__ = "rstrtmgr._enums"

    INVALID = constant("RmInvalidFilterAction")
    NO_RESTART = constant("RmNoRestart")
    NO_SHUTDOWN = constant("RmNoShutdown")
