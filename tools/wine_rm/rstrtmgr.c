/* The Windows lane's own Restart Manager: sessions and RmGetList for Wine, whose rstrtmgr.dll is a stub. */
/*
 * Written for this project from the documented Windows API (restartmanager.h,
 * the Restart Manager reference); MIT like the rest of rstrtmgr. It is a test
 * double for the Windows lane, never shipped: Microsoft's Rstrtmgr.dll is what
 * the wheel uses on Windows.
 *
 * What it does, as Windows documents it: RmStartSession (a random 32-hex-digit
 * key), RmEndSession, RmRegisterResources (files and applications), RmGetList
 * (every process whose image or a loaded module is a registered file, and every
 * registered application alive, with the ERROR_MORE_DATA protocol), and every
 * process with an open handle to a registered file (found through the system's
 * handle table, as a file's identity: volume serial and file index). Sessions
 * live in the calling process only, so RmJoinSession, services, filters,
 * RmShutdown, RmRestart and RmCancelCurrentTask return
 * ERROR_CALL_NOT_IMPLEMENTED: the suite skips what needs them, with that
 * reason. rstrtmgr_lane_rm() marks this DLL, so the suite knows which
 * Restart Manager it runs against.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <bcrypt.h>
#include <restartmanager.h>
#include <tlhelp32.h>
#include <wchar.h>
#include <winternl.h>

#define MAX_SESSIONS 64 /* Windows' limit: ERROR_MAX_SESSIONS_REACHED */
#define PATH_CHARS 32768
#ifndef ERROR_MAX_SESSIONS_REACHED
#define ERROR_MAX_SESSIONS_REACHED 353 /* winerror.h, absent from mingw-w64's */
#endif

/* NtQuerySystemInformation's SystemExtendedHandleInformation (64): every
 * handle of every process. Not in mingw-w64's winternl.h. */
#define SYSTEM_EXTENDED_HANDLE_INFORMATION 64
#define NT_INFO_LENGTH_MISMATCH ((NTSTATUS)0xC0000004L)
typedef struct {
    PVOID Object;
    ULONG_PTR UniqueProcessId;
    ULONG_PTR HandleValue;
    ULONG GrantedAccess;
    USHORT CreatorBackTraceIndex;
    USHORT ObjectTypeIndex;
    ULONG HandleAttributes;
    ULONG Reserved;
} HANDLE_ENTRY;
typedef struct {
    ULONG_PTR NumberOfHandles;
    ULONG_PTR Reserved;
    HANDLE_ENTRY Handles[1];
} HANDLE_TABLE;

/* A file's identity: what an open handle to it shares with its name. */
typedef struct {
    DWORD volume, high, low;
} FILE_ID;

typedef struct {
    BOOL used;
    WCHAR key[CCH_RM_SESSION_KEY + 1];
    WCHAR **files;
    FILE_ID *ids; /* of the files that existed at registration */
    UINT nIds;
    UINT nFiles;
    RM_UNIQUE_PROCESS *apps;
    UINT nApps;
} SESSION;

static SESSION sessions[MAX_SESSIONS];
static CRITICAL_SECTION lock;

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        InitializeCriticalSection(&lock);
    return TRUE;
}

/* Exported so that the suite can tell this DLL from Wine's stub. */
DWORD WINAPI rstrtmgr_lane_rm(void)
{
    return 1;
}

/* Handles are index + 1: 0 is never a session. */
static SESSION *session_of(DWORD handle)
{
    if (handle == 0 || handle > MAX_SESSIONS || !sessions[handle - 1].used)
        return NULL;
    return &sessions[handle - 1];
}

static void free_session(SESSION *s)
{
    for (UINT i = 0; i < s->nFiles; i++)
        HeapFree(GetProcessHeap(), 0, s->files[i]);
    HeapFree(GetProcessHeap(), 0, s->files);
    HeapFree(GetProcessHeap(), 0, s->ids);
    HeapFree(GetProcessHeap(), 0, s->apps);
    ZeroMemory(s, sizeof *s);
}

