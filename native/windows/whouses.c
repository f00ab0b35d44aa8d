/* Trees, stale files and per-entry details on Windows: Rstrtmgr.dll has no
 * such calls. The facade walks trees itself and registers their files in
 * chunks; stale files and the files each process uses are not available. */
#include "rstrtmgr_ext.h"

DWORD rstrtmgr_register_tree(DWORD dwSessionHandle, LPCWSTR root,
                             const LPCWSTR *includes, UINT nIncludes,
                             const LPCWSTR *excludes, UINT nExcludes,
                             DWORD flags)
{
    (void)dwSessionHandle;
    (void)root;
    (void)includes;
    (void)nIncludes;
    (void)excludes;
    (void)nExcludes;
    (void)flags;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_register_stale(DWORD dwSessionHandle, const LPCWSTR *paths,
                              UINT nPaths)
{
    (void)dwSessionHandle;
    (void)paths;
    (void)nPaths;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

void rstrtmgr_set_list_details(BOOL bDetails) { (void)bDetails; }

DWORD rstrtmgr_last_list_process(UINT iEntry, DWORD *pdwUid, WCHAR *cmdline,
                                 UINT cchCmdline, UINT *pcchNeeded,
                                 UINT *pnFiles)
{
    (void)iEntry;
    (void)pdwUid;
    (void)cmdline;
    (void)cchCmdline;
    (void)pcchNeeded;
    (void)pnFiles;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD rstrtmgr_last_list_file(UINT iEntry, UINT iFile, DWORD *pdwUses,
                              WCHAR *path, UINT cchPath, UINT *pcchNeeded)
{
    (void)iEntry;
    (void)iFile;
    (void)pdwUses;
    (void)path;
    (void)cchPath;
    (void)pcchNeeded;
    return ERROR_CALL_NOT_IMPLEMENTED;
}
