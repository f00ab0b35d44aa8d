/* RmRestart on Linux: starts again what the session's RmShutdown stopped,
 * services through systemctl and registered commands detached from the
 * caller (launch.c), in the reverse of the shutdown order; then watches the
 * started programs for the session's settle time, all at once, and calls a
 * program that exits within it ErrorOnRestart. What happened to each is
 * kept in the session's record for rstrtmgr_restart_outcome. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SETTLE_NAME "settle"
#define DEFAULT_SETTLE_MS 2000u
/* How long past the settle time a watcher may take to report (an exec from
 * a slow disk) before its program counts as started but unverified. */
#define REPORT_SLACK_MS 10000u

/* ---- the settle time ------------------------------------------------------- */

static DWORD settle_read(int sessfd)
{
    size_t n;
    char *buf = rm_read_file_at(sessfd, SETTLE_NAME, &n);
    unsigned ms;
    DWORD v = buf != NULL && sscanf(buf, "%u", &ms) == 1 ? ms
                                                         : DEFAULT_SETTLE_MS;
    free(buf);
    return v;
}

DWORD rstrtmgr_set_restart_settle_time(DWORD dwSessionHandle, DWORD dwSettleMs)
{
    rm_detail_clear();
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%u\n", (unsigned)dwSettleMs);
    return rm_primary_set_file(dwSessionHandle,
                               "only the session's primary restarts",
                               SETTLE_NAME, "settle time", buf, (size_t)n);
}

/* ---- one restart ----------------------------------------------------------- */

typedef struct pending {
    rm_stopped *x;
    rm_restart_cmd cmd;
    gid_t *groups;
    rm_log log;
} pending;

/* Prepares and starts x's command; 0, or -1 with x's outcome set. */
static int start_one(pending *pd, rm_launch *l, rm_stopped *x, int storefd,
                     int nullfd, DWORD settle_ms)
{
    memset(pd, 0, sizeof *pd);
    memset(l, 0, sizeof *l);
    pd->x = x;
    pd->log.wfd = pd->log.rfd = pd->log.dirfd = -1;
    pd->cmd.blob = x->cmd;
    pd->cmd.len = x->cmd_len;
    int err = EINVAL;
    if (rm_restart_cmd_parse(&pd->cmd) != 0)
        goto fail;
    l->argv = pd->cmd.argv;
    l->envp = pd->cmd.envp;
    l->cwd = pd->cmd.cwd;
    l->settle_ms = settle_ms;
    l->nullfd = nullfd;
    if (x->other_user) {
        rm_runas as = {(uid_t)x->run_uid, (gid_t)x->run_gid, 1};
        err = EPERM;
        if (geteuid() != 0 || rm_runas_groups(&as, &l->gid, &pd->groups,
                                              &l->ngroups) != 0)
            goto fail;
        l->other_user = 1;
        l->uid = as.uid;
        l->groups = pd->groups;
    }
    if (rm_log_create(storefd, &pd->log) != 0 ||
        (l->logfd = pd->log.wfd, rm_launch_start(l) != 0)) {
        err = errno;
        goto fail;
    }
    return 0;
fail:
    x->result = RSTRTMGR_RESTART_NOT_STARTED;
    x->code = err;
    l->result = RSTRTMGR_RESTART_NOT_STARTED;
    l->code = err;
    l->fd = -1;
    l->watcher = -1;
    return -1;
}

/* Takes what the launch found into x's outcome; 1 when it failed. */
static int finish_one(pending *pd, const rm_launch *l)
{
    rm_stopped *x = pd->x;
    x->result = l->result;
    x->code = l->code;
    x->settle_ms = l->settle_ms;
    memset(&x->new_id, 0, sizeof x->new_id);
    if (l->started) {
        x->new_id.pid = l->pid;
        x->new_id.start_ticks = l->ticks;
    }
    free(x->tail);
    x->tail = NULL;
    x->tail_len = rm_log_finish(&pd->log, l->started ? &x->new_id : NULL,
                                &x->tail);
    free(pd->cmd.argv);
    free(pd->groups);
    int ok = x->result == RSTRTMGR_RESTART_RUNNING;
    x->info.AppStatus = ok ? RmStatusRestarted : RmStatusErrorOnRestart;
    /* A program of rstrtmgr launch stays restartable (the caller's own). */
    if (ok && l->started && !x->other_user &&
        rm_restart_keeps(x->cmd, x->cmd_len))
        rm_restart_register_again(&x->new_id, x->cmd, x->cmd_len);
    return !ok;
}

