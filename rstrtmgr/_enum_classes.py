"""The Restart Manager's enumerations, with the values the compiled module has.

The values come from ``lib`` (the SDK's headers on Windows, the project's
native/linux/restartmanager.h elsewhere), not typed here again. Imported by
``_enums`` on first use of one of them: `enum` and building these classes
are most of what the facade's import would cost. These three are what a
list's records carry; a shutdown's flags and the filters' are in
``_enum_controls``, made only where they are used. Each class says it is
``rstrtmgr._enums``', where it is found (and pickled from).
"""

from __future__ import annotations

import enum

from ._marshal import constant

__all__ = ["AppStatus", "AppType", "RebootReason"]


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