/* The full, long form of a path, as a file's users name it; NULL when out of memory. */
static WCHAR *normalised(const WCHAR *path)
{
    WCHAR *full = HeapAlloc(GetProcessHeap(), 0, PATH_CHARS * sizeof(WCHAR));
    WCHAR *longer = HeapAlloc(GetProcessHeap(), 0, PATH_CHARS * sizeof(WCHAR));
    WCHAR *out = NULL;
    if (full != NULL && longer != NULL) {
        DWORD n = GetFullPathNameW(path, PATH_CHARS, full, NULL);
        if (n == 0 || n >= PATH_CHARS)
            lstrcpynW(full, path, PATH_CHARS);
        /* A file that does not exist keeps its full name: it may appear later. */
        n = GetLongPathNameW(full, longer, PATH_CHARS);
        const WCHAR *best = (n > 0 && n < PATH_CHARS) ? longer : full;
        size_t len = wcslen(best) + 1;
        out = HeapAlloc(GetProcessHeap(), 0, len * sizeof(WCHAR));
        if (out != NULL)
            memcpy(out, best, len * sizeof(WCHAR));
    }
    HeapFree(GetProcessHeap(), 0, full);
    HeapFree(GetProcessHeap(), 0, longer);
    return out;
}

static BOOL id_of_handle(HANDLE f, FILE_ID *id)
{
    BY_HANDLE_FILE_INFORMATION info;
    if (GetFileType(f) != FILE_TYPE_DISK || !GetFileInformationByHandle(f, &info))
        return FALSE;
    id->volume = info.dwVolumeSerialNumber;
    id->high = info.nFileIndexHigh;
    id->low = info.nFileIndexLow;
    return TRUE;
}