/* A shutdown is when an installer renames new files over the registered
 * paths, and a registration identifies a file by the inode it named then.
 * After the restart the file now at each registered path is registered too,
 * so that RmGetList finds the restarted programs that opened it. */
static void follow_replaced_files(const rm_handle_info *h)
{
    rm_resources r;
    if (rm_resources_load(h, &r) != ERROR_SUCCESS)
        return;
    rm_batch *b = rm_batch_new();
    int added = 0;
    for (size_t j = 0; b != NULL && r.paths != NULL && j <= r.paths_mask; j++) {
        const char *p = r.paths[j];
        struct stat st;
        if (p == NULL || stat(p, &st) != 0 || S_ISDIR(st.st_mode) ||
            rm_resources_has_id(&r, (uint64_t)st.st_dev, (uint64_t)st.st_ino))
            continue;
        added |= rm_batch_add_file(b, p, strlen(p), (uint64_t)st.st_dev,
                                   (uint64_t)st.st_ino, 0) == ERROR_SUCCESS;
    }
    if (added)
        (void)rm_batch_commit(h, b); /* a courtesy: the restart is done */
    rm_batch_free(b);
    rm_resources_free(&r);
}

DWORD WINAPI RmRestart(DWORD dwSessionHandle, DWORD dwRestartFlags,
                       RM_WRITE_STATUS_CALLBACK fnStatus)
{
    rm_detail_clear();
    if (dwRestartFlags != 0) {
        rm_detail_set("RmRestart's flags are reserved and must be 0");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_handle_info h;
    rm_store st;
    int sessfd;
    DWORD rc = rm_open_primary(dwSessionHandle, &h, &st, &sessfd, "restart");
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_outcome s;
    rm_filters f;
    memset(&f, 0, sizeof f);
    DWORD settle_ms = settle_read(sessfd);
    rc = rm_outcome_read(sessfd, &s);
    if (rc == ERROR_SUCCESS)
        rc = rm_filters_read(sessfd, &f);
    close(sessfd);
    /* The store's directory stays open for the logs; the lock is not held
     * while programs settle. */
    int storefd = dup(st.dirfd);
    rm_store_close(&st);
    if (rc == ERROR_SUCCESS && !s.done) {
        rm_detail_set("RmRestart restarts what RmShutdown stopped; this "
                      "session has not shut anything down");
        rc = ERROR_REQUEST_OUT_OF_SEQUENCE;
    }
    size_t nstart = 0;
    for (size_t i = 0; i < s.count; i++)
        nstart += s.items[i].info.AppStatus == RmStatusStopped &&
                  s.items[i].cmd_len > 0 && s.items[i].unit[0] == '\0';
    pending *pds = calloc(nstart + 1, sizeof *pds);
    rm_launch *ls = calloc(nstart + 1, sizeof *ls);
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    rm_task t;
    if (rc == ERROR_SUCCESS &&
        (storefd < 0 || pds == NULL || ls == NULL || nullfd < 0 ||
         rm_task_begin(&t, dwSessionHandle) != 0)) {
        rm_detail_set("cannot prepare the restart: %s", strerror(errno));
        rc = ERROR_OUTOFMEMORY;
    }
    if (rc != ERROR_SUCCESS) {
        free(pds);
        free(ls);
        if (nullfd >= 0)
            close(nullfd);
        if (storefd >= 0)
            close(storefd);
        rm_outcome_free(&s);
        rm_filters_free(&f);
        return rc;
    }
    rm_logs_prune(storefd);
    rm_progress p = {fnStatus, 0, 0, 0};
    for (size_t i = 0; i < s.count; i++)
        p.total += s.items[i].info.AppStatus == RmStatusStopped;
    p.total += settle_ms > 0 ? nstart : 0; /* each start, then its verdict */
    rm_progress_report(&p, 0);
    int failed = 0, cancelled = 0;
    size_t k = 0;
    /* The reverse of the shutdown order: services first. */
    for (int g = 2; g >= 0 && !cancelled; g--)
        for (size_t i = 0; i < s.count && !cancelled; i++) {
            rm_stopped *x = &s.items[i];
            if (x->group != g || x->info.AppStatus != RmStatusStopped)
                continue;
            if (rm_task_cancelled(&t)) {
                cancelled = 1;
                break;
            }
            unsigned actions = rm_filters_match(&f, &x->id, x->unit, x->exe,
                                                x->exe_dev, x->exe_ino);
            if (actions & (1u << RmNoRestart)) {
                x->info.AppStatus = RmStatusRestartMasked;
            } else if (g == 2 && x->unit[0] != '\0') {
                int ok = rm_systemd_running() &&
                         rm_systemctl("start", x->unit) == 0;
                x->result = ok ? RSTRTMGR_RESTART_RUNNING
                               : RSTRTMGR_RESTART_NOT_STARTED;
                x->info.AppStatus = ok ? RmStatusRestarted
                                       : RmStatusErrorOnRestart;
                failed |= !ok;
            } else if (x->cmd_len == 0 || x->unit[0] != '\0') {
                continue; /* not registered for restart: left stopped */
            } else {
                /* its steps come as its watcher reports */
                if (start_one(&pds[k], &ls[k], x, storefd, nullfd,
                              settle_ms) != 0 &&
                    settle_ms > 0)
                    rm_progress_step(&p);
                k++;
                if (ls[k - 1].watcher > 0)
                    continue;
            }
            rm_progress_step(&p);
        }
    if (rm_launch_wait(ls, k, rm_now_ms() + settle_ms + REPORT_SLACK_MS, &t,
                       &p))
        cancelled = 1;
    for (size_t j = 0; j < k; j++)
        failed |= finish_one(&pds[j], &ls[j]);
    rm_task_end(&t);
    close(nullfd);
    close(storefd);
    free(pds);
    free(ls);
    rc = rm_outcome_save(&h, &s);
    rm_outcome_free(&s);
    rm_filters_free(&f);
    if (rc != ERROR_SUCCESS)
        return rc;
    follow_replaced_files(&h);
    if (cancelled) {
        rm_detail_set("RmCancelCurrentTask stopped the restart");
        return ERROR_CANCELLED;
    }
    rm_progress_report(&p, 100);
    if (failed) {
        rm_detail_set("some processes could not be restarted or exited "
                      "within the settle time (%u ms); "
                      "rstrtmgr_restart_outcome says how each ended",
                      (unsigned)settle_ms);
        return ERROR_FAIL_RESTART;
    }
    return ERROR_SUCCESS;
}

/* ---- what became of each ------------------------------------------------- */

static void put_unique(RM_UNIQUE_PROCESS *u, const rm_procid *id)
{
    u->dwProcessId = (DWORD)id->pid;
    u->ProcessStartTime = id->pid > 0 ? rm_procid_filetime(id->start_ticks)
                                      : (FILETIME){0, 0};
}

DWORD rstrtmgr_restart_outcome(DWORD dwSessionHandle,
                               const RM_UNIQUE_PROCESS *pProcess,
                               RSTRTMGR_RESTART_OUTCOME *pOutcome,
                               char *pOutput, DWORD cbOutput)
{
    rm_detail_clear();
    if (pProcess == NULL || pOutcome == NULL ||
        (pOutput == NULL && cbOutput > 0)) {
        rm_detail_set("rstrtmgr_restart_outcome needs a process and an "
                      "outcome to fill");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    uint64_t ticks;
    if (rm_procid_ticks(pProcess->ProcessStartTime, &ticks) != 0)
        ticks = UINT64_MAX; /* names no process of this boot */
    rm_outcome s;
    rc = rm_outcome_load(&h, &s);
    const rm_stopped *x = NULL;
    for (size_t i = 0; rc == ERROR_SUCCESS && i < s.count && x == NULL; i++)
        if (s.items[i].id.pid == (pid_t)pProcess->dwProcessId &&
            s.items[i].id.start_ticks == ticks && s.items[i].result != 0)
            x = &s.items[i];
    if (rc == ERROR_SUCCESS && x == NULL) {
        rm_detail_set("this session has restarted no process %u with that "
                      "start time", (unsigned)pProcess->dwProcessId);
        rc = ERROR_NOT_FOUND;
    }
    if (rc == ERROR_SUCCESS) {
        memset(pOutcome, 0, sizeof *pOutcome);
        put_unique(&pOutcome->Process, &x->id);
        put_unique(&pOutcome->NewProcess, &x->new_id);
        pOutcome->dwResult = (DWORD)x->result;
        pOutcome->dwCode = (DWORD)x->code;
        pOutcome->dwSettleMs = x->settle_ms;
        pOutcome->cbOutput = x->tail_len;
        if (cbOutput > 0) {
            size_t n = x->tail_len < cbOutput - 1 ? x->tail_len : cbOutput - 1;
            if (n > 0)
                memcpy(pOutput, x->tail + (x->tail_len - n), n);
            pOutput[n] = '\0';
        }
    }
    rm_outcome_free(&s);
    return rc;
}
