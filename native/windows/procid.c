/* Process identity on Windows: the creation time GetProcessTimes reports is
 * the start time Rstrtmgr.dll puts in RM_UNIQUE_PROCESS. */
#include "rstrtmgr_ext.h"

DWORD rstrtmgr_process_start_time(DWORD dwProcessId, FILETIME *pStartTime)
{
    /* The limited right is granted for nearly every process, other users'
     * and elevated ones included. */
    HANDLE process =
        OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, dwProcessId);
    if (process == NULL)
        return GetLastError() == ERROR_ACCESS_DENIED ? ERROR_ACCESS_DENIED
                                                     : ERROR_INVALID_PARAMETER;
    DWORD result = ERROR_SUCCESS, exit_code;
    FILETIME created, exited, kernel, user;
    /* A process that has exited stays openable while any handle to it is
     * open; it is no live process, as a zombie is not on Linux. */
    if (!GetExitCodeProcess(process, &exit_code) ||
        !GetProcessTimes(process, &created, &exited, &kernel, &user))
        result = ERROR_ACCESS_DENIED;
    else if (exit_code != STILL_ACTIVE)
        result = ERROR_INVALID_PARAMETER;
    else
        *pStartTime = created;
    CloseHandle(process);
    return result;
}
