/* rstrtmgr_register_stale on Linux: what an upgrade left behind. The
 * session's list then also holds the processes that execute, map or hold
 * open a file deleted or replaced since (the kernel shows it as "PATH
 * (deleted)") under the given paths; with none, the processes whose
 * executable or mappings are such files anywhere (deleted data files held
 * open are everyday business: logs, temporary files). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Names that are deleted by design, never an upgrade's leftovers: memfd,
 * POSIX and System V shared memory, shared anonymous mappings. */
static const char *const never_stale[] = {"/memfd:", "/dev/shm/", "/SYSV",
                                          "/dev/zero", "/[aio]",
                                          "/anon_hugepage", "/dmabuf:"};

int rm_stale_name(const rm_resources *r, const char *path, size_t len,
                  int code)
{
    for (size_t i = 0; i < sizeof never_stale / sizeof never_stale[0]; i++)
        if (strncmp(path, never_stale[i], strlen(never_stale[i])) == 0)
            return 0;
    return rm_resources_stale_path(r, path, len) ||
           (code && r->stale_anywhere && len > 0 && path[0] == '/');
}

DWORD rstrtmgr_register_stale(DWORD dwSessionHandle, const LPCWSTR *paths,
                              UINT nPaths)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (nPaths > 0 && paths == NULL) {
        rm_detail_set("a nonzero count comes with a NULL array");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_batch *b = rm_batch_new();
    if (b == NULL)
        return ERROR_OUTOFMEMORY;
    if (nPaths == 0)
        rc = rm_batch_add_stale(b, "", 0);
    for (UINT i = 0; rc == ERROR_SUCCESS && i < nPaths; i++) {
        char given[PATH_MAX];
        if (paths[i] == NULL ||
            rm_utf16_to_bytes(paths[i], given, sizeof given) <= 0 ||
            given[0] != '/') {
            rm_detail_set("path %u is NULL, not a full path or not valid "
                          "UTF-16", i);
            rc = ERROR_BAD_ARGUMENTS;
            break;
        }
        /* As the kernel prints paths: symbolic links resolved. A path that
         * is gone (a deleted package's directory) is kept as given. */
        char *real = realpath(given, NULL);
        const char *use = real != NULL ? real : given;
        size_t n = strlen(use);
        while (n > 1 && use[n - 1] == '/')
            n--;
        rc = rm_batch_add_stale(b, use, n);
        free(real);
    }
    if (rc == ERROR_SUCCESS)
        rc = rm_batch_commit(&h, b);
    rm_batch_free(b);
    return rc;
}
