/* Restart registration, Linux's RegisterApplicationRestart: a process records
 * the command line, directory and environment to restart it with, keyed by
 * its pid and start time, in the per-user store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define RESTART_DIR "restart"
#define RESTART_MAGIC "rstrtmgr-restart 1"
/* Windows caps the command line at 1024 WCHARs; the environment makes ours
 * larger, but a registration must stay a small file. */
#define RESTART_MAX_BYTES (1u << 20)

static void entry_name(const rm_procid *id, char *buf, size_t size)
{
    snprintf(buf, size, "%d-%" PRIu64, (int)id->pid, id->start_ticks);
}

static int restart_dirfd(int storefd, int create)
{
    if (create && mkdirat(storefd, RESTART_DIR, 0700) != 0 && errno != EEXIST)
        return -1;
    return openat(storefd, RESTART_DIR,
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Drops the registrations of processes that are gone. */
static void prune(int dirfd)
{
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int pid;
        uint64_t ticks;
        char tail;
        if (de->d_name[0] == '.')
            continue;
        if (sscanf(de->d_name, "%d-%" SCNu64 "%c", &pid, &ticks, &tail) != 2)
            continue;
        rm_procid id = {pid, ticks};
        if (!rm_procid_alive(&id))
            unlinkat(dirfd, de->d_name, 0);
    }
    closedir(d);
}

static int blob_add(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s) + 1;
    if (*len + n > RESTART_MAX_BYTES)
        return -1;
    if (RM_GROW(*buf, *cap, *len + n, 4096) != 0)
        return -1;
    memcpy(*buf + *len, s, n);
    *len += n;
    return 0;
}

DWORD rstrtmgr_register_restart(const char *const *argv, UINT argc,
                                const char *cwd, const char *const *envp,
                                UINT envc)
{
    rm_detail_clear();
    if (argv == NULL || argc == 0 || cwd == NULL || cwd[0] != '/' ||
        (envc > 0 && envp == NULL)) {
        rm_detail_set("a restart registration needs a command line of at "
                      "least one argument and an absolute directory");
        return ERROR_BAD_ARGUMENTS;
    }
    char *buf = NULL, num[32];
    size_t len = 0, cap = 0;
    int bad = blob_add(&buf, &len, &cap, RESTART_MAGIC);
    snprintf(num, sizeof num, "%u", (unsigned)argc);
    bad |= blob_add(&buf, &len, &cap, num);
    for (UINT i = 0; i < argc && !bad; i++)
        bad |= argv[i] == NULL || blob_add(&buf, &len, &cap, argv[i]);
    bad |= blob_add(&buf, &len, &cap, cwd);
    snprintf(num, sizeof num, "%u", (unsigned)envc);
    bad |= blob_add(&buf, &len, &cap, num);
    for (UINT i = 0; i < envc && !bad; i++)
        bad |= envp[i] == NULL || blob_add(&buf, &len, &cap, envp[i]);
    if (bad) {
        free(buf);
        rm_detail_set("the restart command line is NULL somewhere or larger "
                      "than %u bytes with its environment",
                      RESTART_MAX_BYTES);
        return ERROR_BAD_ARGUMENTS;
    }
    rm_procid self = rm_procid_self();
    rm_store st;
    DWORD rc = rm_store_open_locked(NULL, &st);
    if (rc != ERROR_SUCCESS) {
        free(buf);
        return rc;
    }
    int dirfd = restart_dirfd(st.dirfd, 1);
    char name[64];
    entry_name(&self, name, sizeof name);
    if (dirfd < 0 || rm_replace_file_at(dirfd, name, buf, len) != 0) {
        rm_detail_set("cannot record the restart command in the store %s: %s",
                      st.path, strerror(errno));
        rc = ERROR_WRITE_FAULT;
    }
    if (dirfd >= 0) {
        prune(dirfd);
        close(dirfd);
    }
    rm_store_close(&st);
    free(buf);
    return rc;
}

DWORD rstrtmgr_unregister_restart(void)
{
    rm_detail_clear();
    rm_procid self = rm_procid_self();
    rm_store st;
    DWORD rc = rm_store_open_locked(NULL, &st);
    if (rc != ERROR_SUCCESS)
        return rc;
    int dirfd = restart_dirfd(st.dirfd, 0);
    if (dirfd >= 0) {
        char name[64];
        entry_name(&self, name, sizeof name);
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
            rm_detail_set("cannot remove the restart registration: %s",
                          strerror(errno));
            rc = ERROR_WRITE_FAULT;
        }
        close(dirfd);
    }
    rm_store_close(&st);
    return rc;
}

int rm_restart_registered(const rm_handle_info *h, const rm_procid *id)
{
    int fd = rm_registration_open(h, id, NULL);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

void rm_restart_cmd_free(rm_restart_cmd *c)
{
    free(c->blob);
    free(c->argv);
    memset(c, 0, sizeof *c);
}

/* Splits a registration's NUL-separated fields into argv, cwd and envp. */
int rm_restart_cmd_parse(rm_restart_cmd *c)
{
    char *p = c->blob, *end = c->blob + c->len;
    size_t nfields = 0;
    for (char *q = p; q < end; q++)
        nfields += *q == '\0';
    if (c->len == 0 || end[-1] != '\0' || strcmp(p, RESTART_MAGIC) != 0)
        return -1;
    c->argv = calloc(nfields + 2, sizeof *c->argv);
    if (c->argv == NULL)
        return -1;
    p += strlen(p) + 1;
    unsigned long argc = p < end ? strtoul(p, NULL, 10) : 0;
    if (argc == 0 || argc >= nfields)
        return -1;
    p += strlen(p) + 1;
    for (unsigned long i = 0; i < argc; i++) {
        if (p >= end)
            return -1;
        c->argv[i] = p;
        p += strlen(p) + 1;
    }
    c->argv[argc] = NULL;
    if (p >= end)
        return -1;
    c->cwd = p;
    p += strlen(p) + 1;
    unsigned long envc = p < end ? strtoul(p, NULL, 10) : 0;
    if (p < end)
        p += strlen(p) + 1;
    c->envp = c->argv + argc + 1;
    for (unsigned long i = 0; i < envc; i++) {
        if (p >= end || argc + 1 + i >= nfields + 1)
            return -1;
        c->envp[i] = p;
        p += strlen(p) + 1;
    }
    c->envp[envc] = NULL;
    return 0;
}

/* Registrations are replaced atomically, so a reader never sees half of
 * one and needs no lock. */
int rm_restart_cmd_load(const rm_handle_info *h, const rm_procid *id,
                        rm_restart_cmd *out, rm_runas *as)
{
    memset(out, 0, sizeof *out);
    int fd = rm_registration_open(h, id, as);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > RESTART_MAX_BYTES) {
        close(fd);
        return -1;
    }
    out->blob = malloc((size_t)st.st_size + 1);
    ssize_t n = out->blob ? read(fd, out->blob, (size_t)st.st_size) : -1;
    close(fd);
    if (n != st.st_size) {
        rm_restart_cmd_free(out);
        return -1;
    }
    out->len = (size_t)n;
    return 0;
}
