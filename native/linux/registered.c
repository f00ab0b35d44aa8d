/* A session's registrations as one value: read from its batch files,
 * checked record by record, and queried by the scan (by file identity, by
 * path, by stale path). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rm_resources_clear(rm_resources *r)
{
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
    size_t j = rm_hash_bytes(path, len) & r->paths_mask;
    while (r->paths[j] != NULL) {
        const char *p = r->paths[j];
        if (strncmp(p, path, len) == 0 && p[len] == '\0')
            return 1;
        j = (j + 1) & r->paths_mask;
    }
    return 0;
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
                         rm_buf *paths, rm_buf *services, rm_buf *stale)
{
    size_t off = strlen(RM_BATCH_MAGIC);
    if (len < off || memcmp(p, RM_BATCH_MAGIC, off) != 0)
        return ERROR_WRITE_FAULT;
    /* Room made once for the batch's identities and strings (its strings
     * fit in its own length), so that a large batch is not rehashed and
     * copied again at each doubling. The records are only counted here;
     * the loop below checks them. */
    size_t ids = 0;
    for (size_t at = off; len - at >= sizeof(rm_rec);) {
        rm_rec rc;
        memcpy(&rc, p + at, sizeof rc);
        at += sizeof rc;
        if (rc.len > len - at)
            break;
        at += rc.len;
        ids += rc.kind == RM_REC_FILE && (rc.flags & RM_REC_HAS_ID);
    }
    if (rm_fidset_reserve(&r->ids, ids) != 0 ||
        RM_GROW(r->arena, r->arena_cap, r->arena_len + len, 65536) != 0)
        return ERROR_OUTOFMEMORY;
    while (off < len) {
        rm_rec rc;
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
        if ((rc.kind == RM_REC_FILE &&
             (rc.len == 0 || text[0] != '/' || memchr(text, 0, rc.len))) ||
            (rc.kind == RM_REC_SERVICE &&
             (rc.len == 0 || rc.len > RM_UNIT_NAME_MAX ||
              memchr(text, 0, rc.len))) ||
            (rc.kind == RM_REC_PROC && (rc.a == 0 || rc.a > RM_PID_MAX)))
            return ERROR_WRITE_FAULT;
        if (rc.kind == RM_REC_FILE || rc.kind == RM_REC_SERVICE) {
            if (rc.kind == RM_REC_FILE && (rc.flags & RM_REC_HAS_ID) &&
                rm_fidset_put(&r->ids, rc.a, rc.b, 1) != 0)
                return ERROR_OUTOFMEMORY;
            if (rc.kind == RM_REC_FILE && (rc.flags & RM_REC_IS_DIR))
                r->ndirs++;
            size_t at = r->arena_len;
            if (RM_GROW(r->arena, r->arena_cap, r->arena_len + rc.len + 1,
                        65536) != 0)
                return ERROR_OUTOFMEMORY;
            memcpy(r->arena + at, text, rc.len);
            r->arena[at + rc.len] = '\0';
            r->arena_len += rc.len + 1;
            if (rm_buf_add(rc.kind == RM_REC_FILE ? paths : services, &at,
                        sizeof at) != 0)
                return ERROR_OUTOFMEMORY;
        } else if (rc.kind == RM_REC_STALE) {
            if (rc.len == 0) {
                r->stale_anywhere = 1;
                continue;
            }
            size_t at = r->arena_len;
            if (RM_GROW(r->arena, r->arena_cap, r->arena_len + rc.len + 1,
                        65536) != 0 ||
                rm_buf_add(stale, &at, sizeof at) != 0)
                return ERROR_OUTOFMEMORY;
            memcpy(r->arena + at, text, rc.len);
            r->arena[at + rc.len] = '\0';
            r->arena_len += rc.len + 1;
        } else if (rc.kind == RM_REC_PROC) {
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

static DWORD build_paths(rm_resources *r, const rm_buf *paths)
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
        /* One hash a path: its slot, or the same path already there. */
        size_t j = rm_hash_bytes(s, len) & r->paths_mask;
        while (r->paths[j] != NULL && strcmp(r->paths[j], s) != 0)
            j = (j + 1) & r->paths_mask;
        if (r->paths[j] != NULL)
            continue;
        r->paths[j] = s;
        r->npaths++;
    }
    return ERROR_SUCCESS;
}

