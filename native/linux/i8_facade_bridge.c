/* TEMPORARY (branch i8-facade only): rstrtmgr_process_start_time for Linux,
 * which native/linux/procid.c takes over on branch i8-linux-c, so that this
 * branch builds and tests until both are merged. Delete at the merge. */
#include <errno.h>
#include <limits.h>

#include "internal.h"

#ifndef ERROR_ACCESS_DENIED
#define ERROR_ACCESS_DENIED 5
#endif

DWORD rstrtmgr_process_start_time(DWORD dwProcessId, FILETIME *pStartTime)
{
    rm_procid id;
    if (dwProcessId == 0 || dwProcessId > INT_MAX)
        return ERROR_INVALID_PARAMETER;
    errno = 0;
    if (rm_procid_of((pid_t)dwProcessId, &id) != 0)
        return errno == EACCES ? ERROR_ACCESS_DENIED : ERROR_INVALID_PARAMETER;
    *pStartTime = rm_procid_filetime(id.start_ticks);
    return ERROR_SUCCESS;
}
