/* RmRegisterResources on Linux, and reading a session's registrations back. */
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

#define BATCH_PREFIX "batch-"
#define GENERATION "generation"
#define BATCH_MAGIC "rstrtmgr-batch 1\n"
#define MAX_UNIT_NAME 255

/* One record of a batch file. The store is private to one user on one
 * machine, so native byte order is fine; `len` bytes of text follow. */
enum { REC_FILE = 'F', REC_PROC = 'P', REC_SERVICE = 'S', REC_STALE = 'D' };
/* REC_IS_DIR: a directory of a registered tree (its users: a working
 * directory or an open directory). REC_STALE's text is a path under which
 * deleted files count, or empty for anywhere. */
enum { REC_HAS_ID = 0x1, REC_IS_DIR = 0x2 };
typedef struct rec {
    uint8_t kind;
    uint8_t flags;
    uint16_t reserved;
    uint32_t len;
    uint64_t a; /* file: dev; process: pid */
    uint64_t b; /* file: inode; process: start ticks */
} rec;

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const void *data, size_t len)
{
    if (RM_GROW(b->p, b->cap, b->len + len, 4096) != 0)
        return -1;
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return rm_mix64(h);
}

/* ---- validation and conversion of one call ------------------------------ */

/* The canonical spelling of a directory, cached because an installer's files
 * come in runs from the same few directories. */
typedef struct dircache {
    char dir[PATH_MAX];
    size_t dirlen;
    char real[PATH_MAX];
    size_t reallen;
    int valid;
} dircache;

/* Fills `out` with the path the kernel will print for this file ("/proc/PID/
 * maps", fd links): symlinks and "." / ".." resolved, so that a replaced
 * file's "PATH (deleted)" entries can be recognised. Falls back to the
 * path as given when it cannot be resolved (a missing directory). */
