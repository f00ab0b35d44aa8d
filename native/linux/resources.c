/* RmRegisterResources on Linux, and the batches of the project's own
 * registration calls: each call checked whole, then stored as one new batch
 * file of the session. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

/* ---- validation and conversion of one call ------------------------------ */

/* The directory of the paths being checked: its canonical spelling, cached
 * because an installer's files come in runs from the same few directories,
 * and, from a run's second path on, the directory itself opened, so that each
 * file is looked up by its last name alone (fstatat) instead of walking its
 * whole path again. Both are taken as the run starts, as an lstat of each
 * full path would see them then. */
typedef struct dircache {
    char dir[PATH_MAX];
    size_t dirlen;
    char real[PATH_MAX];
    size_t reallen;
    int valid;
    int fd;     /* O_PATH of dir, or -1 */
    int opened; /* opening was tried for this run (fd may still be -1) */
} dircache;

static dircache *dircache_new(void)
{
    dircache *dc = calloc(1, sizeof *dc);
    if (dc != NULL)
        dc->fd = -1;
    return dc;
}

static void dircache_free(dircache *dc)
{
    if (dc != NULL && dc->fd >= 0)
        close(dc->fd);
    free(dc);
}

/* Makes the cache that of path's directory (its first dirlen bytes). */
static void dircache_enter(dircache *dc, const char *path, size_t dirlen)
{
    if (dc->valid && dc->dirlen == dirlen &&
        memcmp(dc->dir, path, dirlen) == 0) {
        /* The run's second path: worth opening the directory. One that
         * cannot be opened (gone, not searchable) leaves lstat to answer
         * for each of its paths, as it would have. */
        if (!dc->opened) {
            dc->opened = 1;
            dc->fd = open(dirlen == 0 ? "/" : dc->dir,
                          O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        return;
    }
    if (dc->fd >= 0)
        close(dc->fd);
    dc->fd = -1;
    dc->opened = 0;
    memcpy(dc->dir, path, dirlen);
    dc->dir[dirlen] = '\0';
    dc->dirlen = dirlen;
    char *r = realpath(dirlen == 0 ? "/" : dc->dir, NULL);
    if (r != NULL && strlen(r) < PATH_MAX) {
        dc->reallen = strlen(r);
        memcpy(dc->real, r, dc->reallen + 1);
    } else {
        memcpy(dc->real, dc->dir, dirlen + 1);
        dc->reallen = dirlen;
    }
    free(r);
    dc->valid = 1;
}

/* Fills `out` with the path the kernel will print for this file ("/proc/PID/
 * maps", fd links): symlinks and "." / ".." resolved, so that a replaced
 * file's "PATH (deleted)" entries can be recognised. Falls back to the
 * path as given when it cannot be resolved (a missing directory). `dc` is
 * the cache of path's directory (dircache_enter). */
static size_t canonical(const char *path, size_t len, int is_link,
                        const dircache *dc, char *out)
{
    if (is_link) {
        char *r = realpath(path, NULL);
        if (r != NULL) {
            size_t n = strlen(r);
            if (n < PATH_MAX) {
                memcpy(out, r, n + 1);
                free(r);
                return n;
            }
            free(r);
        }
    }
    const char *base = path + dc->dirlen + 1;
    size_t baselen = len - dc->dirlen - 1;
    size_t rl = dc->reallen;
    if (rl == 1) /* "/" */
        rl = 0;
    if (rl + 1 + baselen >= PATH_MAX) {
        memcpy(out, path, len + 1);
        return len;
    }
    memcpy(out, dc->real, rl);
    out[rl] = '/';
    memcpy(out + rl + 1, base, baselen);
    out[rl + 1 + baselen] = '\0';
    return rl + 1 + baselen;
}

/* One file's record: path is its name as bytes, n of them, NUL-terminated. */
static DWORD add_path(rm_buf *b, const char *path, size_t n, UINT index,
                      dircache *dc)
{
    char canon[PATH_MAX];
    if (path[0] != '/') {
        rm_detail_set("file name %u (%s) is not a full path", index, path);
        return ERROR_BAD_ARGUMENTS;
    }
    const char *base = strrchr(path, '/') + 1;
    dircache_enter(dc, path, (size_t)(base - 1 - path));
    rm_rec r = {.kind = RM_REC_FILE};
    struct stat st;
    int is_link = -1; /* -1: nothing there to identify */
    /* The identity is taken now, so that the processes still holding this
     * very file are found after an installer has renamed a new one over it.
     * A name ending in "/" has no last name to look up in the directory. */
    int found = dc->fd >= 0 && base[0] != '\0'
                    ? fstatat(dc->fd, base, &st, AT_SYMLINK_NOFOLLOW)
                    : lstat(path, &st);
    if (found == 0) {
        is_link = S_ISLNK(st.st_mode);
        if (is_link && stat(path, &st) != 0)
            is_link = -1;
    }
    if (is_link >= 0) {
        if (S_ISDIR(st.st_mode)) {
            rm_detail_set("file name %u (%s) is a directory; directories are "
                          "not resources", index, path);
            return ERROR_BAD_ARGUMENTS;
        }
        r.flags = RM_REC_HAS_ID;
        r.a = (uint64_t)st.st_dev;
        r.b = (uint64_t)st.st_ino;
    }
    /* A file that does not exist (yet, or any more) is still registered: its
     * old holders show it as "PATH (deleted)". */
    size_t cl = canonical(path, n, is_link == 1, dc, canon);
    r.len = (uint32_t)cl;
    if (rm_buf_add(b, &r, sizeof r) != 0 || rm_buf_add(b, canon, cl) != 0)
        return ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

static DWORD add_file(rm_buf *b, const WCHAR *name, UINT index, dircache *dc)
{
    char path[PATH_MAX];
    if (name == NULL) {
        rm_detail_set("file name %u is NULL", index);
        return ERROR_BAD_ARGUMENTS;
    }
    long n = rm_utf16_to_bytes(name, path, sizeof path);
    if (n < 0) {
        rm_detail_set("file name %u is not valid UTF-16 (only the lone "
                      "surrogates U+DC80..U+DCFF stand for raw bytes) or is "
                      "longer than %d bytes", index, PATH_MAX - 1);
        return ERROR_BAD_ARGUMENTS;
    }
    return add_path(b, path, (size_t)n, index, dc);
}

static int unit_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == ':' || c == '-' || c == '_' ||
           c == '.' || c == '@' || c == '\\';
}

long rm_unit_name(const WCHAR *name, char *unit, size_t size)
{
    if (name == NULL || size < RM_UNIT_NAME_MAX + 1)
        return -1;
    long n = rm_utf16_to_bytes(name, unit, RM_UNIT_NAME_MAX + 1);
    int ok = n > 0;
    for (long i = 0; ok && i < n; i++)
        ok = unit_char(unit[i]);
    if (!ok)
        return -1;
    /* "ssh" means "ssh.service", as systemctl reads it. */
    const char *dot = strrchr(unit, '.');
    if (dot == NULL || dot == unit || strchr(dot, '@') != NULL) {
        if (n + (long)strlen(".service") > RM_UNIT_NAME_MAX)
            return -1;
        memcpy(unit + n, ".service", sizeof ".service");
        n += (long)strlen(".service");
    }
    return n;
}

static DWORD add_service(rm_buf *b, const WCHAR *name, UINT index)
{
    char unit[RM_UNIT_NAME_MAX + 16];
    long n = rm_unit_name(name, unit, sizeof unit);
    if (n < 0) {
        rm_detail_set("service name %u is not a systemd unit name (letters, "
                      "digits and :-_.@\\, at most %d)", index,
                      RM_UNIT_NAME_MAX);
        return ERROR_BAD_ARGUMENTS;
    }
    rm_rec r = {.kind = RM_REC_SERVICE, .len = (uint32_t)n};
    if (rm_buf_add(b, &r, sizeof r) != 0 ||
        rm_buf_add(b, unit, (size_t)n) != 0)
        return ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

static DWORD add_process(rm_buf *b, const RM_UNIQUE_PROCESS *p)
{
    rm_rec r = {.kind = RM_REC_PROC, .a = p->dwProcessId};
    /* A start time that is not a whole number of clock ticks since boot
     * names no process of this boot: kept, but it can never match. */
    if (rm_procid_ticks(p->ProcessStartTime, &r.b) != 0 || r.b == UINT64_MAX)
        r.b = UINT64_MAX;
    return rm_buf_add(b, &r, sizeof r) == 0 ? ERROR_SUCCESS
                                            : ERROR_OUTOFMEMORY;
}

/* A session's first batch of at most this many bytes (about 130,000 paths)
 * is kept parsed for the session's first list (rm_regcache_prime): the
 * list then does not read and parse it again. A larger one is left to the
 * list, so that registering a million paths costs no more memory than its
 * batch. */
#define PRIME_MAX (8u << 20)

/* Stores one call's records as a new batch file of the session. */
static DWORD write_batch(const rm_handle_info *h, const rm_buf *b)
{
    rm_store st;
    int dirfd = -1;
    DWORD rc = rm_store_open_session(h, &st, &dirfd);
    if (rc == ERROR_SUCCESS) {
        struct stat gst;
        int first = fstatat(dirfd, RM_GENERATION_FILE, &gst,
                            AT_SYMLINK_NOFOLLOW) != 0 &&
                    errno == ENOENT;
        char name[64];
        unsigned char r[8];
        if (rm_random(r, sizeof r) != 0) {
            rm_detail_set("the kernel's random generator failed: %s",
                          strerror(errno));
            rc = ERROR_WRITE_FAULT;
        } else {
            snprintf(name, sizeof name,
                     RM_BATCH_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x", r[0],
                     r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
            /* A new generation first: if the batch then fails, readers
             * merely parse the same registrations again. */
            uint64_t gen;
            if (rm_random(&gen, sizeof gen) != 0 ||
                rm_replace_file_at(dirfd, RM_GENERATION_FILE,
                                   (const char *)&gen, sizeof gen) != 0 ||
                rm_replace_file_at(dirfd, name, b->p, b->len) != 0) {
                rm_detail_set("cannot write to session %s in the store %s: "
                              "%s", h->key, st.path, strerror(errno));
                rc = ERROR_WRITE_FAULT;
            } else if (first && b->len <= PRIME_MAX) {
                /* Under the lock still: nobody has registered since. */
                rm_regcache_prime(h, dirfd, b->p, b->len);
            }
        }
        close(dirfd);
        rm_store_close(&st);
    }
    return rc;
}

/* Stores one checked call's records (rc: how its checks ended) as a batch;
 * frees them. */
static DWORD store_call(const rm_handle_info *h, rm_buf *b, DWORD rc)
{
    if (rc == ERROR_SUCCESS && b->len > RM_STORE_FILE_MAX) {
        /* Readers refuse larger store files (rm_open_store_file). */
        rm_detail_set("the resources of one call take %zu bytes, more than "
                      "the %u a batch may hold; register them in several "
                      "calls", b->len, (unsigned)RM_STORE_FILE_MAX);
        rc = ERROR_BAD_ARGUMENTS;
    }
    if (rc == ERROR_SUCCESS)
        rc = write_batch(h, b);
    free(b->p);
    b->p = NULL;
    return rc;
}

DWORD WINAPI RmRegisterResources(DWORD dwSessionHandle, UINT nFiles,
                                 LPCWSTR rgsFileNames[], UINT nApplications,
                                 RM_UNIQUE_PROCESS rgApplications[],
                                 UINT nServices, LPCWSTR rgsServiceNames[])
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if ((nFiles > 0 && rgsFileNames == NULL) ||
        (nApplications > 0 && rgApplications == NULL) ||
        (nServices > 0 && rgsServiceNames == NULL)) {
        rm_detail_set("a nonzero count comes with a NULL array");
        return ERROR_BAD_ARGUMENTS;
    }
    if (nFiles == 0 && nApplications == 0 && nServices == 0)
        return ERROR_SUCCESS;

    /* Everything is checked and converted before the store is touched, so a
     * bad entry registers nothing. */
    rm_buf b = {0};
    dircache *dc = dircache_new();
    if (dc == NULL ||
        rm_buf_add(&b, RM_BATCH_MAGIC, strlen(RM_BATCH_MAGIC)) != 0)
        rc = ERROR_OUTOFMEMORY;
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nFiles; i++)
        rc = add_file(&b, rgsFileNames[i], i, dc);
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nApplications; i++)
        rc = add_process(&b, &rgApplications[i]);
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nServices; i++)
        rc = add_service(&b, rgsServiceNames[i], i);
    dircache_free(dc);
    return store_call(&h, &b, rc);
}

