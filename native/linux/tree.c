/* rstrtmgr_register_tree on Linux: a directory tree's files and directories
 * registered in one batch, walked natively (getdents64 and statx relative to
 * each directory, never following a symbolic link). */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

#define TREE_MAX_DEPTH 256
#define TREE_FLAGS RSTRTMGR_TREE_ONE_FILE_SYSTEM
#define TREE_STATX_FLAGS \
    (AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT)

typedef struct patterns {
    char **items;
    UINT count;
} patterns;

typedef struct walk {
    rm_batch *batch;
    patterns include, exclude;
    int one_fs;
    uint64_t root_dev;
    char path[PATH_MAX]; /* canonical root, then the current entry */
    size_t root_len;     /* where the relative path starts (after "/") */
    DWORD rc;
} walk;

static void patterns_free(patterns *p)
{
    for (UINT i = 0; i < p->count; i++)
        free(p->items[i]);
    free(p->items);
    memset(p, 0, sizeof *p);
}

static DWORD patterns_load(patterns *p, const LPCWSTR *in, UINT n,
                           const char *what)
{
    memset(p, 0, sizeof *p);
    if (n > 0 && in == NULL) {
        rm_detail_set("%u %s patterns come with a NULL array", n, what);
        return ERROR_BAD_ARGUMENTS;
    }
    if (n == 0)
        return ERROR_SUCCESS;
    p->items = calloc(n, sizeof *p->items);
    if (p->items == NULL)
        return ERROR_OUTOFMEMORY;
    for (UINT i = 0; i < n; i++) {
        char buf[PATH_MAX];
        long len = in[i] == NULL ? -1 : rm_utf16_to_bytes(in[i], buf, sizeof buf);
        if (len <= 0) {
            rm_detail_set("%s pattern %u is NULL, empty or not valid UTF-16",
                          what, i);
            return ERROR_BAD_ARGUMENTS;
        }
        p->items[i] = strdup(buf);
        if (p->items[i] == NULL)
            return ERROR_OUTOFMEMORY;
        p->count = i + 1;
    }
    return ERROR_SUCCESS;
}

/* A pattern with a "/" matches the path relative to the root, one without
 * matches the entry's name; "*" also matches "/" (fnmatch without
 * FNM_PATHNAME), as Inno Setup's CloseApplicationsFilter does, and a
 * backslash is an ordinary character, as in Python's fnmatch (the facade's
 * walk elsewhere). */
static int matches(const patterns *p, const char *rel, const char *name)
{
    for (UINT i = 0; i < p->count; i++) {
        const char *subject = strchr(p->items[i], '/') != NULL ? rel : name;
        if (fnmatch(p->items[i], subject, FNM_NOESCAPE) == 0)
            return 1;
    }
    return 0;
}

static void add(walk *w, size_t len, const struct statx *sx, int is_dir)
{
    uint64_t dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
    DWORD rc = rm_batch_add_file(w->batch, w->path, len, dev, sx->stx_ino,
                                 is_dir);
    if (rc != ERROR_SUCCESS)
        w->rc = rc;
}

