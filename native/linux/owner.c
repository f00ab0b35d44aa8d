/* Whose restart registration a process's is, where it is, and as whom it
 * is restarted.
 *
 * A process's registration is looked for only in the store of the process's
 * own user: the uid U that its real, effective, saved and file-system uids
 * all are (a process with mixed uids, e.g. a set-uid program, has none and
 * is not restartable). For U = the caller's effective uid that is the
 * session's own store. A root caller also looks for any U, first where the
 * process itself put it, then at U's default places:
 *   1. $RSTRTMGR_STATE_DIR of the process's initial environment
 *      (/proc/PID/environ, read through the same /proc/PID as its uids and
 *      start time, so all three are one process's),
 *   2. $XDG_RUNTIME_DIR/rstrtmgr of that environment,
 *   3. /run/user/U/rstrtmgr,
 *   4. /tmp/rstrtmgr-U.
 * Each is walked from / one component at a time, never through a symbolic
 * link, and used only when the store and its restart directory belong to U
 * and are closed to others; the record must be a regular file of U's with
 * one link, writable by U only. Whatever such a record says runs as U and
 * only as U (launch.c), so an environment that names the store decides
 * nothing that root runs: the user could have written the same record in
 * their default store. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define RESTART_DIR "restart"
/* The environment a process started with can be large; the two names are
 * looked for in its first 256 KiB. */
#define ENVIRON_MAX (256u * 1024u)

/* The uid that all four of a process's uids are, and its real gid; -1 when
 * they differ or cannot be read. */
static int whole_owner(int pd, uid_t *uid, gid_t *gid)
{
    char buf[4096];
    if (rm_read_small_at(pd, "status", buf, sizeof buf) <= 0)
        return -1;
    const char *u = strstr(buf, "\nUid:");
    const char *g = strstr(buf, "\nGid:");
    unsigned r, e, s, f, rg;
    if (u == NULL || g == NULL ||
        sscanf(u + 5, "%u %u %u %u", &r, &e, &s, &f) != 4 ||
        sscanf(g + 5, "%u", &rg) != 1 || r != e || r != s || r != f)
        return -1;
    *uid = (uid_t)r;
    *gid = (gid_t)rg;
    return 0;
}

/* Opens the directory `path` (absolute) one component at a time without
 * following a symbolic link, as an O_PATH descriptor; -1 with errno. */