DWORD rstrtmgr_register_files(DWORD dwSessionHandle, const char *paths,
                              size_t cbPaths, UINT nFiles)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (nFiles == 0)
        return ERROR_SUCCESS;
    if (paths == NULL || paths[cbPaths] != '\0') {
        rm_detail_set("the paths are one NUL-terminated buffer");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_buf b = {0};
    dircache *dc = dircache_new();
    /* Room made once: a record a path, and about the paths' own bytes. */
    size_t want = strlen(RM_BATCH_MAGIC) + (size_t)nFiles * sizeof(rm_rec) +
                  cbPaths + 1;
    if (dc == NULL || RM_GROW(b.p, b.cap, want, 4096) != 0 ||
        rm_buf_add(&b, RM_BATCH_MAGIC, strlen(RM_BATCH_MAGIC)) != 0)
        rc = ERROR_OUTOFMEMORY;
    const char *p = paths, *end = paths + cbPaths;
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nFiles; i++) {
        size_t n = p <= end ? strlen(p) : 0; /* paths[cbPaths] ends the last */
        if (p > end || (p == end && i > 0)) {
            rm_detail_set("the buffer holds fewer than %u paths", nFiles);
            rc = ERROR_BAD_ARGUMENTS;
        } else if (n >= PATH_MAX) {
            rm_detail_set("file name %u is longer than %d bytes", i,
                          PATH_MAX - 1);
            rc = ERROR_BAD_ARGUMENTS;
        } else {
            rc = add_path(&b, p, n, i, dc);
        }
        p += n + 1;
    }
    if (rc == ERROR_SUCCESS && p != end + 1) {
        rm_detail_set("the buffer holds more than %u paths", nFiles);
        rc = ERROR_BAD_ARGUMENTS;
    }
    dircache_free(dc);
    return store_call(&h, &b, rc);
}

