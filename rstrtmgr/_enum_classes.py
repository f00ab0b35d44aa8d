"""The Restart Manager's enumerations, with the values the compiled module has.

The values come from ``lib`` (the SDK's headers on Windows, the project's
native/linux/restartmanager.h elsewhere), not typed here again. Imported by
``_enums`` on first use of one of them: `enum` and building these classes
are most of what the facade's import would cost. Each class says it is
``rstrtmgr._enums``', where it is found (and pickled from).
"""

from __future__ import annotations

import enum

from ._marshal import constant

__all__ = [
    "AppStatus",
    "AppType",
    "FilterAction",
    "FilterTrigger",
    "RebootReason",
    "ShutdownType",
]


class AppType(enum.IntEnum):
    """RM_APP_TYPE: what kind of application a process is."""

    __module__ = "rstrtmgr._enums"

    UNKNOWN = constant("RmUnknownApp")
    MAIN_WINDOW = constant("RmMainWindow")
    OTHER_WINDOW = constant("RmOtherWindow")
    SERVICE = constant("RmService")
    EXPLORER = constant("RmExplorer")
    CONSOLE = constant("RmConsole")
    CRITICAL = constant("RmCritical")


class ShutdownType(enum.IntFlag):
    """RM_SHUTDOWN_TYPE: flags of RmShutdown."""

    __module__ = "rstrtmgr._enums"

    FORCE = constant("RmForceShutdown")
    ONLY_REGISTERED = constant("RmShutdownOnlyRegistered")


class AppStatus(enum.IntFlag):
    """RM_APP_STATUS: the state of a listed process."""

    __module__ = "rstrtmgr._enums"

    UNKNOWN = constant("RmStatusUnknown")
    RUNNING = constant("RmStatusRunning")
    STOPPED = constant("RmStatusStopped")
    STOPPED_OTHER = constant("RmStatusStoppedOther")
    RESTARTED = constant("RmStatusRestarted")
    ERROR_ON_STOP = constant("RmStatusErrorOnStop")
    ERROR_ON_RESTART = constant("RmStatusErrorOnRestart")
    SHUTDOWN_MASKED = constant("RmStatusShutdownMasked")
    RESTART_MASKED = constant("RmStatusRestartMasked")


class RebootReason(enum.IntFlag):
    """RM_REBOOT_REASON: why replacing the files may need a reboot."""

    __module__ = "rstrtmgr._enums"

    NONE = constant("RmRebootReasonNone")
    PERMISSION_DENIED = constant("RmRebootReasonPermissionDenied")
    SESSION_MISMATCH = constant("RmRebootReasonSessionMismatch")
    CRITICAL_PROCESS = constant("RmRebootReasonCriticalProcess")
    CRITICAL_SERVICE = constant("RmRebootReasonCriticalService")
    DETECTED_SELF = constant("RmRebootReasonDetectedSelf")


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
