/* The Restart Manager calls that later work implements on Linux; until then
 * they answer ERROR_CALL_NOT_IMPLEMENTED. */
#include "internal.h"

static DWORD not_yet(const char *name)
{
    rm_detail_set("%s is not implemented on Linux yet", name);
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD WINAPI RmShutdown(DWORD dwSessionHandle, ULONG lActionFlags,
                        RM_WRITE_STATUS_CALLBACK fnStatus)
{
    (void)dwSessionHandle, (void)lActionFlags, (void)fnStatus;
    return not_yet("RmShutdown");
}

DWORD WINAPI RmRestart(DWORD dwSessionHandle, DWORD dwRestartFlags,
                       RM_WRITE_STATUS_CALLBACK fnStatus)
{
    (void)dwSessionHandle, (void)dwRestartFlags, (void)fnStatus;
    return not_yet("RmRestart");
}

DWORD WINAPI RmCancelCurrentTask(DWORD dwSessionHandle)
{
    (void)dwSessionHandle;
    return not_yet("RmCancelCurrentTask");
}

DWORD WINAPI RmAddFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                         RM_UNIQUE_PROCESS *pProcess,
                         LPCWSTR strServiceShortName,
                         RM_FILTER_ACTION FilterAction)
{
    (void)dwSessionHandle, (void)strModuleName, (void)pProcess;
    (void)strServiceShortName, (void)FilterAction;
    return not_yet("RmAddFilter");
}

DWORD WINAPI RmRemoveFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                            RM_UNIQUE_PROCESS *pProcess,
                            LPCWSTR strServiceShortName)
{
    (void)dwSessionHandle, (void)strModuleName, (void)pProcess;
    (void)strServiceShortName;
    return not_yet("RmRemoveFilter");
}

DWORD WINAPI RmGetFilterList(DWORD dwSessionHandle, PBYTE pbFilterBuf,
                             DWORD cbFilterBuf, LPDWORD cbFilterBufNeeded)
{
    (void)dwSessionHandle, (void)pbFilterBuf, (void)cbFilterBuf;
    (void)cbFilterBufNeeded;
    return not_yet("RmGetFilterList");
}
