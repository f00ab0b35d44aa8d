/* restartmanager.h for Linux: the Windows SDK's declarations with the SDK's
 * layouts (WCHAR is UTF-16, DWORD 32 bits), implemented by native/linux/. */
#ifndef RSTRTMGR_RESTARTMANAGER_H
#define RSTRTMGR_RESTARTMANAGER_H

#include <stdint.h>

#ifdef _WIN32
#error "on Windows, use the SDK's <restartmanager.h>"
#endif

/* Calling conventions exist only on 32-bit Windows; cffi's generated code
 * spells WINAPI as __stdcall. */
#define __stdcall
#define WINAPI __stdcall

typedef uint32_t DWORD;
typedef uint32_t UINT;
typedef uint32_t ULONG;
typedef int32_t BOOL;
typedef uint16_t WCHAR;
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

#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)

/* winerror.h */
#define ERROR_SUCCESS 0
#define ERROR_PATH_NOT_FOUND 3
#define ERROR_ACCESS_DENIED 5
#define ERROR_INVALID_HANDLE 6
#define ERROR_OUTOFMEMORY 14
#define ERROR_NOT_READY 21
#define ERROR_WRITE_FAULT 29
#define ERROR_INVALID_PARAMETER 87
#define ERROR_CALL_NOT_IMPLEMENTED 120
#define ERROR_SEM_TIMEOUT 121
#define ERROR_MOD_NOT_FOUND 126
#define ERROR_BAD_ARGUMENTS 160
#define ERROR_MORE_DATA 234
#define ERROR_FAIL_NOACTION_REBOOT 350
#define ERROR_FAIL_SHUTDOWN 351
#define ERROR_FAIL_RESTART 352
#define ERROR_MAX_SESSIONS_REACHED 353
#define ERROR_REQUEST_OUT_OF_SEQUENCE 776
#define ERROR_NOT_FOUND 1168
#define ERROR_INVALID_COMPUTERNAME 1210
#define ERROR_SESSION_CREDENTIAL_CONFLICT 1219
#define ERROR_NO_NETWORK 1222
#define ERROR_CANCELLED 1223

#define RM_SESSION_KEY_LEN 16
#define CCH_RM_SESSION_KEY (RM_SESSION_KEY_LEN * 2)
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
    WCHAR strAppName[CCH_RM_MAX_APP_NAME + 1];
    WCHAR strServiceShortName[CCH_RM_MAX_SVC_NAME + 1];
    RM_APP_TYPE ApplicationType;
    ULONG AppStatus;
    DWORD TSSessionId;
    BOOL bRestartable;
} RM_PROCESS_INFO, *PRM_PROCESS_INFO;

typedef enum _RM_FILTER_TRIGGER {
    RmFilterTriggerInvalid = 0,
    RmFilterTriggerFile,
    RmFilterTriggerProcess,
    RmFilterTriggerService
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

_Static_assert(sizeof(RM_UNIQUE_PROCESS) == 12, "RM_UNIQUE_PROCESS layout");
_Static_assert(sizeof(RM_PROCESS_INFO) == 668, "RM_PROCESS_INFO layout");
_Static_assert(sizeof(RM_FILTER_INFO) == (sizeof(void *) == 8 ? 32 : 24),
               "RM_FILTER_INFO layout");

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

#endif
