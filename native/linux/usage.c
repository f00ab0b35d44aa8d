/* Which files each listed process uses, and how; its user and command line:
 * the detail behind this thread's last RmGetList, kept per entry in the
 * order of rgAffectedApps (rstrtmgr_last_list_process/_file). */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define CMDLINE_MAX (256 * 1024)

static _Thread_local int want_details, want_uids;
static _Thread_local rm_usage **last;
static _Thread_local uid_t *last_uid;
static _Thread_local size_t nlast;

void rstrtmgr_set_list_details(BOOL bDetails) { want_details = bDetails != 0; }

void rstrtmgr_set_list_uids(BOOL bUids) { want_uids = bUids != 0; }

int rm_usage_wanted(void) { return want_details; }

int rm_usage_uids_wanted(void) { return want_details || want_uids; }

rm_usage *rm_usage_new(void) { return calloc(1, sizeof(rm_usage)); }

void rm_usage_free(rm_usage *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->nfiles; i++)
        free(u->files[i].path);
    free(u->files);
    free(u->cmdline);
    free(u);
}

int rm_usage_add(rm_usage *u, uint64_t dev, uint64_t ino, unsigned how,
                 const char *path, size_t len)
{
    for (size_t i = 0; i < u->nfiles; i++) {
        if (u->files[i].dev == dev && u->files[i].ino == ino &&
            strncmp(u->files[i].path, path, len) == 0 &&
            u->files[i].path[len] == '\0') {
            u->files[i].how |= how;
            return 0;
        }
    }
    if (u->nfiles == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 4;
        rm_use *n = realloc(u->files, cap * sizeof *n);
        if (n == NULL)
            return -1;
        u->files = n;
        u->cap = cap;
    }
    char *p = malloc(len + 1);
    if (p == NULL)
        return -1;
    memcpy(p, path, len);
    p[len] = '\0';
    u->files[u->nfiles++] = (rm_use){.dev = dev, .ino = ino, .how = how,
                                     .path = p};
    return 0;
}

int rm_usage_mark(rm_usage *u, uint64_t dev, uint64_t ino, unsigned how)
{
    for (size_t i = 0; i < u->nfiles; i++) {
        if (u->files[i].dev == dev && u->files[i].ino == ino) {
            u->files[i].how |= how;
            return 1;
        }
    }
    return 0;
}

