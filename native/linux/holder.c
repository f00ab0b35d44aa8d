/* One holder of a session's resources: what RmGetList says about a process
 * that the scan found using them (its names, type, session, restartability
 * and the reboot reasons it causes), judged against an explicit context. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* The service a process belongs to: the last ".service" component of its
 * cgroup (the unified "0::" line, or systemd's own hierarchy on a hybrid
 * setup), so a user service names itself, not user@UID.service. */
static void read_unit(const rm_procdir *proc, char *unit, size_t size)
{
    char buf[4096];
    unit[0] = '\0';
    if (rm_read_small_at(proc->pd, "cgroup", buf, sizeof buf) <= 0)
        return;
    char *path = NULL, *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "0::", 3) == 0 && strcmp(l + 3, "/") != 0)
            path = l + 3;
        else if (path == NULL && strstr(l, ":name=systemd:") != NULL)
            path = strstr(l, ":name=systemd:") + strlen(":name=systemd:");
    }
    if (path == NULL)
        return;
    char *save2 = NULL;
    for (char *c = strtok_r(path, "/", &save2); c != NULL;
         c = strtok_r(NULL, "/", &save2)) {
        size_t n = strlen(c);
        if (n > 8 && strcmp(c + n - 8, ".service") == 0 && n < size)
            memcpy(unit, c, n + 1);
    }
}

static void read_ids(const rm_procdir *proc, uid_t ids[3])
{
    char buf[4096];
    ids[0] = ids[1] = ids[2] = (uid_t)-1;
    if (rm_read_small_at(proc->pd, "status", buf, sizeof buf) <= 0)
        return;
    char *u = strstr(buf, "\nUid:");
    unsigned a, b, c;
    if (u != NULL && sscanf(u + 5, "%u %u %u", &a, &b, &c) == 3) {
        ids[0] = a;
        ids[1] = b;
        ids[2] = c;
    }
}

static DWORD read_session(const rm_procdir *proc)
{
    char buf[32];
    if (rm_read_small_at(proc->pd, "sessionid", buf, sizeof buf) <= 0)
        return (DWORD)RM_INVALID_TS_SESSION;
    return (DWORD)strtoul(buf, NULL, 10); /* unset is 4294967295, i.e. -1 */
}

/* comm is cut at 15 bytes; argv[0] then gives the whole name, as ps does.
 * An interpreter running a script is named after the script. */
static void app_name(const rm_procdir *proc, const char *comm, char *out,
                     size_t size)
{
    snprintf(out, size, "%s", comm);
    int interpreter = rm_is_interpreter(comm);
    if (strlen(comm) < 15 && !interpreter)
        return;
    char buf[4096];
    ssize_t n = rm_read_small_at(proc->pd, "cmdline", buf, sizeof buf);
    if (n <= 0)
        return;
    if (interpreter && rm_script_name(comm, buf, (size_t)n, out, size))
        return;
    const char *base = strrchr(buf, '/');
    base = base != NULL ? base + 1 : buf;
    size_t blen = strlen(base);
    if (strlen(comm) >= 15 && strncmp(base, comm, 15) == 0 && blen < size)
        memcpy(out, base, blen + 1);
}

/* The processes a system cannot lose: the init of this pid namespace, and
 * the service manager, login manager, journal and message bus of the system.
 * A name is what any process may call itself (prctl, /proc/self/comm), so
 * a name counts only with what only root can arrange: the process runs as
 * root (real and effective uid 0) and either from a root-owned executable,
 * not writable by others, in the system's directories, or in a cgroup of a
 * system unit (under system.slice, or init.scope). A user's own manager
 * ("systemd --user") is that user's process: not critical. */
static const char *const critical_names[] = {
    "systemd",     "systemd-logind", "systemd-journal", "dbus-daemon",
    "dbus-broker", "dbus-broker-lau", "init",
};

static int system_executable(int pd)
{
    static const char *const dirs[] = {
        "/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/",
        "/bin/",     "/sbin/",     "/lib/",     "/lib64/",
    };
    char exe[PATH_MAX];
    ssize_t n = readlinkat(pd, "exe", exe, sizeof exe - 1);
    struct stat st;
    if (n <= 0 || fstatat(pd, "exe", &st, 0) != 0 || st.st_uid != 0 ||
        (st.st_mode & 022) != 0)
        return 0;
    exe[n] = '\0';
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (strncmp(exe, dirs[i], strlen(dirs[i])) == 0)
            return 1; /* readlink gives the canonical path: no ".." */
    return 0;
}

