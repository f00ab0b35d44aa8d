/* The rstrtmgr_* additions that Windows has no counterpart for. */
#include "rstrtmgr_ext.h"

DWORD rstrtmgr_set_shutdown_timeouts(DWORD dwSessionHandle, DWORD dwAppMs,
                                     DWORD dwServiceMs)
{
    /* Windows waits as its own policy (WaitToKillAppTimeout) says. */
    (void)dwSessionHandle, (void)dwAppMs, (void)dwServiceMs;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_set_restart_settle_time(DWORD dwSessionHandle, DWORD dwSettleMs)
{
    /* Windows' Restart Manager has no check of a restart. */
    (void)dwSessionHandle, (void)dwSettleMs;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_restart_outcome(DWORD dwSessionHandle,
                               const RM_UNIQUE_PROCESS *pProcess,
                               RSTRTMGR_RESTART_OUTCOME *pOutcome,
                               char *pOutput, DWORD cbOutput)
{
    (void)dwSessionHandle, (void)pProcess, (void)pOutcome, (void)pOutput,
        (void)cbOutput;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_register_restart_bootloader(const char *const *argv,
                                           UINT argc, const char *cwd,
                                           const char *const *envp, UINT envc)
{
    /* The Restart Manager restarts the registered process's own image. */
    (void)argv, (void)argc, (void)cwd, (void)envp, (void)envc;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_register_launch(const char *const *argv, UINT argc,
                               const char *cwd, const char *const *envp,
                               UINT envc)
{
    /* rstrtmgr launch is the Linux backend's. */
    (void)argv, (void)argc, (void)cwd, (void)envp, (void)envc;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_shutdown_list(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                             UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                             LPDWORD lpdwRebootReasons)
{
    /* Windows keeps no list of its own: RmGetList after RmShutdown. */
    (void)dwSessionHandle, (void)pnProcInfoNeeded, (void)pnProcInfo;
    (void)rgAffectedApps, (void)lpdwRebootReasons;
    return ERROR_CALL_NOT_IMPLEMENTED;
}