static size_t canonical(const char *path, size_t len, int is_link,
                        dircache *dc, char *out)
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
    const char *slash = strrchr(path, '/');
    size_t dirlen = (size_t)(slash - path);
    const char *base = slash + 1;
    size_t baselen = len - dirlen - 1;
    if (!dc->valid || dc->dirlen != dirlen ||
        memcmp(dc->dir, path, dirlen) != 0) {
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

static DWORD add_file(buf *b, const WCHAR *name, UINT index, dircache *dc)
{
    char path[PATH_MAX], canon[PATH_MAX];
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
    if (path[0] != '/') {
        rm_detail_set("file name %u (%s) is not a full path", index, path);
        return ERROR_BAD_ARGUMENTS;
    }
    rec r = {.kind = REC_FILE};
    struct stat st;
    int is_link = -1; /* -1: nothing there to identify */
    /* The identity is taken now, so that the processes still holding this
     * very file are found after an installer has renamed a new one over it. */
    if (lstat(path, &st) == 0) {
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
        r.flags = REC_HAS_ID;
        r.a = (uint64_t)st.st_dev;
        r.b = (uint64_t)st.st_ino;
    }
    /* A file that does not exist (yet, or any more) is still registered: its
     * old holders show it as "PATH (deleted)". */
    size_t cl = canonical(path, (size_t)n, is_link == 1, dc, canon);
    r.len = (uint32_t)cl;
    if (buf_add(b, &r, sizeof r) != 0 || buf_add(b, canon, cl) != 0)
        return ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

static int unit_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == ':' || c == '-' || c == '_' ||
           c == '.' || c == '@' || c == '\\';
}

long rm_unit_name(const WCHAR *name, char *unit, size_t size)
{
    if (name == NULL || size < MAX_UNIT_NAME + 1)
        return -1;
    long n = rm_utf16_to_bytes(name, unit, MAX_UNIT_NAME + 1);
    int ok = n > 0;
    for (long i = 0; ok && i < n; i++)
        ok = unit_char(unit[i]);
    if (!ok)
        return -1;
    /* "ssh" means "ssh.service", as systemctl reads it. */
    const char *dot = strrchr(unit, '.');
    if (dot == NULL || dot == unit || strchr(dot, '@') != NULL) {
        if (n + (long)strlen(".service") > MAX_UNIT_NAME)
            return -1;
        memcpy(unit + n, ".service", sizeof ".service");
        n += (long)strlen(".service");
    }
    return n;
}

static DWORD add_service(buf *b, const WCHAR *name, UINT index)
{
    char unit[MAX_UNIT_NAME + 16];
    long n = rm_unit_name(name, unit, sizeof unit);
    if (n < 0) {
        rm_detail_set("service name %u is not a systemd unit name (letters, "
                      "digits and :-_.@\\, at most %d)", index, MAX_UNIT_NAME);
        return ERROR_BAD_ARGUMENTS;
    }
    rec r = {.kind = REC_SERVICE, .len = (uint32_t)n};
    if (buf_add(b, &r, sizeof r) != 0 || buf_add(b, unit, (size_t)n) != 0)
        return ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

static DWORD add_process(buf *b, const RM_UNIQUE_PROCESS *p)
{
    rec r = {.kind = REC_PROC, .a = p->dwProcessId};
    /* A start time that is not a whole number of clock ticks since boot
     * names no process of this boot: kept, but it can never match. */
    if (rm_procid_ticks(p->ProcessStartTime, &r.b) != 0 || r.b == UINT64_MAX)
        r.b = UINT64_MAX;
    return buf_add(b, &r, sizeof r) == 0 ? ERROR_SUCCESS : ERROR_OUTOFMEMORY;
}

/* Stores one call's records as a new batch file of the session. */
static DWORD write_batch(const rm_handle_info *h, const buf *b)
{
    rm_store st;
    int dirfd = -1;
    DWORD rc = rm_store_open_session(h, &st, &dirfd);
    if (rc == ERROR_SUCCESS) {
        char name[64];
        unsigned char r[8];
        if (rm_random(r, sizeof r) != 0) {
            rm_detail_set("the kernel's random generator failed: %s",
                          strerror(errno));
            rc = ERROR_WRITE_FAULT;
        } else {
            snprintf(name, sizeof name,
                     BATCH_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x", r[0],
                     r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
            /* A new generation first: if the batch then fails, readers
             * merely parse the same registrations again. */
            uint64_t gen;
            if (rm_random(&gen, sizeof gen) != 0 ||
                rm_replace_file_at(dirfd, GENERATION, (const char *)&gen,
                                   sizeof gen) != 0 ||
                rm_replace_file_at(dirfd, name, b->p, b->len) != 0) {
                rm_detail_set("cannot write to session %s in the store %s: "
                              "%s", h->key, st.path, strerror(errno));
                rc = ERROR_WRITE_FAULT;
            }
        }
        close(dirfd);
        rm_store_close(&st);
    }
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
    buf b = {0};
    dircache *dc = calloc(1, sizeof *dc);
    if (dc == NULL || buf_add(&b, BATCH_MAGIC, strlen(BATCH_MAGIC)) != 0)
        rc = ERROR_OUTOFMEMORY;
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nFiles; i++)
        rc = add_file(&b, rgsFileNames[i], i, dc);
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nApplications; i++)
        rc = add_process(&b, &rgApplications[i]);
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nServices; i++)
        rc = add_service(&b, rgsServiceNames[i], i);
    free(dc);
    if (rc == ERROR_SUCCESS && b.len > RM_STORE_FILE_MAX) {
        /* Readers refuse larger store files (rm_open_store_file). */
        rm_detail_set("the resources of one call take %zu bytes, more than "
                      "the %u a batch may hold; register them in several "
                      "calls", b.len, (unsigned)RM_STORE_FILE_MAX);
        rc = ERROR_BAD_ARGUMENTS;
    }
    if (rc != ERROR_SUCCESS) {
        free(b.p);
        return rc;
    }

    rc = write_batch(&h, &b);
    free(b.p);
    return rc;
}

/* ---- reading the registrations back ------------------------------------- */

void rm_resources_free(rm_resources *r)
{
    if (r->shared != NULL) {
        rm_regcache_release(r);
        return;
    }
    rm_fidset_free(&r->ids);
    free(r->paths);
    free(r->arena);
    free(r->procs);
    free(r->services);
    free(r->stale);
    memset(r, 0, sizeof *r);
}

