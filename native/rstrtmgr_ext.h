/* The C API of _rstrtmgr: the SDK's Restart Manager and RSM session calls, and
 * the project's own rstrtmgr_* additions, declared once for every platform. */
#ifndef RSTRTMGR_EXT_H
#define RSTRTMGR_EXT_H

#ifdef _WIN32
#include <windows.h>
#include <restartmanager.h>
#else
#include "restartmanager.h" /* native/linux/: the SDK's names on Linux */
#endif
#include <stddef.h>
#include <uchar.h> /* char16_t, which the cdef uses for WCHAR */

/* ntmsapi.dll is resolved at run time (native/windows/rsm.c), never linked: the
 * SDK's names are routed to the project's loader. */
#define OpenNtmsSessionW rstrtmgr_OpenNtmsSessionW
#define OpenNtmsSessionA rstrtmgr_OpenNtmsSessionA
#define CloseNtmsSession rstrtmgr_CloseNtmsSession
HANDLE WINAPI rstrtmgr_OpenNtmsSessionW(LPCWSTR lpServer, LPCWSTR lpApplication,
                                        DWORD dwOptions);
HANDLE WINAPI rstrtmgr_OpenNtmsSessionA(LPCSTR lpServer, LPCSTR lpApplication,
                                        DWORD dwOptions);
DWORD WINAPI rstrtmgr_CloseNtmsSession(HANDLE hSession);

/* The handle value that names no session (0 is a valid handle). */
#define RSTRTMGR_NO_SESSION 0xFFFFFFFFu

/* Copies this thread's explanation of the last failed call (UTF-8, may be
 * empty) into buf, NUL-terminated; returns its full length. */
size_t rstrtmgr_error_detail(char *buf, size_t size);

/* How many live processes this thread's last successful RmGetList could not
 * look into (their files unreadable to this user) and so could not rule
 * out as users; 0 where the backend sees every process (Windows). */
UINT rstrtmgr_last_uninspected(void);

/* The creation time of live process dwProcessId as RM_UNIQUE_PROCESS carries it. ERROR_SUCCESS; ERROR_INVALID_PARAMETER (87) when no live process has that pid (a zombie included); ERROR_ACCESS_DENIED (5) when it cannot be read. */
DWORD rstrtmgr_process_start_time(DWORD dwProcessId, FILETIME *pStartTime);

/* Sets how long RmShutdown waits for applications and for services to exit
 * before it fails them (or, with RmForceShutdown, kills them), for this
 * session; defaults 30000 and 20000 ms. Linux backend only: 120 on Windows,
 * whose Restart Manager has no such setting. */
DWORD rstrtmgr_set_shutdown_timeouts(DWORD dwSessionHandle, DWORD dwAppMs,
                                     DWORD dwServiceMs);

/* Registers the calling process for restart with this command line (argv,
 * file-system bytes: UTF-8 on Windows), working directory and environment
 * ("NAME=value"). On Windows, kernel32's RegisterApplicationRestart with
 * argv[1..] quoted as the MS C runtime parses them (160 when that is over
 * 1023 characters); Windows restarts argv[0] itself, in its own working
 * directory and environment, so cwd and envp are not used there. */
DWORD rstrtmgr_register_restart(const char *const *argv, UINT argc,
                                const char *cwd, const char *const *envp,
                                UINT envc);
DWORD rstrtmgr_unregister_restart(void);

/* 1 when running under Wine (whose Rstrtmgr.dll is a stub), else 0. */
int rstrtmgr_is_wine(void);


/* ---- restarts that are verified ---------------------------------------------
 * Sets how long RmRestart watches each process it starts before calling it
 * restarted, for this session (primary only; default 2000 ms; 0: not at
 * all). All started processes are watched at once, so N restarts cost one
 * settle time; one that exits within it is RmStatusErrorOnRestart and
 * RmRestart returns 352. 120 on Windows, whose Restart Manager has no such
 * check. */
DWORD rstrtmgr_set_restart_settle_time(DWORD dwSessionHandle, DWORD dwSettleMs);

