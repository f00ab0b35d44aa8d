"""Builds `rstrtmgr._rstrtmgr` (cffi API mode) from one cdef for every platform."""

from __future__ import annotations

import os
import sys
from typing import Any

from cffi import FFI

NATIVE = "native"  # relative: setuptools wants sources relative to setup.py

# The SDK's names and types (restartmanager.h, ntmsapi.h). Integer typedefs are
# "int..." so that cffi takes the real type from the C headers: DWORD is
# unsigned long on Windows and uint32_t in native/linux/restartmanager.h, and the
# generated wrappers must use the very same type to compile warning-free.
CDEF_SDK = """
typedef int... DWORD;
typedef int... UINT;
typedef int... ULONG;
typedef int... BOOL;
typedef char16_t WCHAR;
typedef WCHAR *LPWSTR;
typedef const WCHAR *LPCWSTR;
typedef const char *LPCSTR;
typedef DWORD *LPDWORD;
typedef unsigned char BYTE;
typedef BYTE *PBYTE;
typedef void *HANDLE;

typedef struct _FILETIME {
    DWORD dwLowDateTime;
    DWORD dwHighDateTime;
} FILETIME;

#define RM_SESSION_KEY_LEN 16
#define CCH_RM_SESSION_KEY 32
#define CCH_RM_MAX_APP_NAME 255
#define CCH_RM_MAX_SVC_NAME 63
#define RM_INVALID_TS_SESSION -1
#define RM_INVALID_PROCESS -1

typedef enum _RM_APP_TYPE {
    RmUnknownApp = 0,
    RmMainWindow = 1,
    RmOtherWindow = 2,
    RmService = 3,
    RmExplorer = 4,
    RmConsole = 5,
    RmCritical = 1000
} RM_APP_TYPE;

typedef enum _RM_SHUTDOWN_TYPE {
    RmForceShutdown = 0x1,
    RmShutdownOnlyRegistered = 0x10
} RM_SHUTDOWN_TYPE;

typedef enum _RM_APP_STATUS {
    RmStatusUnknown = 0x0,
    RmStatusRunning = 0x1,
    RmStatusStopped = 0x2,
    RmStatusStoppedOther = 0x4,
    RmStatusRestarted = 0x8,
    RmStatusErrorOnStop = 0x10,
    RmStatusErrorOnRestart = 0x20,
    RmStatusShutdownMasked = 0x40,
    RmStatusRestartMasked = 0x80
} RM_APP_STATUS;

typedef enum _RM_REBOOT_REASON {
    RmRebootReasonNone = 0x0,
    RmRebootReasonPermissionDenied = 0x1,
    RmRebootReasonSessionMismatch = 0x2,
    RmRebootReasonCriticalProcess = 0x4,
    RmRebootReasonCriticalService = 0x8,
    RmRebootReasonDetectedSelf = 0x10
} RM_REBOOT_REASON;

typedef struct _RM_UNIQUE_PROCESS {
    DWORD dwProcessId;
    FILETIME ProcessStartTime;
} RM_UNIQUE_PROCESS, *PRM_UNIQUE_PROCESS;

typedef struct _RM_PROCESS_INFO {
    RM_UNIQUE_PROCESS Process;
    WCHAR strAppName[256];
    WCHAR strServiceShortName[64];
    RM_APP_TYPE ApplicationType;
    ULONG AppStatus;
    DWORD TSSessionId;
    BOOL bRestartable;
} RM_PROCESS_INFO, *PRM_PROCESS_INFO;

typedef enum _RM_FILTER_TRIGGER {
    RmFilterTriggerInvalid = 0,
    RmFilterTriggerFile = 1,
    RmFilterTriggerProcess = 2,
    RmFilterTriggerService = 3
} RM_FILTER_TRIGGER;

typedef enum _RM_FILTER_ACTION {
    RmInvalidFilterAction = 0,
    RmNoRestart = 1,
    RmNoShutdown = 2
} RM_FILTER_ACTION;

typedef struct _RM_FILTER_INFO {
    RM_FILTER_ACTION FilterAction;
    RM_FILTER_TRIGGER FilterTrigger;
    DWORD cbNextOffset;
    union {
        LPWSTR strFilename;
        RM_UNIQUE_PROCESS Process;
        LPWSTR strServiceShortName;
    };
} RM_FILTER_INFO, *PRM_FILTER_INFO;

typedef void (*RM_WRITE_STATUS_CALLBACK)(UINT nPercentComplete);

DWORD WINAPI RmStartSession(DWORD *pSessionHandle, DWORD dwSessionFlags,
                            WCHAR strSessionKey[]);
DWORD WINAPI RmJoinSession(DWORD *pSessionHandle, const WCHAR strSessionKey[]);
DWORD WINAPI RmEndSession(DWORD dwSessionHandle);
DWORD WINAPI RmRegisterResources(DWORD dwSessionHandle, UINT nFiles,
                                 LPCWSTR rgsFileNames[], UINT nApplications,
                                 RM_UNIQUE_PROCESS rgApplications[],
                                 UINT nServices, LPCWSTR rgsServiceNames[]);
DWORD WINAPI RmGetList(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                       UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                       LPDWORD lpdwRebootReasons);
DWORD WINAPI RmShutdown(DWORD dwSessionHandle, ULONG lActionFlags,
                        RM_WRITE_STATUS_CALLBACK fnStatus);
DWORD WINAPI RmRestart(DWORD dwSessionHandle, DWORD dwRestartFlags,
                       RM_WRITE_STATUS_CALLBACK fnStatus);
DWORD WINAPI RmCancelCurrentTask(DWORD dwSessionHandle);
DWORD WINAPI RmAddFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                         RM_UNIQUE_PROCESS *pProcess,
                         LPCWSTR strServiceShortName,
                         RM_FILTER_ACTION FilterAction);
DWORD WINAPI RmRemoveFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                            RM_UNIQUE_PROCESS *pProcess,
                            LPCWSTR strServiceShortName);
DWORD WINAPI RmGetFilterList(DWORD dwSessionHandle, PBYTE pbFilterBuf,
                             DWORD cbFilterBuf, LPDWORD cbFilterBufNeeded);

HANDLE WINAPI OpenNtmsSessionW(LPCWSTR lpServer, LPCWSTR lpApplication,
                               DWORD dwOptions);
HANDLE WINAPI OpenNtmsSessionA(LPCSTR lpServer, LPCSTR lpApplication,
                               DWORD dwOptions);
DWORD WINAPI CloseNtmsSession(HANDLE hSession);
/* What OpenNtmsSession returns on failure, as the C headers define it. */
static HANDLE const INVALID_HANDLE_VALUE;
"""