int rm_resources_has_id(const rm_resources *r, uint64_t dev, uint64_t ino)
{
    return rm_fidset_get(&r->ids, dev, ino) != 0;
}

int rm_resources_has_path(const rm_resources *r, const char *path,
                          size_t len)
{
    if (r->npaths == 0)
        return 0;
    size_t j = hash_bytes(path, len) & r->paths_mask;
    while (r->paths[j] != NULL) {
        const char *p = r->paths[j];
        if (strncmp(p, path, len) == 0 && p[len] == '\0')
            return 1;
        j = (j + 1) & r->paths_mask;
    }
    return 0;
}

static int cmp_proc(const void *a, const void *b)
{
    const rm_procid *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->start_ticks < y->start_ticks   ? -1
           : x->start_ticks > y->start_ticks ? 1
                                             : 0;
}

/* Arena offsets are stored while loading (the arena moves as it grows) and
 * turned into pointers at the end. */
static DWORD parse_batch(rm_resources *r, const char *p, size_t len,
                         buf *paths, buf *services, buf *stale)
{
    size_t off = strlen(BATCH_MAGIC);
    if (len < off || memcmp(p, BATCH_MAGIC, off) != 0)
        return ERROR_WRITE_FAULT;
    while (off < len) {
        rec rc;
        if (len - off < sizeof rc)
            return ERROR_WRITE_FAULT;
        memcpy(&rc, p + off, sizeof rc);
        off += sizeof rc;
        if (rc.len > len - off || rc.len >= PATH_MAX)
            return ERROR_WRITE_FAULT;
        const char *text = p + off;
        off += rc.len;
        /* Every value checked: a path is absolute, a unit name at most 255
         * bytes, neither holds a NUL, a process has a pid Linux can give. */
        if ((rc.kind == REC_FILE &&
             (rc.len == 0 || text[0] != '/' || memchr(text, 0, rc.len))) ||
            (rc.kind == REC_SERVICE &&
             (rc.len == 0 || rc.len > MAX_UNIT_NAME || memchr(text, 0, rc.len))) ||
            (rc.kind == REC_PROC && (rc.a == 0 || rc.a > RM_PID_MAX)))
            return ERROR_WRITE_FAULT;
        if (rc.kind == REC_FILE || rc.kind == REC_SERVICE) {
            if (rc.kind == REC_FILE && (rc.flags & REC_HAS_ID) &&
                rm_fidset_put(&r->ids, rc.a, rc.b, 1) != 0)
                return ERROR_OUTOFMEMORY;
            if (rc.kind == REC_FILE && (rc.flags & REC_IS_DIR))
                r->ndirs++;
            size_t at = r->arena_len;
            if (RM_GROW(r->arena, r->arena_cap, r->arena_len + rc.len + 1,
                        65536) != 0)
                return ERROR_OUTOFMEMORY;
            memcpy(r->arena + at, text, rc.len);
            r->arena[at + rc.len] = '\0';
            r->arena_len += rc.len + 1;
            if (buf_add(rc.kind == REC_FILE ? paths : services, &at,
                        sizeof at) != 0)
                return ERROR_OUTOFMEMORY;
        } else if (rc.kind == REC_STALE) {
            if (rc.len == 0) {
                r->stale_anywhere = 1;
                continue;
            }
            size_t at = r->arena_len;
            if (RM_GROW(r->arena, r->arena_cap, r->arena_len + rc.len + 1,
                        65536) != 0 ||
                buf_add(stale, &at, sizeof at) != 0)
                return ERROR_OUTOFMEMORY;
            memcpy(r->arena + at, text, rc.len);
            r->arena[at + rc.len] = '\0';
            r->arena_len += rc.len + 1;
        } else if (rc.kind == REC_PROC) {
            if (RM_GROW(r->procs, r->procs_cap, r->nprocs + 1, 16) != 0)
                return ERROR_OUTOFMEMORY;
            r->procs[r->nprocs].pid = (pid_t)rc.a;
            r->procs[r->nprocs].start_ticks = rc.b;
            r->nprocs++;
        }
        /* Unknown kinds are a later version's: skipped by their length. */
    }
    return ERROR_SUCCESS;
}