/* RSTRTMGR_RESTART_OUTCOME.dwResult, and what dwCode then is. */
#define RSTRTMGR_RESTART_RUNNING 1     /* started; alive after the settle time, or not checked */
#define RSTRTMGR_RESTART_EXITED 2      /* exited within it: dwCode is its exit status */
#define RSTRTMGR_RESTART_KILLED 3      /* a signal ended it: dwCode is the signal */
#define RSTRTMGR_RESTART_NOT_STARTED 4 /* never ran: dwCode is the errno (credentials, directory, exec) */
/* The most output a restart outcome keeps: the last bytes written. */
#define RSTRTMGR_OUTPUT_TAIL_MAX 4096

typedef struct RSTRTMGR_RESTART_OUTCOME {
    RM_UNIQUE_PROCESS Process;    /* as RmShutdown stopped it */
    RM_UNIQUE_PROCESS NewProcess; /* as RmRestart started it; dwProcessId 0: none */
    DWORD dwResult;               /* RSTRTMGR_RESTART_* */
    DWORD dwCode;
    DWORD dwSettleMs;             /* how long it was watched (0: not checked) */
    DWORD cbOutput;               /* bytes of output kept (<= RSTRTMGR_OUTPUT_TAIL_MAX) */
} RSTRTMGR_RESTART_OUTCOME;

/* What the session's RmRestart did to *pProcess (any participant may ask).
 * The output kept is the last bytes its program wrote to stdout and stderr
 * (one log, in the order written) during the settle time; the last
 * cbOutput - 1 of them are copied to pOutput and NUL-terminated (pOutput
 * may be NULL when cbOutput is 0). ERROR_SUCCESS; ERROR_NOT_FOUND (1168)
 * when the session restarted no such process; ERROR_BAD_ARGUMENTS (160);
 * ERROR_INVALID_HANDLE (6). 120 on Windows. */
DWORD rstrtmgr_restart_outcome(DWORD dwSessionHandle,
                               const RM_UNIQUE_PROCESS *pProcess,
                               RSTRTMGR_RESTART_OUTCOME *pOutcome,
                               char *pOutput, DWORD cbOutput);

/* The child of a PyInstaller one-file program's bootloader (its parent
 * process, which runs the same executable as the same user) registers the
 * bootloader with this restart command too: either one listed alone is
 * restarted with it, and the two stopped together start the program once,
 * through the child's registration. ERROR_INVALID_PARAMETER (87) when the
 * parent is no such bootloader. Linux only: 120 on Windows, where the
 * Restart Manager restarts the registered process's own image. */
DWORD rstrtmgr_register_restart_bootloader(const char *const *argv,
                                           UINT argc, const char *cwd,
                                           const char *const *envp, UINT envc);

/* rstrtmgr launch: registers the calling process like
 * rstrtmgr_register_restart, about to exec argv; the program that RmRestart
 * starts from this registration is registered again with it (when it runs
 * as the caller), so a launched program stays restartable. Linux only: 120
 * on Windows. */
DWORD rstrtmgr_register_launch(const char *const *argv, UINT argc,
                               const char *cwd, const char *const *envp,
                               UINT envc);

/* Registers the files of the directory tree at `root` (a full path) and,
 * on Linux, its directories (a working directory in the tree uses it):
 * RmRegisterResources refuses directories, as Windows does. Patterns are
 * fnmatch(3) patterns with FNM_NOESCAPE, without FNM_PATHNAME (so "*"
 * matches "/" too); one with a "/" matches the
 * path relative to root, one without the entry's name. `includes` (none:
 * all) select files; `excludes` drop files and directories (an excluded
 * directory is not entered). Symbolic links are never followed;
 * RSTRTMGR_TREE_ONE_FILE_SYSTEM keeps to root's file system. All or
 * nothing: 160 (bad arguments, root not a directory), 3 (root missing),
 * 5 (root unreadable), 29, 14. ERROR_CALL_NOT_IMPLEMENTED (120) on
 * Windows: the facade walks the tree there and registers its files. */
#define RSTRTMGR_TREE_ONE_FILE_SYSTEM 0x1
DWORD rstrtmgr_register_tree(DWORD dwSessionHandle, LPCWSTR root,
                             const LPCWSTR *includes, UINT nIncludes,
                             const LPCWSTR *excludes, UINT nExcludes,
                             DWORD flags);

