/* The Removable Storage Manager session calls, resolved at run time: RSM left
 * Windows with Windows 7, so ntmsapi.dll is loaded from System32 if it is
 * there and never linked (a load-time import would break `import`). */
#include "rstrtmgr_ext.h"

#ifdef _WIN32

typedef HANDLE(WINAPI *open_w_fn)(LPCWSTR, LPCWSTR, DWORD);
typedef HANDLE(WINAPI *open_a_fn)(LPCSTR, LPCSTR, DWORD);
typedef DWORD(WINAPI *close_fn)(HANDLE);

static FARPROC ntms_proc(const char *name)
{
    static HMODULE module;
    if (module == NULL)
        module = LoadLibraryExW(L"ntmsapi.dll", NULL,
                                LOAD_LIBRARY_SEARCH_SYSTEM32);
    if (module == NULL)
        return NULL; /* GetLastError() tells why, usually 126 */
    return GetProcAddress(module, name);
}

HANDLE WINAPI rstrtmgr_OpenNtmsSessionW(LPCWSTR lpServer, LPCWSTR lpApplication,
                                        DWORD dwOptions)
{
    open_w_fn f = (open_w_fn)(void (*)(void))ntms_proc("OpenNtmsSessionW");
    return f ? f(lpServer, lpApplication, dwOptions) : INVALID_HANDLE_VALUE;
}

HANDLE WINAPI rstrtmgr_OpenNtmsSessionA(LPCSTR lpServer, LPCSTR lpApplication,
                                        DWORD dwOptions)
{
    open_a_fn f = (open_a_fn)(void (*)(void))ntms_proc("OpenNtmsSessionA");
    return f ? f(lpServer, lpApplication, dwOptions) : INVALID_HANDLE_VALUE;
}

DWORD WINAPI rstrtmgr_CloseNtmsSession(HANDLE hSession)
{
    close_fn f = (close_fn)(void (*)(void))ntms_proc("CloseNtmsSession");
    return f ? f(hSession) : GetLastError();
}

#else /* RSM has never existed outside Windows */

#include <errno.h>

HANDLE WINAPI rstrtmgr_OpenNtmsSessionW(LPCWSTR lpServer, LPCWSTR lpApplication,
                                        DWORD dwOptions)
{
    (void)lpServer, (void)lpApplication, (void)dwOptions;
    errno = ERROR_MOD_NOT_FOUND; /* what LoadLibrary says where it is gone */
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

#endif