static DWORD build_paths(rm_resources *r, const buf *paths)
{
    size_t n = paths->len / sizeof(size_t);
    if (n == 0)
        return ERROR_SUCCESS;
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    r->paths = calloc(cap, sizeof *r->paths);
    if (r->paths == NULL)
        return ERROR_OUTOFMEMORY;
    r->paths_mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t at;
        memcpy(&at, paths->p + i * sizeof at, sizeof at);
        const char *s = r->arena + at;
        size_t len = strlen(s);
        if (rm_resources_has_path(r, s, len))
            continue;
        size_t j = hash_bytes(s, len) & r->paths_mask;
        while (r->paths[j] != NULL)
            j = (j + 1) & r->paths_mask;
        r->paths[j] = s;
        r->npaths++;
    }
    return ERROR_SUCCESS;
}

static DWORD build_services(rm_resources *r, const buf *services)
{
    size_t n = services->len / sizeof(size_t);
    if (n == 0)
        return ERROR_SUCCESS;
    r->services = malloc(n * sizeof *r->services);
    if (r->services == NULL)
        return ERROR_OUTOFMEMORY;
    for (size_t i = 0; i < n; i++) {
        size_t at;
        memcpy(&at, services->p + i * sizeof at, sizeof at);
        char *s = r->arena + at;
        int dup = 0;
        for (size_t k = 0; k < r->nservices && !dup; k++)
            dup = strcmp(r->services[k], s) == 0;
        if (!dup)
            r->services[r->nservices++] = s;
    }
    r->services_cap = n;
    return ERROR_SUCCESS;
}

/* The session's generation; 0 (never written) when it has none. */
static uint64_t read_generation(int dirfd)
{
    size_t len = 0;
    uint64_t gen = 0;
    char *text = rm_read_file_at(dirfd, GENERATION, &len);
    if (text != NULL && len == sizeof gen)
        memcpy(&gen, text, sizeof gen);
    free(text);
    return gen;
}

/* The session's batch files as they are now, in one value: each one's name,
 * inode, size, type, owner and change time (which every write, rename or
 * chown moves). A batch replaced behind the store's back (not by
 * RmRegisterResources, which writes a new generation) changes it, and is
 * then read, and judged, again. 0 when the directory cannot be read. */
static uint64_t batches_fingerprint(int dirfd)
{
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL)
        return 0;
    uint64_t fp = 0x9E3779B97F4A7C15ULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, BATCH_PREFIX, strlen(BATCH_PREFIX)) != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            fp = 0;
            break;
        }
        uint64_t x = hash_bytes(de->d_name, strlen(de->d_name));
        x = rm_mix64(x ^ (uint64_t)st.st_ino);
        x = rm_mix64(x ^ (uint64_t)st.st_dev);
        x = rm_mix64(x ^ (uint64_t)st.st_size);
        x = rm_mix64(x ^ ((uint64_t)st.st_mode << 32 | (uint64_t)st.st_uid));
        x = rm_mix64(x ^ ((uint64_t)st.st_ctim.tv_sec * 1000000000u +
                          (uint64_t)st.st_ctim.tv_nsec));
        fp += x; /* whatever order readdir gives */
    }
    closedir(d);
    return fp;
}

static DWORD build_stale(rm_resources *r, const buf *stale)
{
    size_t n = stale->len / sizeof(size_t);
    if (n == 0)
        return ERROR_SUCCESS;
    r->stale = malloc(n * sizeof *r->stale);
    if (r->stale == NULL)
        return ERROR_OUTOFMEMORY;
    for (size_t i = 0; i < n; i++) {
        size_t at;
        memcpy(&at, stale->p + i * sizeof at, sizeof at);
        r->stale[i] = r->arena + at;
    }
    r->nstale = n;
    return ERROR_SUCCESS;
}