/* What an upgrade left behind: the session's list then also holds the
 * processes that execute, map or hold open a file deleted or replaced
 * since they opened it, under one of `paths` (full paths); with nPaths 0,
 * the processes whose executable or mappings are such files anywhere.
 * 120 on Windows. */
DWORD rstrtmgr_register_stale(DWORD dwSessionHandle, const LPCWSTR *paths,
                              UINT nPaths);

/* RmRegisterResources of nFiles files given as one buffer: full paths as
 * bytes (the file system's names), NUL-separated, cbPaths bytes in all and
 * followed by a NUL (paths[cbPaths] == 0). One call's memory is that
 * buffer, not a string object a path; checked whole before anything is
 * stored, as RmRegisterResources is. 120 on Windows. */
DWORD rstrtmgr_register_files(DWORD dwSessionHandle, const char *paths,
                              size_t cbPaths, UINT nFiles);

/* How a listed process uses a file (rstrtmgr_last_list_file). */
#define RSTRTMGR_USES_FD 0x1
#define RSTRTMGR_USES_MAPPING 0x2
#define RSTRTMGR_USES_EXE 0x4
#define RSTRTMGR_USES_CWD 0x8
#define RSTRTMGR_USES_DELETED 0x100 /* deleted or replaced since */

/* Whether this thread's next RmGetList calls also record, per entry, every
 * registered file the process uses and its command line (a second pass
 * over each listed process: off by default). */
void rstrtmgr_set_list_details(BOOL bDetails);
/* Whether this thread's next RmGetList calls record each entry's real uid
 * alone (rstrtmgr_last_list_process gives it, with an empty command line
 * and no files): who runs each process without the details' second pass.
 * Off by default; details include the uid. */
void rstrtmgr_set_list_uids(BOOL bUids);
/* Entry iEntry of this thread's last RmGetList (in rgAffectedApps order):
 * its real uid, its command line (arguments each NUL-terminated, then one
 * more NUL; empty without details) and how many files
 * rstrtmgr_last_list_file reports. 160 for no such entry, 234 with the
 * WCHARs needed. Windows: 120 (the facade asks Windows itself). */
DWORD rstrtmgr_last_list_process(UINT iEntry, DWORD *pdwUid, WCHAR *cmdline,
                                 UINT cchCmdline, UINT *pcchNeeded,
                                 UINT *pnFiles);
/* File iFile of entry iEntry: RSTRTMGR_USES_* and its path as the kernel
 * names it (without " (deleted)"). 160, 234 as above; 120 on Windows. */
DWORD rstrtmgr_last_list_file(UINT iEntry, UINT iFile, DWORD *pdwUses,
                              WCHAR *path, UINT cchPath, UINT *pcchNeeded);

/* Windows: who the listed process *pProcess (pid and start time) is: its
 * user ("DOMAIN\name") and its arguments (each NUL-terminated, then one
 * more NUL; CommandLineToArgvW's split), what Windows tells about a process
 * beside the Restart Manager. An empty string for what could not be read;
 * 87 when the pid names another process now, 5 when neither could be
 * read, 234 with the WCHARs needed. 120 on Linux, whose details come with
 * the list (rstrtmgr_last_list_process). */
DWORD rstrtmgr_process_identity(const RM_UNIQUE_PROCESS *pProcess,
                                WCHAR *user, UINT cchUser,
                                UINT *pcchUserNeeded, WCHAR *cmdline,
                                UINT cchCmdline, UINT *pcchCmdlineNeeded);

/* The list this thread's last RmShutdown on dwSessionHandle ended with, as
 * RmGetList would give it then (each holder's status; the processes it saw
 * exit listed from the session's record), without another scan: its
 * rstrtmgr_last_uninspected is the shutdown's scan's. Taken by the first
 * successful call. ERROR_REQUEST_OUT_OF_SEQUENCE (776) when there is none
 * to take, ERROR_MORE_DATA as RmGetList; 120 on Windows. */
DWORD rstrtmgr_shutdown_list(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                             UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                             LPDWORD lpdwRebootReasons);

#endif