static int open_dir_nofollow(const char *path)
{
    if (path[0] != '/')
        return errno = EINVAL, -1;
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    const char *p = path;
    while (fd >= 0) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            return fd;
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char name[NAME_MAX + 1];
        if (n > NAME_MAX || (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(fd);
            return errno = EINVAL, -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        int next = openat(fd, name,
                          O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
        p += n;
    }
    return -1;
}

/* dirfd's directory belongs to uid and others cannot write it (the store:
 * nor read or enter it). */
static int dir_is_users(int dirfd, uid_t uid, mode_t forbidden)
{
    struct stat st;
    return fstat(dirfd, &st) == 0 && S_ISDIR(st.st_mode) &&
           st.st_uid == uid && (st.st_mode & forbidden) == 0;
}

/* Opens the record `name` of the store storefd, checked as uid's: its fd,
 * or -1. */
static int open_record(int storefd, const char *name, uid_t uid)
{
    int dirfd = openat(storefd, RESTART_DIR,
                       O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    int fd = -1;
    if (dir_is_users(dirfd, uid, 0022))
        fd = openat(dirfd, name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    close(dirfd);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
                    st.st_uid != uid || st.st_nlink != 1 ||
                    (st.st_mode & 0022) != 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The record `name` in the store at `path`, checked as uid's. */
static int open_in_store(const char *path, const char *name, uid_t uid,
                         int strict)
{
    int storefd = strict ? open_dir_nofollow(path)
                         : open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW |
                                          O_CLOEXEC);
    if (storefd < 0)
        return -1;
    int fd = dir_is_users(storefd, uid, 0077)
                 ? open_record(storefd, name, uid)
                 : -1;
    close(storefd);
    return fd;
}

int rm_restart_dir_open(const char *store)
{
    int storefd = open(store, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (storefd < 0)
        return -1;
    int dirfd = openat(storefd, RESTART_DIR,
                       O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(storefd);
    return dirfd;
}

/* Whether the store at `path` has a record `name` at all: the scan asks
 * this of every holder, and most have none. dirfd: its restart directory,
 * RM_NO_RESTART_DIR when it has none, -1 to open it now. */
static int record_exists(const char *path, int dirfd, const char *name)
{
    if (dirfd == RM_NO_RESTART_DIR)
        return 0;
    int own = dirfd < 0;
    if (own)
        dirfd = rm_restart_dir_open(path);
    struct stat st;
    int found = dirfd >= 0 &&
                fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode);
    if (own && dirfd >= 0)
        close(dirfd);
    return found;
}

/* The value of NAME in a NUL-separated environment block, or NULL. */
static const char *env_value(const char *env, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = env; p < env + len; p += strlen(p) + 1)
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return p + n + 1;
    return NULL;
}

/* Reads the initial environment of the process pd into a malloc'd,
 * NUL-terminated block; NULL when unreadable. */
static char *read_environ(int pd, size_t *len)
{
    int fd = openat(pd, "environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(ENVIRON_MAX + 1);
    size_t n = 0;
    while (buf != NULL && n < ENVIRON_MAX) {
        ssize_t r = read(fd, buf + n, ENVIRON_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* The record of process `name` in one of uid's stores that root may trust
 * (the candidates above). */
static int open_users_record(int pd, const char *name, uid_t uid)
{
    size_t len = 0;
    char *env = read_environ(pd, &len);
    char path[PATH_MAX];
    int fd = -1;
    const char *v;
    if (env != NULL && (v = env_value(env, len, "RSTRTMGR_STATE_DIR")) &&
        v[0] == '/')
        fd = open_in_store(v, name, uid, 1);
    if (fd < 0 && env != NULL &&
        (v = env_value(env, len, "XDG_RUNTIME_DIR")) && v[0] == '/' &&
        snprintf(path, sizeof path, "%s/rstrtmgr", v) < (int)sizeof path)
        fd = open_in_store(path, name, uid, 1);
    free(env);
    if (fd < 0) {
        snprintf(path, sizeof path, "/run/user/%u/rstrtmgr", (unsigned)uid);
        fd = open_in_store(path, name, uid, 1);
    }
    if (fd < 0) {
        snprintf(path, sizeof path, "/tmp/rstrtmgr-%u", (unsigned)uid);
        fd = open_in_store(path, name, uid, 1);
    }
    return fd;
}

int rm_registration_open(const rm_handle_info *h, int dirfd,
                         const rm_procid *id, int procfd, uid_t me,
                         rm_runas *as)
{
    char name[64], proc[32];
    snprintf(name, sizeof name, "%d-%" PRIu64, (int)id->pid, id->start_ticks);
    snprintf(proc, sizeof proc, "/proc/%d", (int)id->pid);
    /* Most holders have no registration: the session's own store answers
     * first, as cheaply as it can; only a record found, or for root a
     * process of another user, costs /proc reads. /proc/PID belongs to the
     * effective uid (to root when the process is not dumpable: such a
     * process is not judged a user's); a caller that is not root looks no
     * further than its own store, so it asks nothing of /proc here. */
    int fd = record_exists(h->store, dirfd, name)
                 ? open_in_store(h->store, name, me, 0)
                 : -1;
    if (fd < 0 && me != 0)
        return -1;
    /* The scan's kept directory of the process, when it gives one: the
     * owner is asked of it (fstat recomputes it from the task), not of a
     * path looked up again. */
    int pd = procfd >= 0 ? procfd
                         : open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (pd < 0 || (fd < 0 && (fstat(pd, &st) != 0 || st.st_uid == 0))) {
        if (pd >= 0 && pd != procfd)
            close(pd);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uid_t uid;
    gid_t gid;
    rm_pstat ps;
    /* One /proc/PID throughout: its uids and environment are this
     * process's, whose start time is checked. */
    int ok = whole_owner(pd, &uid, &gid) == 0 &&
             rm_pstat_at(pd, "stat", &ps) == 0 &&
             rm_procid_refine(pd, id->pid, ps.start_ticks) == id->start_ticks;
    if (ok && fd < 0)
        fd = open_users_record(pd, name, uid);
    else if (fd >= 0 && (!ok || uid != me)) {
        close(fd); /* a record of ours naming a process that is not */
        fd = -1;
    }
    if (pd != procfd)
        close(pd);
    if (fd >= 0 && as != NULL) {
        as->uid = uid;
        as->gid = gid;
        as->other_user = uid != me;
    }
    return fd;
}

int rm_runas_groups(const rm_runas *as, gid_t *gid, gid_t **groups,
                    int *ngroups)
{
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t bufsize = size > 0 ? (size_t)size : 16384;
    char *buf = malloc(bufsize);
    struct passwd pw, *found = NULL;
    *groups = NULL;
    *ngroups = 0;
    if (buf == NULL)
        return -1;
    if (getpwuid_r(as->uid, &pw, buf, bufsize, &found) != 0 || found == NULL) {
        /* No account: its real gid alone, as the process had it. */
        free(buf);
        *gid = as->gid;
        if ((*groups = malloc(sizeof **groups)) == NULL)
            return -1;
        (*groups)[0] = as->gid;
        *ngroups = 1;
        return 0;
    }
    /* initgroups(3)'s groups: the account's, as the user database says. */
    *gid = pw.pw_gid;
    int n = 32;
    for (int tries = 0; tries < 3; tries++) {
        gid_t *g = realloc(*groups, (size_t)n * sizeof *g);
        if (g == NULL)
            break;
        *groups = g;
        int want = n;
        if (getgrouplist(pw.pw_name, pw.pw_gid, g, &want) >= 0) {
            *ngroups = want;
            free(buf);
            return 0;
        }
        n = want > n ? want : n * 2; /* getgrouplist said how many */
    }
    free(buf);
    free(*groups);
    *groups = NULL;
    return -1;
}