static int system_unit_cgroup(const rm_procdir *proc)
{
    char buf[4096];
    if (rm_read_small_at(proc->pd, "cgroup", buf, sizeof buf) <= 0)
        return 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        const char *path = strncmp(l, "0::", 3) == 0 ? l + 3
                           : strstr(l, ":name=systemd:") != NULL
                               ? strstr(l, ":name=systemd:") + 14
                               : NULL;
        if (path != NULL && (strncmp(path, "/system.slice/", 14) == 0 ||
                             strcmp(path, "/init.scope") == 0))
            return 1;
    }
    return 0;
}

/* The effective uid of a process (the second Uid: field of its status). */
static uid_t read_euid(const rm_procdir *proc)
{
    char buf[4096];
    unsigned a, b;
    if (rm_read_small_at(proc->pd, "status", buf, sizeof buf) <= 0)
        return (uid_t)-1;
    char *u = strstr(buf, "\nUid:");
    return u != NULL && sscanf(u + 5, "%u %u", &a, &b) == 2 ? (uid_t)b
                                                          : (uid_t)-1;
}

static int critical_named(const char *comm)
{
    int named = 0;
    for (size_t i = 0; i < sizeof critical_names / sizeof critical_names[0];
         i++)
        named |= strcmp(comm, critical_names[i]) == 0;
    return named;
}

static int is_critical(const rm_procdir *proc, const char *comm,
                       const uid_t ids[3])
{
    if (proc->pid == 1)
        return 1;
    if (!critical_named(comm) || ids[0] != 0 || read_euid(proc) != 0)
        return 0;
    return system_executable(proc->pd) || system_unit_cgroup(proc);
}

static int registered_proc(const rm_resources *r, pid_t pid, uint64_t ticks)
{
    for (size_t i = 0; i < r->nprocs; i++)
        if (r->procs[i].pid == pid && r->procs[i].start_ticks == ticks)
            return 1;
    return 0;
}

static int registered_service(const rm_resources *r, const char *unit)
{
    for (size_t i = 0; unit[0] != '\0' && i < r->nservices; i++)
        if (strcmp(r->services[i], unit) == 0)
            return 1;
    return 0;
}


/* The most restart records listed once for a scan: beyond that, one
 * look-up per holder (a few hundred of them) is cheaper than reading the
 * whole directory. */
#define RECORDS_LISTED 4096

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the restart directory's records (regular files, or entries of an
 * unknown type, which rm_registration_open then looks at) into c. */
static void list_records(rm_holder_ctx *c)
{
    if (c->restart_dir < 0)
        return;
    int fd = openat(c->restart_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t cap = 0;
    int ok = 1;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' ||
            (e->d_type != DT_REG && e->d_type != DT_UNKNOWN))
            continue;
        char *name = NULL;
        ok = c->nrecords < RECORDS_LISTED &&
             RM_GROW(c->records, cap, c->nrecords + 1, 64) == 0 &&
             (name = strdup(e->d_name)) != NULL;
        if (ok)
            c->records[c->nrecords++] = name;
    }
    closedir(d);
    if (!ok) { /* too many, or out of memory: each holder asks */
        for (size_t i = 0; i < c->nrecords; i++)
            free(c->records[i]);
        free(c->records);
        c->records = NULL;
        c->nrecords = 0;
        return;
    }
    if (c->nrecords > 1)
        qsort(c->records, c->nrecords, sizeof *c->records, cmp_name);
    c->records_listed = 1;
}

/* The restart directory a holder's registration is looked for in: none
 * when the listing shows it has no record there. */
static int records_dir(const rm_holder_ctx *c, const rm_procid *id)
{
    if (!c->records_listed)
        return c->restart_dir;
    if (c->nrecords == 0) /* bsearch may not be given no array */
        return RM_NO_RESTART_DIR;
    char name[64];
    snprintf(name, sizeof name, "%d-%" PRIu64, (int)id->pid, id->start_ticks);
    const char *key = name;
    return bsearch(&key, c->records, c->nrecords, sizeof *c->records,
                   cmp_name) != NULL
               ? c->restart_dir
               : RM_NO_RESTART_DIR;
}

void rm_holder_ctx_init(rm_holder_ctx *c, const rm_handle_info *h,
                        const rm_resources *res)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    c->res = res;
    c->self = rm_procid_self();
    c->ruid = getuid();
    c->euid = geteuid();
    c->details = rm_usage_uids_wanted();
    /* Opened once for every holder's rm_restart_registered. */
    c->restart_dir = rm_restart_dir_open(h->store);
    if (c->restart_dir < 0 && errno == ENOENT)
        c->restart_dir = RM_NO_RESTART_DIR;
    list_records(c);
    char buf[32];
    int fd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    c->self_session = (DWORD)RM_INVALID_TS_SESSION;
    if (fd >= 0) {
        if (rm_read_small_at(fd, "sessionid", buf, sizeof buf) > 0)
            c->self_session = (DWORD)strtoul(buf, NULL, 10);
        close(fd);
    }
}