static BOOL id_of_path(const WCHAR *path, FILE_ID *id)
{
    HANDLE f = CreateFileW(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE |
                           FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (f == INVALID_HANDLE_VALUE)
        return FALSE;
    BOOL ok = id_of_handle(f, id);
    CloseHandle(f);
    return ok;
}

DWORD WINAPI RmStartSession(DWORD *pSessionHandle, DWORD dwSessionFlags,
                            WCHAR strSessionKey[])
{
    static const WCHAR hex[] = L"0123456789abcdef";
    BYTE bytes[RM_SESSION_KEY_LEN];
    if (pSessionHandle == NULL || strSessionKey == NULL || dwSessionFlags != 0)
        return ERROR_BAD_ARGUMENTS;
    if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, bytes, sizeof bytes,
                                        BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
        return ERROR_WRITE_FAULT;
    EnterCriticalSection(&lock);
    DWORD i = 0;
    while (i < MAX_SESSIONS && sessions[i].used)
        i++;
    if (i == MAX_SESSIONS) {
        LeaveCriticalSection(&lock);
        return ERROR_MAX_SESSIONS_REACHED;
    }
    sessions[i].used = TRUE;
    for (size_t b = 0; b < RM_SESSION_KEY_LEN; b++) {
        sessions[i].key[2 * b] = hex[bytes[b] >> 4];
        sessions[i].key[2 * b + 1] = hex[bytes[b] & 15];
    }
    sessions[i].key[CCH_RM_SESSION_KEY] = 0;
    memcpy(strSessionKey, sessions[i].key, sizeof sessions[i].key);
    *pSessionHandle = i + 1;
    LeaveCriticalSection(&lock);
    return ERROR_SUCCESS;
}

DWORD WINAPI RmEndSession(DWORD dwSessionHandle)
{
    EnterCriticalSection(&lock);
    SESSION *s = session_of(dwSessionHandle);
    if (s != NULL)
        free_session(s);
    LeaveCriticalSection(&lock);
    return s != NULL ? ERROR_SUCCESS : ERROR_INVALID_HANDLE;
}

/* Grows an array of n items of size bytes by add items; FALSE when out of memory. */
static BOOL grow(void **array, UINT n, UINT add, SIZE_T size)
{
    SIZE_T bytes = (SIZE_T)(n + add) * size;
    void *p = *array == NULL ? HeapAlloc(GetProcessHeap(), 0, bytes)
                             : HeapReAlloc(GetProcessHeap(), 0, *array, bytes);
    if (p == NULL)
        return FALSE;
    *array = p;
    return TRUE;
}

/* Files are full paths (X:\... or \\server\...), and a directory is no file. */
static BOOL is_full_file_path(const WCHAR *path)
{
    if (path == NULL)
        return FALSE;
    BOOL drive = ((path[0] | 0x20) >= L'a' && (path[0] | 0x20) <= L'z' &&
                  path[1] == L':' && (path[2] == L'\\' || path[2] == L'/'));
    BOOL unc = (path[0] == L'\\' || path[0] == L'/') &&
               (path[1] == L'\\' || path[1] == L'/');
    if (!drive && !unc)
        return FALSE;
    DWORD attributes = GetFileAttributesW(path);
    return attributes == INVALID_FILE_ATTRIBUTES ||
           !(attributes & FILE_ATTRIBUTE_DIRECTORY);
}

DWORD WINAPI RmRegisterResources(DWORD dwSessionHandle, UINT nFiles,
                                 LPCWSTR rgsFileNames[], UINT nApplications,
                                 RM_UNIQUE_PROCESS rgApplications[],
                                 UINT nServices, LPCWSTR rgsServiceNames[])
{
    if ((nFiles > 0 && rgsFileNames == NULL) ||
        (nApplications > 0 && rgApplications == NULL) ||
        (nServices > 0 && rgsServiceNames == NULL))
        return ERROR_BAD_ARGUMENTS;
    for (UINT i = 0; i < nFiles; i++)
        if (!is_full_file_path(rgsFileNames[i]))
            return ERROR_BAD_ARGUMENTS;
    EnterCriticalSection(&lock);
    SESSION *s = session_of(dwSessionHandle);
    DWORD rc = ERROR_SUCCESS;
    if (s == NULL) {
        rc = ERROR_INVALID_HANDLE;
    } else if (nServices > 0) {
        rc = ERROR_CALL_NOT_IMPLEMENTED; /* no services under Wine's lane */
    } else if ((nFiles > 0 && (!grow((void **)&s->files, s->nFiles, nFiles,
                                     sizeof(WCHAR *)) ||
                               !grow((void **)&s->ids, s->nIds, nFiles,
                                     sizeof(FILE_ID)))) ||
               (nApplications > 0 &&
                !grow((void **)&s->apps, s->nApps, nApplications,
                      sizeof(RM_UNIQUE_PROCESS)))) {
        rc = ERROR_OUTOFMEMORY;
    } else {
        for (UINT i = 0; i < nFiles && rc == ERROR_SUCCESS; i++) {
            WCHAR *path = normalised(rgsFileNames[i]);
            if (path == NULL) {
                rc = ERROR_OUTOFMEMORY;
            } else {
                s->files[s->nFiles++] = path;
                if (id_of_path(path, &s->ids[s->nIds]))
                    s->nIds++;
            }
        }
        for (UINT i = 0; i < nApplications; i++)
            s->apps[s->nApps++] = rgApplications[i];
    }
    LeaveCriticalSection(&lock);
    return rc;
}

static BOOL is_registered_file(const SESSION *s, const WCHAR *path)
{
    WCHAR *name = normalised(path);
    BOOL found = FALSE;
    for (UINT i = 0; name != NULL && i < s->nFiles && !found; i++)
        found = CompareStringOrdinal(name, -1, s->files[i], -1, TRUE) ==
                CSTR_EQUAL;
    HeapFree(GetProcessHeap(), 0, name);
    return found;
}

/* Whether pid's image or one of its loaded modules is a registered file. */
static BOOL uses_registered_file(const SESSION *s, DWORD pid)
{
    if (s->nFiles == 0)
        return FALSE;
    HANDLE snap = CreateToolhelp32Snapshot(
        TH32CS_SNAPMODULE | TH32CS_SNAPMODULE32, pid);
    if (snap == INVALID_HANDLE_VALUE)
        return FALSE;
    MODULEENTRY32W module = {.dwSize = sizeof module};
    BOOL found = FALSE;
    for (BOOL more = Module32FirstW(snap, &module); more && !found;
         more = Module32NextW(snap, &module))
        found = is_registered_file(s, module.szExePath);
    CloseHandle(snap);
    return found;
}

/* The system's handle table; NULL when it cannot be read. */
static HANDLE_TABLE *handle_table(void)
{
    ULONG size = 1 << 16;
    for (;;) {
        HANDLE_TABLE *table = HeapAlloc(GetProcessHeap(), 0, size);
        if (table == NULL)
            return NULL;
        ULONG needed = 0;
        NTSTATUS status = NtQuerySystemInformation(
            (SYSTEM_INFORMATION_CLASS)SYSTEM_EXTENDED_HANDLE_INFORMATION,
            table, size, &needed);
        if (NT_SUCCESS(status))
            return table;
        HeapFree(GetProcessHeap(), 0, table);
        if (status != NT_INFO_LENGTH_MISMATCH || size > (1u << 30))
            return NULL;
        size = needed > size ? needed + 4096 : size * 2;
    }
}

/* Whether pid holds an open handle to a registered file. */
static BOOL holds_registered_file(const SESSION *s, const HANDLE_TABLE *table,
                                  DWORD pid)
{
    if (table == NULL || s->nIds == 0)
        return FALSE;
    HANDLE process = OpenProcess(PROCESS_DUP_HANDLE, FALSE, pid);
    if (process == NULL)
        return FALSE;
    BOOL found = FALSE;
    for (ULONG_PTR i = 0; i < table->NumberOfHandles && !found; i++) {
        const HANDLE_ENTRY *h = &table->Handles[i];
        HANDLE dup;
        FILE_ID id;
        if (h->UniqueProcessId != pid ||
            !DuplicateHandle(process, (HANDLE)h->HandleValue,
                             GetCurrentProcess(), &dup, 0, FALSE,
                             DUPLICATE_SAME_ACCESS))
            continue;
        if (id_of_handle(dup, &id))
            for (UINT k = 0; k < s->nIds && !found; k++)
                found = s->ids[k].volume == id.volume &&
                        s->ids[k].high == id.high && s->ids[k].low == id.low;
        CloseHandle(dup);
    }
    CloseHandle(process);
    return found;
}

/* RmConsole for a console-subsystem image, RmUnknownApp otherwise. */
static RM_APP_TYPE app_type(DWORD pid)
{
    WCHAR image[MAX_PATH];
    DWORD n = MAX_PATH;
    RM_APP_TYPE type = RmUnknownApp;
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (process == NULL)
        return type;
    BOOL named = QueryFullProcessImageNameW(process, 0, image, &n);
    CloseHandle(process);
    if (!named)
        return type;
    HANDLE f = CreateFileW(image, GENERIC_READ, FILE_SHARE_READ |
                           FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, 0, NULL);
    if (f == INVALID_HANDLE_VALUE)
        return type;
    IMAGE_DOS_HEADER dos;
    IMAGE_NT_HEADERS nt;
    DWORD got;
    if (ReadFile(f, &dos, sizeof dos, &got, NULL) && got == sizeof dos &&
        dos.e_magic == IMAGE_DOS_SIGNATURE &&
        SetFilePointer(f, dos.e_lfanew, NULL, FILE_BEGIN) !=
            INVALID_SET_FILE_POINTER &&
        ReadFile(f, &nt, sizeof nt, &got, NULL) && got == sizeof nt &&
        nt.Signature == IMAGE_NT_SIGNATURE &&
        nt.OptionalHeader.Subsystem == IMAGE_SUBSYSTEM_WINDOWS_CUI)
        type = RmConsole;
    CloseHandle(f);
    return type;
}

/* Fills info for pid; FALSE when the process is gone or cannot be opened. */
static BOOL describe(DWORD pid, const WCHAR *exe, RM_PROCESS_INFO *info)
{
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (process == NULL)
        return FALSE;
    FILETIME created, exited, kernel, user;
    DWORD code;
    /* An exited process stays openable while a handle to it is open. */
    BOOL ok = GetExitCodeProcess(process, &code) && code == STILL_ACTIVE &&
              GetProcessTimes(process, &created, &exited, &kernel, &user);
    if (ok) {
        ZeroMemory(info, sizeof *info);
        info->Process.dwProcessId = pid;
        info->Process.ProcessStartTime = created;
        lstrcpynW(info->strAppName, exe, CCH_RM_MAX_APP_NAME + 1);
        info->AppStatus = RmStatusRunning;
        if (!ProcessIdToSessionId(pid, &info->TSSessionId))
            info->TSSessionId = RM_INVALID_TS_SESSION;
        info->bRestartable = FALSE;
    }
    CloseHandle(process);
    return ok;
}

static BOOL is_registered_app(const SESSION *s, const RM_PROCESS_INFO *info)
{
    for (UINT i = 0; i < s->nApps; i++)
        if (s->apps[i].dwProcessId == info->Process.dwProcessId &&
            CompareFileTime(&s->apps[i].ProcessStartTime,
                            &info->Process.ProcessStartTime) == 0)
            return TRUE;
    return FALSE;
}

DWORD WINAPI RmGetList(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                       UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                       LPDWORD lpdwRebootReasons)
{
    if (pnProcInfoNeeded == NULL || pnProcInfo == NULL ||
        lpdwRebootReasons == NULL ||
        (*pnProcInfo > 0 && rgAffectedApps == NULL))
        return ERROR_BAD_ARGUMENTS;
    EnterCriticalSection(&lock);
    SESSION *s = session_of(dwSessionHandle);
    if (s == NULL) {
        LeaveCriticalSection(&lock);
        return ERROR_INVALID_HANDLE;
    }
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snap == INVALID_HANDLE_VALUE) {
        LeaveCriticalSection(&lock);
        return ERROR_WRITE_FAULT;
    }
    HANDLE_TABLE *table = s->nIds > 0 ? handle_table() : NULL;
    UINT found = 0, capacity = *pnProcInfo;
    DWORD reasons = RmRebootReasonNone, self = GetCurrentProcessId();
    PROCESSENTRY32W entry = {.dwSize = sizeof entry};
    for (BOOL more = Process32FirstW(snap, &entry); more;
         more = Process32NextW(snap, &entry)) {
        RM_PROCESS_INFO info;
        if (entry.th32ProcessID == 0 ||
            !describe(entry.th32ProcessID, entry.szExeFile, &info))
            continue;
        if (!is_registered_app(s, &info) &&
            !uses_registered_file(s, entry.th32ProcessID) &&
            !holds_registered_file(s, table, entry.th32ProcessID))
            continue;
        info.ApplicationType = app_type(entry.th32ProcessID);
        if (entry.th32ProcessID == self)
            reasons |= RmRebootReasonDetectedSelf;
        if (found < capacity)
            rgAffectedApps[found] = info;
        found++;
    }
    CloseHandle(snap);
    HeapFree(GetProcessHeap(), 0, table);
    LeaveCriticalSection(&lock);
    *pnProcInfoNeeded = found;
    *lpdwRebootReasons = reasons;
    if (found > capacity) {
        *pnProcInfo = 0;
        return ERROR_MORE_DATA;
    }
    *pnProcInfo = found;
    return ERROR_SUCCESS;
}

