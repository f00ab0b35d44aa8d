/* What Linux lacks: the Removable Storage Manager. RSM has never existed
 * outside Windows, so its session calls fail as they do on a Windows without
 * ntmsapi.dll (native/windows/rsm.c resolves the real ones at run time). */
#include <errno.h>

#include "internal.h"

/* errno carries what GetLastError would say on Windows without ntmsapi.dll,
 * so the Python layer reads one code on every platform. */
HANDLE WINAPI rstrtmgr_OpenNtmsSessionW(LPCWSTR lpServer, LPCWSTR lpApplication,
                                        DWORD dwOptions)
{
    (void)lpServer, (void)lpApplication, (void)dwOptions;
    errno = ERROR_MOD_NOT_FOUND;
    return INVALID_HANDLE_VALUE;
}

HANDLE WINAPI rstrtmgr_OpenNtmsSessionA(LPCSTR lpServer, LPCSTR lpApplication,
                                        DWORD dwOptions)
{
    (void)lpServer, (void)lpApplication, (void)dwOptions;
    errno = ERROR_MOD_NOT_FOUND;
    return INVALID_HANDLE_VALUE;
}

DWORD WINAPI rstrtmgr_CloseNtmsSession(HANDLE hSession)
{
    (void)hSession;
    return ERROR_MOD_NOT_FOUND;
}
