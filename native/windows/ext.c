/* The project's rstrtmgr_* additions on Windows, where Rstrtmgr.dll is the
 * backend and has nothing more to explain than its error codes. */
#include <string.h>

#include "rstrtmgr_ext.h"

size_t rstrtmgr_error_detail(char *buf, size_t size)
{
    if (buf != NULL && size > 0)
        buf[0] = '\0';
    return 0;
}

int rstrtmgr_is_wine(void)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

/* Rstrtmgr.dll sees every process; nothing is left uninspected. */
UINT rstrtmgr_last_uninspected(void) { return 0; }