/* ---- batches built by the project's own registration calls -------------- */

struct rm_batch {
    rm_buf b;
};

rm_batch *rm_batch_new(void)
{
    rm_batch *b = calloc(1, sizeof *b);
    if (b != NULL &&
        rm_buf_add(&b->b, RM_BATCH_MAGIC, strlen(RM_BATCH_MAGIC)) != 0) {
        free(b);
        b = NULL;
    }
    return b;
}

void rm_batch_free(rm_batch *b)
{
    if (b != NULL)
        free(b->b.p);
    free(b);
}

DWORD rm_batch_add_file(rm_batch *b, const char *path, size_t len,
                        uint64_t dev, uint64_t ino, int is_dir)
{
    rm_rec r = {.kind = RM_REC_FILE,
             .flags = RM_REC_HAS_ID | (is_dir ? RM_REC_IS_DIR : 0),
             .len = (uint32_t)len,
             .a = dev,
             .b = ino};
    if (len >= PATH_MAX || rm_buf_add(&b->b, &r, sizeof r) != 0 ||
        rm_buf_add(&b->b, path, len) != 0)
        return len >= PATH_MAX ? ERROR_BAD_ARGUMENTS : ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

DWORD rm_batch_add_stale(rm_batch *b, const char *prefix, size_t len)
{
    rm_rec r = {.kind = RM_REC_STALE, .len = (uint32_t)len};
    if (len >= PATH_MAX || rm_buf_add(&b->b, &r, sizeof r) != 0 ||
        rm_buf_add(&b->b, prefix, len) != 0)
        return len >= PATH_MAX ? ERROR_BAD_ARGUMENTS : ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

DWORD rm_batch_commit(const rm_handle_info *h, const rm_batch *b)
{
    return write_batch(h, &b->b);
}