DWORD rm_resources_load(const rm_handle_info *h, rm_resources *out)
{
    memset(out, 0, sizeof *out);
    rm_store st;
    int dirfd;
    DWORD rc = rm_store_open_session(h, &st, &dirfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    /* What is kept is used while the generation and the batch files are
     * those it was parsed from. */
    uint64_t gen = read_generation(dirfd);
    if (gen != 0) {
        uint64_t fp = batches_fingerprint(dirfd);
        gen = fp != 0 ? rm_mix64(gen) ^ fp : 0;
    }
    if (gen != 0 && rm_regcache_get(h, gen, out)) {
        close(dirfd);
        rm_store_close(&st);
        return ERROR_SUCCESS;
    }
    buf paths = {0}, services = {0}, stale = {0};
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL) {
        rm_detail_set("cannot list session %s in the store %s: %s", h->key,
                      st.path, strerror(errno));
        rc = ERROR_WRITE_FAULT;
    }
    struct dirent *de;
    while (rc == ERROR_SUCCESS && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, BATCH_PREFIX, strlen(BATCH_PREFIX)) != 0)
            continue;
        size_t len = 0;
        char *text = rm_read_file_at(dirfd, de->d_name, &len);
        if (text == NULL) {
            rm_detail_set("cannot read %s of session %s in the store %s: %s",
                          de->d_name, h->key, st.path, strerror(errno));
            rc = ERROR_WRITE_FAULT;
            break;
        }
        rc = parse_batch(out, text, len, &paths, &services, &stale);
        free(text);
        if (rc == ERROR_WRITE_FAULT)
            rm_detail_set("%s of session %s in the store %s is not readable",
                          de->d_name, h->key, st.path);
    }
    if (d != NULL)
        closedir(d);
    close(dirfd);
    rm_store_close(&st);
    if (rc == ERROR_SUCCESS)
        rc = build_paths(out, &paths);
    if (rc == ERROR_SUCCESS)
        rc = build_services(out, &services);
    if (rc == ERROR_SUCCESS)
        rc = build_stale(out, &stale);
    if (rc == ERROR_SUCCESS && out->nprocs > 1)
        qsort(out->procs, out->nprocs, sizeof *out->procs, cmp_proc);
    free(paths.p);
    free(services.p);
    free(stale.p);
    if (rc != ERROR_SUCCESS)
        rm_resources_free(out);
    else if (gen != 0)
        rm_regcache_put(h, gen, out);
    return rc;
}

/* ---- batches built by the project's own registration calls ---------------- */

struct rm_batch {
    buf b;
};

rm_batch *rm_batch_new(void)
{
    rm_batch *b = calloc(1, sizeof *b);
    if (b != NULL && buf_add(&b->b, BATCH_MAGIC, strlen(BATCH_MAGIC)) != 0) {
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
    rec r = {.kind = REC_FILE,
             .flags = REC_HAS_ID | (is_dir ? REC_IS_DIR : 0),
             .len = (uint32_t)len,
             .a = dev,
             .b = ino};
    if (len >= PATH_MAX || buf_add(&b->b, &r, sizeof r) != 0 ||
        buf_add(&b->b, path, len) != 0)
        return len >= PATH_MAX ? ERROR_BAD_ARGUMENTS : ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

DWORD rm_batch_add_stale(rm_batch *b, const char *prefix, size_t len)
{
    rec r = {.kind = REC_STALE, .len = (uint32_t)len};
    if (len >= PATH_MAX || buf_add(&b->b, &r, sizeof r) != 0 ||
        buf_add(&b->b, prefix, len) != 0)
        return len >= PATH_MAX ? ERROR_BAD_ARGUMENTS : ERROR_OUTOFMEMORY;
    return ERROR_SUCCESS;
}

DWORD rm_batch_commit(const rm_handle_info *h, const rm_batch *b)
{
    return write_batch(h, &b->b);
}

int rm_resources_stale_path(const rm_resources *r, const char *path,
                            size_t len)
{
    for (size_t i = 0; i < r->nstale; i++) {
        size_t n = strlen(r->stale[i]);
        if (n == 1 && r->stale[i][0] == '/')
            return 1;
        if (n <= len && memcmp(r->stale[i], path, n) == 0 &&
            (n == len || path[n] == '/'))
            return 1;
    }
    return 0;
}
