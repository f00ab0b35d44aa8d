/* Trees, stale files and per-entry details on Windows: Rstrtmgr.dll has no
 * such calls. The facade walks trees itself and registers their files in
 * chunks; stale files and the files each process uses are not available,
 * its user and command line are (rstrtmgr_process_identity). */
#include <string.h>

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

DWORD rstrtmgr_register_files(DWORD dwSessionHandle, const char *paths,
                              size_t cbPaths, UINT nFiles)
{
    (void)dwSessionHandle;
    (void)paths;
    (void)cbPaths;
    (void)nFiles;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

void rstrtmgr_set_list_details(BOOL bDetails) { (void)bDetails; }

void rstrtmgr_set_list_uids(BOOL bUids) { (void)bUids; }

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

/* ---- who a listed process is: its user and command line ------------------ */

/* ntdll's ProcessCommandLineInformation (Windows 8.1+): the UNICODE_STRING
 * of the command line, read with PROCESS_QUERY_LIMITED_INFORMATION. */
#define RM_PROCESS_COMMAND_LINE_INFORMATION 60
typedef struct rm_unicode_string {
    USHORT Length;
    USHORT MaximumLength;
    PWSTR Buffer;
} rm_unicode_string;
typedef LONG(NTAPI *rm_query_fn)(HANDLE, int, PVOID, ULONG, PULONG);
typedef LPWSTR *(WINAPI *rm_argv_fn)(LPCWSTR, int *);

/* advapi32's token calls, resolved at run time from System32 like
 * ntmsapi.dll: the module links nothing beyond kernel32 and Rstrtmgr. */
typedef BOOL(WINAPI *rm_open_token_fn)(HANDLE, DWORD, PHANDLE);
typedef BOOL(WINAPI *rm_token_info_fn)(HANDLE, TOKEN_INFORMATION_CLASS, LPVOID,
                                       DWORD, PDWORD);
typedef BOOL(WINAPI *rm_lookup_sid_fn)(LPCWSTR, PSID, LPWSTR, LPDWORD, LPWSTR,
                                       LPDWORD, PSID_NAME_USE);

/* "DOMAIN\name" of the process's token user into out (cch WCHARs). */
static DWORD owner_of(HANDLE process, WCHAR *out, UINT cch, UINT *need)
{
    HMODULE advapi =
        LoadLibraryExW(L"advapi32.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    if (advapi == NULL)
        return ERROR_CALL_NOT_IMPLEMENTED;
    rm_open_token_fn open_token = (rm_open_token_fn)(void (*)(void))
        GetProcAddress(advapi, "OpenProcessToken");
    rm_token_info_fn token_info = (rm_token_info_fn)(void (*)(void))
        GetProcAddress(advapi, "GetTokenInformation");
    rm_lookup_sid_fn lookup = (rm_lookup_sid_fn)(void (*)(void))
        GetProcAddress(advapi, "LookupAccountSidW");
    HANDLE token;
    DWORD rc = ERROR_SUCCESS;
    if (open_token == NULL || token_info == NULL || lookup == NULL) {
        FreeLibrary(advapi);
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
    if (!open_token(process, TOKEN_QUERY, &token)) {
        FreeLibrary(advapi);
        return ERROR_ACCESS_DENIED;
    }
    BYTE buf[256];
    DWORD len = 0;
    if (!token_info(token, TokenUser, buf, sizeof buf, &len)) {
        rc = ERROR_ACCESS_DENIED;
    } else {
        WCHAR name[256], domain[256];
        DWORD nn = 256, nd = 256;
        SID_NAME_USE use;
        if (!lookup(NULL, ((TOKEN_USER *)buf)->User.Sid, name, &nn, domain,
                    &nd, &use)) {
            rc = ERROR_ACCESS_DENIED;
        } else {
            *need = (UINT)(nd + 1 + nn + 1);
            if (*need > cch) {
                rc = ERROR_MORE_DATA;
            } else {
                memcpy(out, domain, nd * sizeof(WCHAR));
                out[nd] = L'\\';
                memcpy(out + nd + 1, name, (nn + 1) * sizeof(WCHAR));
            }
        }
    }
    CloseHandle(token);
    FreeLibrary(advapi);
    return rc;
}

/* The process's arguments, each NUL-terminated, then one more NUL. */
static DWORD argv_of(HANDLE process, WCHAR *out, UINT cch, UINT *need)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    rm_query_fn query =
        ntdll ? (rm_query_fn)(void (*)(void))GetProcAddress(
                    ntdll, "NtQueryInformationProcess")
              : NULL;
    HMODULE shell = LoadLibraryExW(L"shell32.dll", NULL,
                                   LOAD_LIBRARY_SEARCH_SYSTEM32);
    rm_argv_fn split = shell ? (rm_argv_fn)(void (*)(void))GetProcAddress(
                                   shell, "CommandLineToArgvW")
                             : NULL;
    DWORD rc = ERROR_CALL_NOT_IMPLEMENTED;
    ULONG size = 4096;
    BYTE *info = NULL;
    /* The size it needs comes back with a "too small" status; a few tries
     * cover a command line that grows meanwhile. */
    for (int tries = 0; query != NULL && split != NULL && tries < 4;
         tries++) {
        info = HeapAlloc(GetProcessHeap(), 0, size + sizeof(WCHAR));
        if (info == NULL) {
            rc = ERROR_OUTOFMEMORY;
            break;
        }
        ULONG got = 0;
        LONG status =
            query(process, RM_PROCESS_COMMAND_LINE_INFORMATION, info, size, &got);
        if (status >= 0) {
            rc = ERROR_SUCCESS;
            break;
        }
        HeapFree(GetProcessHeap(), 0, info);
        info = NULL;
        rc = ERROR_ACCESS_DENIED;
        if (got <= size)
            break; /* refused, not too small */
        size = got;
    }
    if (rc == ERROR_SUCCESS) {
        rm_unicode_string *s = (rm_unicode_string *)info;
        /* A NUL-terminated copy: the UNICODE_STRING need not be. */
        UINT n = s->Length / sizeof(WCHAR);
        WCHAR *line = HeapAlloc(GetProcessHeap(), 0, (n + 1) * sizeof(WCHAR));
        int argc = 0;
        LPWSTR *argv = NULL;
        if (line != NULL) {
            memcpy(line, s->Buffer, n * sizeof(WCHAR));
            line[n] = 0;
            argv = n > 0 ? split(line, &argc) : NULL;
        }
        UINT total = 1;
        for (int i = 0; i < argc; i++)
            total += (UINT)lstrlenW(argv[i]) + 1;
        *need = total;
        if (line == NULL) {
            rc = ERROR_OUTOFMEMORY;
        } else if (total > cch) {
            rc = ERROR_MORE_DATA;
        } else {
            UINT at = 0;
            for (int i = 0; i < argc; i++) {
                UINT k = (UINT)lstrlenW(argv[i]) + 1;
                memcpy(out + at, argv[i], k * sizeof(WCHAR));
                at += k;
            }
            out[at] = 0;
        }
        if (argv != NULL)
            LocalFree(argv);
        if (line != NULL)
            HeapFree(GetProcessHeap(), 0, line);
    }
    if (info != NULL)
        HeapFree(GetProcessHeap(), 0, info);
    if (shell != NULL)
        FreeLibrary(shell);
    return rc;
}

DWORD rstrtmgr_process_identity(const RM_UNIQUE_PROCESS *pProcess,
                                WCHAR *user, UINT cchUser,
                                UINT *pcchUserNeeded, WCHAR *cmdline,
                                UINT cchCmdline, UINT *pcchCmdlineNeeded)
{
    if (pProcess == NULL || pcchUserNeeded == NULL ||
        pcchCmdlineNeeded == NULL || (cchUser > 0 && user == NULL) ||
        (cchCmdline > 0 && cmdline == NULL))
        return ERROR_BAD_ARGUMENTS;
    *pcchUserNeeded = *pcchCmdlineNeeded = 0;
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE,
                                 pProcess->dwProcessId);
    if (process == NULL)
        return GetLastError() == ERROR_ACCESS_DENIED ? ERROR_ACCESS_DENIED
                                                     : ERROR_INVALID_PARAMETER;
    /* The pid must still name the listed process. */
    FILETIME created, exited, kernel, used;
    DWORD rc = ERROR_SUCCESS;
    if (!GetProcessTimes(process, &created, &exited, &kernel, &used))
        rc = ERROR_ACCESS_DENIED;
    else if (CompareFileTime(&created, &pProcess->ProcessStartTime) != 0)
        rc = ERROR_INVALID_PARAMETER;
    DWORD rc_user = rc, rc_argv = rc;
    if (rc == ERROR_SUCCESS) {
        rc_user = owner_of(process, user, cchUser, pcchUserNeeded);
        rc_argv = argv_of(process, cmdline, cchCmdline, pcchCmdlineNeeded);
    }
    CloseHandle(process);
    if (rc_user == ERROR_MORE_DATA || rc_argv == ERROR_MORE_DATA)
        return ERROR_MORE_DATA;
    /* Either may be refused alone (another user's token); the caller reads
     * what came back: empty strings for what did not. */
    if (rc_user != ERROR_SUCCESS && user != NULL && cchUser > 0)
        user[0] = 0;
    if (rc_argv != ERROR_SUCCESS && cmdline != NULL && cchCmdline > 1)
        cmdline[0] = cmdline[1] = 0;
    return rc_user == ERROR_SUCCESS || rc_argv == ERROR_SUCCESS ? ERROR_SUCCESS
                                                                 : rc_user;
}