int rm_usage_read_cmdline(rm_usage *u, int pd)
{
    int fd = openat(pd, "cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b != NULL) {
        if (n == cap) {
            char *nb = cap < CMDLINE_MAX ? realloc(b, cap * 2) : NULL;
            if (nb == NULL)
                break;
            b = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, b + n, cap - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (b == NULL)
        return -1;
    free(u->cmdline);
    u->cmdline = b;
    u->cmdline_len = n;
    return 0;
}

static void drop_last(void)
{
    for (size_t i = 0; i < nlast; i++)
        rm_usage_free(last[i]);
    free(last);
    free(last_uid);
    last = NULL;
    last_uid = NULL;
    nlast = 0;
}

/* A thread that ends takes its last list's details with it. */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *unused)
{
    (void)unused;
    drop_last();
}

static void make_exit_key(void)
{
    (void)pthread_key_create(&exit_key, on_thread_exit);
}

void rm_usage_keep(rm_list *l)
{
    drop_last();
    if (l->count == 0)
        return;
    last = calloc(l->count, sizeof *last);
    last_uid = calloc(l->count, sizeof *last_uid);
    if (last == NULL || last_uid == NULL) {
        free(last);
        free(last_uid);
        last = NULL;
        last_uid = NULL;
        return; /* the details are lost, the list itself is not */
    }
    /* With uids alone, every holder the scan added has its uid read (-1
     * when that failed); the processes carried from the shutdown record
     * (why 0) have none. */
    int uids = want_uids && !want_details;
    for (size_t i = 0; i < l->count; i++) {
        const rm_holder *hd = &l->items[i];
        last[i] = hd->usage;
        last_uid[i] = hd->usage != NULL || (uids && hd->why != 0)
                          ? hd->uid
                          : (uid_t)-1;
        l->items[i].usage = NULL;
    }
    nlast = l->count;
    /* Any non-NULL value makes the destructor run at the thread's exit. */
    pthread_once(&exit_once, make_exit_key);
    (void)pthread_setspecific(exit_key, &nlast);
}

/* Copies `len` bytes as UTF-16 plus a NUL into out (cch WCHARs); the WCHARs
 * needed, NUL included. Nothing is written when it does not fit. */
static UINT put_utf16(const char *in, size_t len, WCHAR *out, UINT cch,
                      WCHAR *tmp)
{
    size_t n = rm_bytes_to_utf16(in, len, tmp, len + 1);
    if (out != NULL && n + 1 <= cch) {
        memcpy(out, tmp, n * sizeof *tmp);
        out[n] = 0;
    }
    return (UINT)(n + 1);
}

DWORD rstrtmgr_last_list_process(UINT iEntry, DWORD *pdwUid, WCHAR *cmdline,
                                 UINT cchCmdline, UINT *pcchNeeded,
                                 UINT *pnFiles)
{
    rm_detail_clear();
    if (iEntry >= nlast || pdwUid == NULL || pcchNeeded == NULL ||
        pnFiles == NULL || (cchCmdline > 0 && cmdline == NULL)) {
        rm_detail_set("no entry %u in this thread's last list of %zu, or a "
                      "NULL pointer", iEntry, nlast);
        return ERROR_BAD_ARGUMENTS;
    }
    const rm_usage *u = last[iEntry];
    /* No usage: a process the list carries from the session's shutdown
     * record (gone since), or one listed without details (with its uid when
     * uids were asked for). */
    *pdwUid = (DWORD)last_uid[iEntry];
    *pnFiles = u != NULL ? (UINT)u->nfiles : 0;
    /* The arguments, each NUL-terminated, then one more NUL. */
    size_t len = u != NULL ? u->cmdline_len : 0;
    WCHAR *tmp = malloc((len + 1) * sizeof *tmp);
    if (tmp == NULL)
        return ERROR_OUTOFMEMORY;
    UINT need = 0;
    for (size_t at = 0; at < len;) {
        size_t n = strnlen(u->cmdline + at, len - at);
        WCHAR *to = cmdline != NULL && need < cchCmdline ? cmdline + need : NULL;
        need += put_utf16(u->cmdline + at, n, to,
                          to != NULL ? cchCmdline - need : 0, tmp);
        at += n + 1;
    }
    free(tmp);
    need += 1;
    *pcchNeeded = need;
    if (need > cchCmdline) {
        rm_detail_set("the command line needs %u WCHARs", need);
        return ERROR_MORE_DATA;
    }
    cmdline[need - 1] = 0;
    return ERROR_SUCCESS;
}

DWORD rstrtmgr_last_list_file(UINT iEntry, UINT iFile, DWORD *pdwUses,
                              WCHAR *path, UINT cchPath, UINT *pcchNeeded)
{
    rm_detail_clear();
    const rm_usage *u = iEntry < nlast ? last[iEntry] : NULL;
    if (u == NULL || iFile >= u->nfiles || pdwUses == NULL ||
        pcchNeeded == NULL || (cchPath > 0 && path == NULL)) {
        rm_detail_set("no file %u of entry %u in this thread's last list, or "
                      "a NULL pointer", iFile, iEntry);
        return ERROR_BAD_ARGUMENTS;
    }
    const rm_use *f = &u->files[iFile];
    *pdwUses = f->how;
    size_t len = strlen(f->path);
    WCHAR *tmp = malloc((len + 1) * sizeof *tmp);
    if (tmp == NULL)
        return ERROR_OUTOFMEMORY;
    *pcchNeeded = put_utf16(f->path, len, path, cchPath, tmp);
    free(tmp);
    if (*pcchNeeded > cchPath) {
        rm_detail_set("the path needs %u WCHARs", *pcchNeeded);
        return ERROR_MORE_DATA;
    }
    return ERROR_SUCCESS;
}

/* Linux's details come with the list itself (rstrtmgr_last_list_*). */
DWORD rstrtmgr_process_identity(const RM_UNIQUE_PROCESS *pProcess,
                                WCHAR *user, UINT cchUser,
                                UINT *pcchUserNeeded, WCHAR *cmdline,
                                UINT cchCmdline, UINT *pcchCmdlineNeeded)
{
    (void)pProcess;
    (void)user;
    (void)cchUser;
    (void)pcchUserNeeded;
    (void)cmdline;
    (void)cchCmdline;
    (void)pcchCmdlineNeeded;
    rm_detail_set("rstrtmgr_process_identity is Windows' own: on Linux, "
                  "rstrtmgr_last_list_process tells after RmGetList");
    return ERROR_CALL_NOT_IMPLEMENTED;
}