int rm_holder_add(const rm_holder_ctx *c, rm_procdir *proc, int pidfd,
                  unsigned why, int listed, const rm_pstat *ps, rm_list *out)
{
    if (why == 0 && !listed)
        return 0; /* only unreadable: nothing of it is needed */
    pid_t pid = proc->pid;
    rm_holder hd;
    memset(&hd, 0, sizeof hd);
    hd.pidfd = -1;
    hd.id.pid = pid;
    /* Finer than the tick (pidfs): matched against registrations and used
     * to signal, so a process that got a holder's pid in its tick differs. */
    if (proc->start == 0)
        proc->start = rm_procid_pinned(pidfd, ps->start_ticks);
    hd.id.start_ticks = proc->start;
    read_unit(proc, hd.unit, sizeof hd.unit);
    if (listed) {
        if (registered_proc(c->res, pid, hd.id.start_ticks))
            why |= RM_HOLD_REGISTERED;
        if (registered_service(c->res, hd.unit))
            why |= RM_HOLD_SERVICE;
    }
    if (why == 0)
        return 0;
    if (RM_GROW(out->items, out->cap, out->count + 1, 16) != 0)
        return -1;
    /* status is the dearest of a process's files: its uids are read for
     * kill(2)'s rule (root may signal anyone), for a critical name, and
     * for a list that asks for them (details or uids: the user). */
    uid_t ids[3] = {(uid_t)-1, (uid_t)-1, (uid_t)-1};
    if (c->euid != 0 || critical_named(ps->comm) || c->details)
        read_ids(proc, ids);
    hd.uid = ids[0];
    hd.why = why;
    hd.critical = is_critical(proc, ps->comm, ids);

    RM_PROCESS_INFO *in = &hd.info;
    in->Process.dwProcessId = (DWORD)pid;
    in->Process.ProcessStartTime = rm_procid_filetime(hd.id.start_ticks);
    char name[1024];
    app_name(proc, ps->comm, name, sizeof name);
    rm_bytes_to_utf16(name, strlen(name), in->strAppName,
                      CCH_RM_MAX_APP_NAME + 1);
    rm_bytes_to_utf16(hd.unit, strlen(hd.unit), in->strServiceShortName,
                      CCH_RM_MAX_SVC_NAME + 1);
    int service = hd.unit[0] != '\0';
    in->ApplicationType = hd.critical ? RmCritical
                          : service   ? RmService
                          : ps->tty != 0 ? RmConsole
                                         : RmUnknownApp;
    in->AppStatus = RmStatusRunning;
    in->TSSessionId = read_session(proc);
    in->bRestartable =
        service || rm_restart_registered(c->h, records_dir(c, &hd.id), &hd.id,
                                         proc->pd, c->euid);

    if (pid == c->self.pid && hd.id.start_ticks == c->self.start_ticks)
        hd.reasons |= RmRebootReasonDetectedSelf;
    if (hd.critical)
        hd.reasons |= service ? RmRebootReasonCriticalService
                              : RmRebootReasonCriticalProcess;
    /* kill(2)'s rule: our real or effective uid must be the target's real
     * or saved uid, unless we are root. */
    if (c->euid != 0 && c->ruid != ids[0] && c->ruid != ids[2] &&
        c->euid != ids[0] && c->euid != ids[2])
        hd.reasons |= RmRebootReasonPermissionDenied;
    if (!service && c->self_session != (DWORD)RM_INVALID_TS_SESSION &&
        in->TSSessionId != (DWORD)RM_INVALID_TS_SESSION &&
        in->TSSessionId != c->self_session)
        hd.reasons |= RmRebootReasonSessionMismatch;
    out->reasons |= hd.reasons;
    out->items[out->count++] = hd;
    return 1;
}

void rm_holder_ctx_end(rm_holder_ctx *c)
{
    if (c->restart_dir >= 0)
        close(c->restart_dir);
    c->restart_dir = -1;
    for (size_t i = 0; i < c->nrecords; i++)
        free(c->records[i]);
    free(c->records);
    c->records = NULL;
    c->nrecords = 0;
    c->records_listed = 0;
}

void rm_list_close_pidfds(rm_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        if (l->items[i].pidfd >= 0)
            close(l->items[i].pidfd);
        l->items[i].pidfd = -1;
    }
}

void rm_list_free(rm_list *l)
{
    rm_list_close_pidfds(l);
    for (size_t i = 0; i < l->count; i++)
        rm_usage_free(l->items[i].usage);
    free(l->items);
    memset(l, 0, sizeof *l);
}