# The project's own additions, one prefix, the same on every platform
# (native/rstrtmgr_ext.h); none of them is needed to use the SDK calls above.
CDEF_EXT = """
#define RSTRTMGR_NO_SESSION 0xFFFFFFFF
size_t rstrtmgr_error_detail(char *buf, size_t size);
int rstrtmgr_is_wine(void);
UINT rstrtmgr_last_uninspected(void);
DWORD rstrtmgr_process_start_time(DWORD dwProcessId, FILETIME *pStartTime);
DWORD rstrtmgr_set_shutdown_timeouts(DWORD dwSessionHandle, DWORD dwAppMs,
                                     DWORD dwServiceMs);
DWORD rstrtmgr_register_restart(const char *const *argv, UINT argc,
                                const char *cwd, const char *const *envp,
                                UINT envc);
DWORD rstrtmgr_unregister_restart(void);
DWORD rstrtmgr_shutdown_list(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                             UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                             LPDWORD lpdwRebootReasons);

#define RSTRTMGR_TREE_ONE_FILE_SYSTEM 0x1
DWORD rstrtmgr_register_tree(DWORD dwSessionHandle, LPCWSTR root,
                             const LPCWSTR *includes, UINT nIncludes,
                             const LPCWSTR *excludes, UINT nExcludes,
                             DWORD flags);
DWORD rstrtmgr_register_stale(DWORD dwSessionHandle, const LPCWSTR *paths,
                              UINT nPaths);
DWORD rstrtmgr_register_files(DWORD dwSessionHandle, const char *paths,
                              size_t cbPaths, UINT nFiles);
#define RSTRTMGR_USES_FD 0x1
#define RSTRTMGR_USES_MAPPING 0x2
#define RSTRTMGR_USES_EXE 0x4
#define RSTRTMGR_USES_CWD 0x8
#define RSTRTMGR_USES_DELETED 0x100
void rstrtmgr_set_list_details(BOOL bDetails);
void rstrtmgr_set_list_uids(BOOL bUids);
DWORD rstrtmgr_last_list_process(UINT iEntry, DWORD *pdwUid, WCHAR *cmdline,
                                 UINT cchCmdline, UINT *pcchNeeded,
                                 UINT *pnFiles);
DWORD rstrtmgr_last_list_file(UINT iEntry, UINT iFile, DWORD *pdwUses,
                              WCHAR *path, UINT cchPath, UINT *pcchNeeded);
DWORD rstrtmgr_process_identity(const RM_UNIQUE_PROCESS *pProcess,
                                WCHAR *user, UINT cchUser,
                                UINT *pcchUserNeeded, WCHAR *cmdline,
                                UINT cchCmdline, UINT *pcchCmdlineNeeded);

extern "Python" void _rstrtmgr_progress(UINT);

DWORD rstrtmgr_set_restart_settle_time(DWORD dwSessionHandle, DWORD dwSettleMs);
#define RSTRTMGR_RESTART_RUNNING 1
#define RSTRTMGR_RESTART_EXITED 2
#define RSTRTMGR_RESTART_KILLED 3
#define RSTRTMGR_RESTART_NOT_STARTED 4
#define RSTRTMGR_OUTPUT_TAIL_MAX 4096
typedef struct RSTRTMGR_RESTART_OUTCOME {
    RM_UNIQUE_PROCESS Process;
    RM_UNIQUE_PROCESS NewProcess;
    DWORD dwResult;
    DWORD dwCode;
    DWORD dwSettleMs;
    DWORD cbOutput;
} RSTRTMGR_RESTART_OUTCOME;
DWORD rstrtmgr_restart_outcome(DWORD dwSessionHandle,
                               const RM_UNIQUE_PROCESS *pProcess,
                               RSTRTMGR_RESTART_OUTCOME *pOutcome,
                               char *pOutput, DWORD cbOutput);

DWORD rstrtmgr_register_restart_bootloader(const char *const *argv,
                                           UINT argc, const char *cwd,
                                           const char *const *envp, UINT envc);
DWORD rstrtmgr_register_launch(const char *const *argv, UINT argc,
                               const char *cwd, const char *const *envp,
                               UINT envc);
"""

