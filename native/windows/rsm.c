/* The Removable Storage Manager session calls, resolved at run time: RSM left
 * Windows with Windows 7, so ntmsapi.dll is loaded from System32 if it is
 * there and never linked (a load-time import would break `import`). */
#include "rstrtmgr_ext.h"

typedef HANDLE(WINAPI *open_w_fn)(LPCWSTR, LPCWSTR, DWORD);
typedef HANDLE(WINAPI *open_a_fn)(LPCSTR, LPCSTR, DWORD);
typedef DWORD(WINAPI *close_fn)(HANDLE);

/* Filled once by load_ntmsapi; a NULL entry's error is in its *_error. */
static struct {
    open_w_fn open_w;
    open_a_fn open_a;
    close_fn close;
    DWORD open_w_error, open_a_error, close_error;
} ntms;

static INIT_ONCE ntms_once = INIT_ONCE_STATIC_INIT;

static FARPROC resolve(HMODULE module, const char *name, DWORD *error)
{
    FARPROC proc = module ? GetProcAddress(module, name) : NULL;
    /* Kept for every later call: by then GetLastError says something else. */
    *error = proc ? ERROR_SUCCESS : GetLastError();
    return proc;
}

static BOOL CALLBACK load_ntmsapi(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once, (void)param, (void)context;
    /* System32 only: an ntmsapi.dll planted beside the application or in
     * the current directory must never be loaded. The module stays loaded
     * for the life of the process, as the resolved pointers need. */
    HMODULE module =
        LoadLibraryExW(L"ntmsapi.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    ntms.open_w = (open_w_fn)(void (*)(void))resolve(
        module, "OpenNtmsSessionW", &ntms.open_w_error);
    ntms.open_a = (open_a_fn)(void (*)(void))resolve(
        module, "OpenNtmsSessionA", &ntms.open_a_error);
    ntms.close = (close_fn)(void (*)(void))resolve(module, "CloseNtmsSession",
                                                   &ntms.close_error);
    return TRUE;
}

static void ensure_loaded(void)
{
    /* Thread-safe and at most once: concurrent first calls wait for it. */
    InitOnceExecuteOnce(&ntms_once, load_ntmsapi, NULL, NULL);
}

HANDLE WINAPI rstrtmgr_OpenNtmsSessionW(LPCWSTR lpServer, LPCWSTR lpApplication,
                                        DWORD dwOptions)
{
    ensure_loaded();
    if (ntms.open_w == NULL) {
        SetLastError(ntms.open_w_error); /* 126 where RSM is gone */
        return INVALID_HANDLE_VALUE;
    }
    return ntms.open_w(lpServer, lpApplication, dwOptions);
}

HANDLE WINAPI rstrtmgr_OpenNtmsSessionA(LPCSTR lpServer, LPCSTR lpApplication,
                                        DWORD dwOptions)
{
    ensure_loaded();
    if (ntms.open_a == NULL) {
        SetLastError(ntms.open_a_error);
        return INVALID_HANDLE_VALUE;
    }
    return ntms.open_a(lpServer, lpApplication, dwOptions);
}

DWORD WINAPI rstrtmgr_CloseNtmsSession(HANDLE hSession)
{
    ensure_loaded();
    /* CloseNtmsSession returns its error rather than setting it. */
    return ntms.close ? ntms.close(hSession) : ntms.close_error;
}
