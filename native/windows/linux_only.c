/* The rstrtmgr_* additions that only the Linux backend implements: on Windows
 * the Restart Manager and kernel32 provide their own means (see each). */
#include "rstrtmgr_ext.h"

DWORD rstrtmgr_set_shutdown_timeouts(DWORD dwSessionHandle, DWORD dwAppMs,
                                     DWORD dwServiceMs)
{
    /* Windows waits as its own policy (WaitToKillAppTimeout) says. */
    (void)dwSessionHandle, (void)dwAppMs, (void)dwServiceMs;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_register_restart(const char *const *argv, UINT argc,
                                const char *cwd, const char *const *envp,
                                UINT envc)
{
    /* Windows has RegisterApplicationRestart in kernel32. */
    (void)argv, (void)argc, (void)cwd, (void)envp, (void)envc;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_unregister_restart(void) { return ERROR_CALL_NOT_IMPLEMENTED; }
