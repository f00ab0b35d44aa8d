/* The rstrtmgr_* additions that Windows has no counterpart for. */
#include "rstrtmgr_ext.h"

DWORD rstrtmgr_set_shutdown_timeouts(DWORD dwSessionHandle, DWORD dwAppMs,
                                     DWORD dwServiceMs)
{
    /* Windows waits as its own policy (WaitToKillAppTimeout) says. */
    (void)dwSessionHandle, (void)dwAppMs, (void)dwServiceMs;
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
