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

/* Records the registration of process id: argv, cwd, envp, then `mark` (a
 * last field with no "=", so never an environment entry) unless NULL. */
static DWORD register_for(const rm_procid *id, const char *const *argv,
                          UINT argc, const char *cwd, const char *const *envp,
                          UINT envc, const char *mark)
{
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
    if (mark != NULL && !bad)
        bad |= blob_add(&buf, &len, &cap, mark);
    if (bad) {
        free(buf);
        rm_detail_set("the restart command line is NULL somewhere or larger "
                      "than %u bytes with its environment",
                      RESTART_MAX_BYTES);
        return ERROR_BAD_ARGUMENTS;
    }
    rm_store st;
    DWORD rc = rm_store_open_locked(NULL, &st);
    if (rc != ERROR_SUCCESS) {
        free(buf);
        return rc;
    }
    int dirfd = restart_dirfd(st.dirfd, 1);
    char name[64];
    entry_name(id, name, sizeof name);
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

DWORD rstrtmgr_register_restart(const char *const *argv, UINT argc,
                                const char *cwd, const char *const *envp,
                                UINT envc)
{
    rm_detail_clear();
    rm_procid self = rm_procid_self();
    return register_for(&self, argv, argc, cwd, envp, envc, NULL);
}

/* ---- PyInstaller one-file programs: the bootloader and its child ---------- */

/* The last field of a bootloader's registration: the child it is restarted
 * through, "rstrtmgr-restarted-through PID-TICKS". */
#define THROUGH_MARK "rstrtmgr-restarted-through "

/* Whether process pid runs the same executable as this process, as this
 * user. */
static int runs_this_program(pid_t pid)
{
    char path[64];
    struct stat mine, theirs, dir;
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    if (stat(path, &dir) != 0 || dir.st_uid != geteuid())
        return 0;
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    return stat("/proc/self/exe", &mine) == 0 && stat(path, &theirs) == 0 &&
           mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
}

DWORD rstrtmgr_register_restart_bootloader(const char *const *argv,
                                           UINT argc, const char *cwd,
                                           const char *const *envp, UINT envc)
{
    rm_detail_clear();
    rm_procid self = rm_procid_self(), parent;
    if (rm_procid_of(getppid(), &parent) != 0 ||
        !runs_this_program(parent.pid)) {
        rm_detail_set("the parent process is not this program's bootloader "
                      "(the same executable, run by the same user)");
        return ERROR_INVALID_PARAMETER;
    }
    char mark[96];
    snprintf(mark, sizeof mark, THROUGH_MARK "%d-%" PRIu64, (int)self.pid,
             self.start_ticks);
    return register_for(&parent, argv, argc, cwd, envp, envc, mark);
}

/* The last field of a registration, where the marks are; "" if none. */
static const char *last_field(const char *blob, size_t len)
{
    if (len < 2 || blob[len - 1] != '\0')
        return "";
    const char *last = blob + len - 1;
    while (last > blob && last[-1] != '\0')
        last--;
    return last;
}

int rm_restart_through(const char *blob, size_t len, rm_procid *child)
{
    const char *last = last_field(blob, len);
    int pid;
    uint64_t ticks;
    char tail;
    if (strncmp(last, THROUGH_MARK, strlen(THROUGH_MARK)) != 0 ||
        sscanf(last + strlen(THROUGH_MARK), "%d-%" SCNu64 "%c", &pid, &ticks,
               &tail) != 2)
        return 0;
    child->pid = pid;
    child->start_ticks = ticks;
    return 1;
}

/* ---- rstrtmgr launch: registrations that outlive a restart ---------------- */

/* The last field of a launcher's registration: RmRestart registers the
 * program it starts from it with the same record. */
#define KEEP_MARK "rstrtmgr-keep-registered"

DWORD rstrtmgr_register_launch(const char *const *argv, UINT argc,
                               const char *cwd, const char *const *envp,
                               UINT envc)
{
    rm_detail_clear();
    rm_procid self = rm_procid_self();
    return register_for(&self, argv, argc, cwd, envp, envc, KEEP_MARK);
}

int rm_restart_keeps(const char *blob, size_t len)
{
    return strcmp(last_field(blob, len), KEEP_MARK) == 0;
}

int rm_restart_register_again(const rm_procid *id, const char *blob,
                              size_t len)
{
    /* Only a program that runs as the caller: a record from another user's
     * store never enters the caller's, where the caller would trust it. */
    char path[64];
    struct stat dir;
    snprintf(path, sizeof path, "/proc/%d", (int)id->pid);
    if (stat(path, &dir) != 0 || dir.st_uid != geteuid() ||
        !rm_restart_keeps(blob, len))
        return -1;
    rm_store st;
    if (rm_store_open_locked(NULL, &st) != ERROR_SUCCESS)
        return -1;
    int dirfd = restart_dirfd(st.dirfd, 1), rc = -1;
    char name[64];
    entry_name(id, name, sizeof name);
    if (dirfd >= 0 && rm_procid_alive(id))
        rc = rm_replace_file_at(dirfd, name, blob, len);
    if (dirfd >= 0)
        close(dirfd);
    rm_store_close(&st);
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

int rm_restart_registered(const rm_handle_info *h, int dirfd,
                          const rm_procid *id, int procfd, uid_t me)
{
    int fd = rm_registration_open(h, dirfd, id, procfd, me, NULL);
    struct stat st;
    /* One rm_restart_cmd_load would refuse is no registration. */
    int found = fd >= 0 && fstat(fd, &st) == 0 &&
                (uint64_t)st.st_size <= RESTART_MAX_BYTES;
    if (fd >= 0)
        close(fd);
    return found;
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
    int fd = rm_registration_open(h, -1, id, -1, geteuid(), as);
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