/* Documented calls this lane RM does not implement: each says so, after
 * the argument checks Windows documents. */
DWORD WINAPI RmJoinSession(DWORD *pSessionHandle, const WCHAR strSessionKey[])
{
    if (pSessionHandle == NULL || strSessionKey == NULL)
        return ERROR_BAD_ARGUMENTS;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD WINAPI RmShutdown(DWORD dwSessionHandle, ULONG lActionFlags,
                        RM_WRITE_STATUS_CALLBACK fnStatus)
{
    (void)dwSessionHandle;
    (void)lActionFlags;
    (void)fnStatus;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD WINAPI RmRestart(DWORD dwSessionHandle, DWORD dwRestartFlags,
                       RM_WRITE_STATUS_CALLBACK fnStatus)
{
    (void)dwSessionHandle;
    (void)dwRestartFlags;
    (void)fnStatus;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD WINAPI RmCancelCurrentTask(DWORD dwSessionHandle)
{
    (void)dwSessionHandle;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD WINAPI RmAddFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                         RM_UNIQUE_PROCESS *pProcess,
                         LPCWSTR strServiceShortName,
                         RM_FILTER_ACTION FilterAction)
{
    (void)dwSessionHandle;
    (void)strModuleName;
    (void)pProcess;
    (void)strServiceShortName;
    (void)FilterAction;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD WINAPI RmRemoveFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                            RM_UNIQUE_PROCESS *pProcess,
                            LPCWSTR strServiceShortName)
{
    (void)dwSessionHandle;
    (void)strModuleName;
    (void)pProcess;
    (void)strServiceShortName;
    return ERROR_CALL_NOT_IMPLEMENTED;
}

DWORD WINAPI RmGetFilterList(DWORD dwSessionHandle, PBYTE pbFilterBuf,
                             DWORD cbFilterBuf, LPDWORD cbFilterBufNeeded)
{
    (void)dwSessionHandle;
    (void)pbFilterBuf;
    (void)cbFilterBuf;
    (void)cbFilterBufNeeded;
    return ERROR_CALL_NOT_IMPLEMENTED;
}