/* Walks the directory open as dfd whose canonical path is w->path[0..len). */
static void walk_dir(walk *w, int dfd, size_t len, int depth)
{
    char *dents = malloc(32768);
    if (dents == NULL) {
        w->rc = ERROR_OUTOFMEMORY;
        return;
    }
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, dents, 32768);
        if (n <= 0)
            break;
        for (long off = 0; off < n && w->rc == ERROR_SUCCESS;) {
            rm_dirent64 *d = (void *)(dents + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            if (name[0] == '.' &&
                (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            if (d->d_type == DT_LNK)
                continue; /* never followed: its target is elsewhere */
            size_t nl = strlen(name);
            if (len + 1 + nl >= sizeof w->path)
                continue; /* no process can name it either */
            w->path[len] = '/';
            memcpy(w->path + len + 1, name, nl + 1);
            size_t plen = len + 1 + nl;
            const char *rel = w->path + w->root_len;
            struct statx sx;
            if (statx(dfd, name, TREE_STATX_FLAGS, STATX_TYPE | STATX_INO,
                      &sx) != 0)
                continue; /* gone meanwhile */
            if (S_ISDIR(sx.stx_mode)) {
                if (matches(&w->exclude, rel, name))
                    continue;
                uint64_t dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
                if (w->one_fs && dev != w->root_dev)
                    continue;
                add(w, plen, &sx, 1);
                if (depth + 1 >= TREE_MAX_DEPTH)
                    continue;
                int sub = openat(dfd, name,
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                     O_CLOEXEC);
                if (sub >= 0) {
                    walk_dir(w, sub, plen, depth + 1);
                    close(sub);
                }
            } else if (S_ISREG(sx.stx_mode)) {
                if ((w->include.count == 0 ||
                     matches(&w->include, rel, name)) &&
                    !matches(&w->exclude, rel, name))
                    add(w, plen, &sx, 0);
            }
        }
        if (w->rc != ERROR_SUCCESS)
            break;
    }
    free(dents);
}

DWORD rstrtmgr_register_tree(DWORD dwSessionHandle, LPCWSTR root,
                             const LPCWSTR *includes, UINT nIncludes,
                             const LPCWSTR *excludes, UINT nExcludes,
                             DWORD flags)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (root == NULL || (flags & ~(DWORD)TREE_FLAGS) != 0) {
        rm_detail_set("rstrtmgr_register_tree needs a root, and flags of "
                      "RSTRTMGR_TREE_* only");
        return ERROR_BAD_ARGUMENTS;
    }
    char given[PATH_MAX];
    if (rm_utf16_to_bytes(root, given, sizeof given) <= 0 || given[0] != '/') {
        rm_detail_set("the tree's root is not a full path (or not valid "
                      "UTF-16)");
        return ERROR_BAD_ARGUMENTS;
    }
    walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return ERROR_OUTOFMEMORY;
    w->one_fs = (flags & RSTRTMGR_TREE_ONE_FILE_SYSTEM) != 0;
    rc = patterns_load(&w->include, includes, nIncludes, "include");
    if (rc == ERROR_SUCCESS)
        rc = patterns_load(&w->exclude, excludes, nExcludes, "exclude");
    int dfd = -1;
    if (rc == ERROR_SUCCESS) {
        dfd = open(given, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            int e = errno;
            rm_detail_set("cannot open the tree %s: %s", given, strerror(e));
            rc = e == ENOENT     ? ERROR_PATH_NOT_FOUND
                 : e == ENOTDIR  ? ERROR_BAD_ARGUMENTS
                 : e == EACCES   ? ERROR_ACCESS_DENIED
                                 : ERROR_BAD_ARGUMENTS;
            if (e == ENOTDIR)
                rm_detail_set("%s is not a directory: register files with "
                              "RmRegisterResources", given);
        }
    }
    struct statx sx;
    if (rc == ERROR_SUCCESS &&
        statx(dfd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO, &sx) != 0)
        rc = ERROR_BAD_ARGUMENTS;
    /* The canonical spelling, as the kernel prints the paths of processes'
     * files, so that a deleted file's "PATH (deleted)" is recognised. */
    if (rc == ERROR_SUCCESS) {
        char *real = realpath(given, NULL);
        size_t n = real != NULL ? strlen(real) : 0;
        if (real == NULL || n >= sizeof w->path) {
            rm_detail_set("cannot resolve the tree %s", given);
            rc = ERROR_BAD_ARGUMENTS;
        } else {
            if (n == 1) /* "/": entries start right after it */
                n = 0;
            memcpy(w->path, real, n);
            w->path[n] = '\0';
            w->root_len = n + 1;
        }
        free(real);
    }
    if (rc == ERROR_SUCCESS) {
        w->root_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        w->batch = rm_batch_new();
        if (w->batch == NULL)
            rc = ERROR_OUTOFMEMORY;
    }
    if (rc == ERROR_SUCCESS) {
        size_t n = w->root_len - 1;
        if (n == 0) { /* the root directory itself, named "/" */
            w->path[0] = '/';
            w->path[1] = '\0';
            rc = rm_batch_add_file(w->batch, w->path, 1,
                                   makedev(sx.stx_dev_major, sx.stx_dev_minor),
                                   sx.stx_ino, 1);
            w->path[0] = '\0';
        } else {
            add(w, n, &sx, 1);
            rc = w->rc;
        }
    }
    if (rc == ERROR_SUCCESS) {
        walk_dir(w, dfd, w->root_len - 1, 0);
        rc = w->rc;
    }
    if (rc == ERROR_OUTOFMEMORY)
        rm_detail_set("out of memory while walking the tree");
    /* Nothing is registered unless the whole walk succeeded. */
    if (rc == ERROR_SUCCESS)
        rc = rm_batch_commit(&h, w->batch);
    rm_batch_free(w->batch);
    if (dfd >= 0)
        close(dfd);
    patterns_free(&w->include);
    patterns_free(&w->exclude);
    free(w);
    return rc;
}
