"""The Restart Manager's enumerations, with the SDK's values."""

from __future__ import annotations

import enum

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

    UNKNOWN = 0
    MAIN_WINDOW = 1
    OTHER_WINDOW = 2
    SERVICE = 3
    EXPLORER = 4
    CONSOLE = 5
    CRITICAL = 1000


class ShutdownType(enum.IntFlag):
    """RM_SHUTDOWN_TYPE: flags of RmShutdown."""

    FORCE = 0x1
    ONLY_REGISTERED = 0x10


class AppStatus(enum.IntFlag):
    """RM_APP_STATUS: the state of a listed process."""

    UNKNOWN = 0x0
    RUNNING = 0x1
    STOPPED = 0x2
    STOPPED_OTHER = 0x4
    RESTARTED = 0x8
    ERROR_ON_STOP = 0x10
    ERROR_ON_RESTART = 0x20
    SHUTDOWN_MASKED = 0x40
    RESTART_MASKED = 0x80


class RebootReason(enum.IntFlag):
    """RM_REBOOT_REASON: why replacing the files may need a reboot."""

    NONE = 0x0
    PERMISSION_DENIED = 0x1
    SESSION_MISMATCH = 0x2
    CRITICAL_PROCESS = 0x4
    CRITICAL_SERVICE = 0x8
    DETECTED_SELF = 0x10


class FilterTrigger(enum.IntEnum):
    """RM_FILTER_TRIGGER: what a filter applies to."""

    INVALID = 0
    FILE = 1
    PROCESS = 2
    SERVICE = 3


class FilterAction(enum.IntEnum):
    """RM_FILTER_ACTION: what a filter prevents."""

    INVALID = 0
    NO_RESTART = 1
    NO_SHUTDOWN = 2