/* The strings at the arena offsets in `at`, as a malloc'd array into *out
 * (NULL when there are none): their count, or -1 when out of memory. */
static long arena_strings(const rm_resources *r, const rm_buf *at,
                          char ***out)
{
    size_t n = at->len / sizeof(size_t);
    *out = NULL;
    if (n == 0)
        return 0;
    *out = malloc(n * sizeof **out);
    if (*out == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t off;
        memcpy(&off, at->p + i * sizeof off, sizeof off);
        (*out)[i] = r->arena + off;
    }
    return (long)n;
}

static DWORD build_services(rm_resources *r, const rm_buf *services)
{
    long n = arena_strings(r, services, &r->services);
    if (n < 0)
        return ERROR_OUTOFMEMORY;
    for (long i = 0; i < n; i++) {
        char *s = r->services[i];
        int dup = 0;
        for (size_t k = 0; k < r->nservices && !dup; k++)
            dup = strcmp(r->services[k], s) == 0;
        if (!dup)
            r->services[r->nservices++] = s;
    }
    r->services_cap = (size_t)n;
    return ERROR_SUCCESS;
}

static DWORD build_stale(rm_resources *r, const rm_buf *stale)
{
    long n = arena_strings(r, stale, &r->stale);
    if (n < 0)
        return ERROR_OUTOFMEMORY;
    r->nstale = (size_t)n;
    return ERROR_SUCCESS;
}

/* Builds the look-up tables of what parse_batch gathered; frees the
 * offsets; clears *out when rc is a failure. */
static DWORD finish(rm_resources *out, DWORD rc, rm_buf *paths,
                    rm_buf *services, rm_buf *stale)
{
    if (rc == ERROR_SUCCESS)
        rc = build_paths(out, paths);
    if (rc == ERROR_SUCCESS)
        rc = build_services(out, services);
    if (rc == ERROR_SUCCESS)
        rc = build_stale(out, stale);
    if (rc == ERROR_SUCCESS && out->nprocs > 1)
        qsort(out->procs, out->nprocs, sizeof *out->procs, cmp_proc);
    free(paths->p);
    free(services->p);
    free(stale->p);
    if (rc != ERROR_SUCCESS)
        rm_resources_clear(out);
    return rc;
}

/* Reads every batch of the session directory dirfd (of session h in the
 * store `store`) into *out. */
DWORD rm_resources_read(int dirfd, const rm_handle_info *h,
                        const char *store, rm_resources *out)
{
    memset(out, 0, sizeof *out);
    DWORD rc = ERROR_SUCCESS;
    rm_buf paths = {0}, services = {0}, stale = {0};
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL) {
        rm_detail_set("cannot list session %s in the store %s: %s", h->key,
                      store, strerror(errno));
        rc = ERROR_WRITE_FAULT;
    }
    struct dirent *de;
    while (rc == ERROR_SUCCESS && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, RM_BATCH_PREFIX,
                    strlen(RM_BATCH_PREFIX)) != 0)
            continue;
        size_t len = 0;
        char *text = rm_read_file_at(dirfd, de->d_name, &len);
        if (text == NULL) {
            rm_detail_set("cannot read %s of session %s in the store %s: %s",
                          de->d_name, h->key, store, strerror(errno));
            rc = ERROR_WRITE_FAULT;
            break;
        }
        rc = parse_batch(out, text, len, &paths, &services, &stale);
        free(text);
        if (rc == ERROR_WRITE_FAULT)
            rm_detail_set("%s of session %s in the store %s is not readable",
                          de->d_name, h->key, store);
    }
    if (d != NULL)
        closedir(d);
    return finish(out, rc, &paths, &services, &stale);
}

DWORD rm_resources_parse(const char *batch, size_t len, rm_resources *out)
{
    memset(out, 0, sizeof *out);
    rm_buf paths = {0}, services = {0}, stale = {0};
    DWORD rc = parse_batch(out, batch, len, &paths, &services, &stale);
    return finish(out, rc, &paths, &services, &stale);
}