CDEF = CDEF_SDK + CDEF_EXT

LINUX_SOURCES = [
    "native/linux/util.c",
    "native/linux/detail.c",
    "native/linux/procid.c",
    "native/linux/text.c",
    "native/linux/store.c",
    "native/linux/registered.c",
    "native/linux/regcache.c",
    "native/linux/procdirs.c",
    "native/linux/session.c",
    "native/linux/resources.c",
    "native/linux/tree.c",
    "native/linux/stale.c",
    "native/linux/filters.c",
    "native/linux/owner.c",
    "native/linux/restartreg.c",
    "native/linux/unit.c",
    "native/linux/appname.c",
    "native/linux/usage.c",
    "native/linux/holder.c",
    "native/linux/match.c",
    "native/linux/maps.c",
    "native/linux/threads.c",
    "native/linux/scan.c",
    "native/linux/outcome.c",
    "native/linux/getlist.c",
    "native/linux/shutdownlist.c",
    "native/linux/task.c",
    "native/linux/shutdown.c",
    "native/linux/launch.c",
    "native/linux/restartlog.c",
    "native/linux/restart.c",
    "native/linux/unsupported.c",
]
WINDOWS_SOURCES = [
    "native/windows/ext.c",
    "native/windows/procid.c",
    "native/windows/restart.c",
    "native/windows/rsm.c",
    "native/windows/unsupported.c",
    "native/windows/whouses.c",
]

SOURCE = '#include "rstrtmgr_ext.h"\n'


def _strip_debug_info() -> list[str]:
    """The link flag that leaves debug information out of the module.

    Python's own CFLAGS carry -g, which makes the module three times its
    size; the symbol table stays, for backtraces. A build that asks for debug
    information itself (CFLAGS with -g, or a sanitizer's) keeps it.
    """
    flags = os.environ.get("CFLAGS", "").split()
    if any(f.startswith(("-g", "-fsanitize")) for f in flags):
        return []
    return ["-Wl,--strip-debug"]


def source_options(platform: str) -> dict[str, Any]:
    """set_source's keyword arguments for a ``sys.platform`` value.

    A function of the platform, not of the running interpreter, so that the
    Windows build can be cross-compiled and checked from Linux
    (tools/windows_lane.sh).
    """
    if platform == "win32":
        return {
            "sources": WINDOWS_SOURCES,
            "include_dirs": [NATIVE],
            "libraries": ["rstrtmgr", "kernel32"],
            "define_macros": [("UNICODE", "1"), ("_UNICODE", "1")],
        }
    if platform.startswith("linux"):
        return {
            "sources": LINUX_SOURCES,
            # rstrtmgr_ext.h, then the Linux restartmanager.h it includes
            "include_dirs": [NATIVE, f"{NATIVE}/linux"],
            "define_macros": [("_GNU_SOURCE", "1")],
            "extra_compile_args": ["-std=gnu11", "-fvisibility=hidden", "-pthread"],
            # scan.c's threads; glibc before 2.34 needs libpthread
            "extra_link_args": ["-pthread", *_strip_debug_info()],
        }
    # no backend yet: macOS is planned through libproc
    raise RuntimeError(f"rstrtmgr has no backend for {platform!r} yet")


def configure(builder: FFI, platform: str) -> None:
    """Declare the cdef and the sources of ``rstrtmgr._rstrtmgr`` for platform."""
    builder.cdef(CDEF)
    builder.set_source("rstrtmgr._rstrtmgr", SOURCE, **source_options(platform))


ffibuilder = FFI()
configure(ffibuilder, sys.platform)
