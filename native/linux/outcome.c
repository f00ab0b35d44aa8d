/* The session's shutdown record: what RmShutdown and RmRestart did to each
 * process, kept in the session's directory so that RmGetList, RmRestart and
 * later calls (of any process in the session) see it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define OUTCOME_NAME "shutdown"
#define OUTCOME_MAGIC "rstrtmgr-shutdown 2\n"

void rm_outcome_free(rm_outcome *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].cmd);
        free(s->items[i].tail);
    }
    free(s->items);
    memset(s, 0, sizeof *s);
}

rm_stopped *rm_outcome_add(rm_outcome *s)
{
    if (RM_GROW(s->items, s->cap, s->count + 1, 16) != 0)
        return NULL;
    rm_stopped *x = &s->items[s->count++];
    memset(x, 0, sizeof *x);
    return x;
}

/* The fixed part of a record on disk; the command and then the restarted
 * program's last output follow it. */
typedef struct disk_record {
    int32_t pid;
    int32_t group;
    uint64_t start_ticks;
    uint64_t exe_dev, exe_ino;
    RM_PROCESS_INFO info;
    char unit[256];
    char exe[PATH_MAX];
    uint32_t cmd_len;
    uint32_t run_uid, run_gid;
    int32_t other_user;
    int32_t result, code;
    uint32_t settle_ms;
    int32_t new_pid;
    uint64_t new_ticks;
    uint32_t tail_len;
} disk_record;

static int wide_terminated(const WCHAR *s, size_t cap)
{
    for (size_t i = 0; i < cap; i++)
        if (s[i] == 0)
            return 1;
    return 0;
}

/* Every field as outcome_write writes them: what the facade would otherwise
 * be handed (an unknown type, a date past the year 9999) is corruption. */
static int disk_record_valid(const disk_record *r)
{
    const RM_PROCESS_INFO *in = &r->info;
    const DWORD statuses = RmStatusRunning | RmStatusStopped |
                           RmStatusStoppedOther | RmStatusRestarted |
                           RmStatusErrorOnStop | RmStatusErrorOnRestart |
                           RmStatusShutdownMasked | RmStatusRestartMasked;
    /* A start within 2,000 years of boot, FILETIME units. */
    const uint64_t max_start = 630000000000000000ULL;
    int type_known = 0;
    switch (in->ApplicationType) {
    case RmUnknownApp:
    case RmMainWindow:
    case RmOtherWindow:
    case RmService:
    case RmExplorer:
    case RmConsole:
    case RmCritical:
        type_known = 1;
        break;
    }
    return r->pid > 0 && (uint32_t)r->pid <= RM_PID_MAX && r->group >= 0 &&
           r->group <= 2 && r->start_ticks < max_start && type_known &&
           in->Process.dwProcessId == (DWORD)r->pid &&
           (in->AppStatus & ~statuses) == 0 &&
           (in->bRestartable == 0 || in->bRestartable == 1) &&
           wide_terminated(in->strAppName, CCH_RM_MAX_APP_NAME + 1) &&
           wide_terminated(in->strServiceShortName, CCH_RM_MAX_SVC_NAME + 1) &&
           memchr(r->unit, '\0', sizeof r->unit) != NULL &&
           memchr(r->exe, '\0', sizeof r->exe) != NULL &&
           (r->other_user == 0 || r->other_user == 1) && r->new_pid >= 0 &&
           (uint32_t)r->new_pid <= RM_PID_MAX && r->new_ticks < max_start;
}

/* A copy of len bytes of p, or NULL (len 0, or out of memory). */
static char *copy_of(const char *p, uint32_t len)
{
    char *c = len > 0 ? malloc(len) : NULL;
    if (c != NULL)
        memcpy(c, p, len);
    return c;
}

DWORD rm_outcome_read(int sessfd, rm_outcome *out)
{
    memset(out, 0, sizeof *out);
    size_t n;
    char *buf = rm_read_file_at(sessfd, OUTCOME_NAME, &n);
    if (buf == NULL && errno == ENOENT)
        return ERROR_SUCCESS;
    size_t magic = strlen(OUTCOME_MAGIC);
    if (buf == NULL || n < magic || memcmp(buf, OUTCOME_MAGIC, magic) != 0) {
        free(buf);
        rm_detail_set("the session's shutdown state is not readable");
        return ERROR_WRITE_FAULT;
    }
    out->done = 1;
    size_t off = magic;
    while (off + sizeof(disk_record) <= (size_t)n) {
        disk_record r;
        memcpy(&r, buf + off, sizeof r);
        off += sizeof r;
        rm_stopped *x = rm_outcome_add(out);
        if (x == NULL || r.cmd_len > (size_t)n - off ||
            r.tail_len > (size_t)n - off - r.cmd_len ||
            !disk_record_valid(&r)) {
            free(buf);
            rm_outcome_free(out);
            if (x == NULL)
                return ERROR_OUTOFMEMORY;
            rm_detail_set("the session's shutdown state is not readable");
            return ERROR_WRITE_FAULT;
        }
        x->id.pid = r.pid;
        x->id.start_ticks = r.start_ticks;
        x->group = r.group;
        x->info = r.info;
        x->exe_dev = r.exe_dev;
        x->exe_ino = r.exe_ino;
        memcpy(x->unit, r.unit, sizeof x->unit);
        x->unit[sizeof x->unit - 1] = '\0';
        memcpy(x->exe, r.exe, sizeof x->exe);
        x->exe[sizeof x->exe - 1] = '\0';
        x->run_uid = r.run_uid;
        x->run_gid = r.run_gid;
        x->other_user = r.other_user;
        x->result = r.result;
        x->code = r.code;
        x->settle_ms = r.settle_ms;
        x->new_id.pid = r.new_pid;
        x->new_id.start_ticks = r.new_ticks;
        x->cmd = copy_of(buf + off, r.cmd_len);
        x->cmd_len = r.cmd_len;
        off += r.cmd_len;
        x->tail = copy_of(buf + off, r.tail_len);
        x->tail_len = r.tail_len;
        off += r.tail_len;
        if ((x->cmd == NULL && r.cmd_len > 0) ||
            (x->tail == NULL && r.tail_len > 0)) {
            free(buf);
            rm_outcome_free(out);
            return ERROR_OUTOFMEMORY;
        }
    }
    free(buf);
    if (off != n) { /* a record cut short */
        rm_outcome_free(out);
        rm_detail_set("the session's shutdown state is not readable");
        return ERROR_WRITE_FAULT;
    }
    return ERROR_SUCCESS;
}

static DWORD outcome_write(int sessfd, const rm_outcome *s)
{
    size_t len = strlen(OUTCOME_MAGIC);
    for (size_t i = 0; i < s->count; i++)
        len += sizeof(disk_record) + s->items[i].cmd_len +
               s->items[i].tail_len;
    char *buf = malloc(len);
    if (buf == NULL)
        return ERROR_OUTOFMEMORY;
    size_t off = strlen(OUTCOME_MAGIC);
    memcpy(buf, OUTCOME_MAGIC, off);
    for (size_t i = 0; i < s->count; i++) {
        const rm_stopped *x = &s->items[i];
        disk_record r;
        memset(&r, 0, sizeof r);
        r.pid = x->id.pid;
        r.group = x->group;
        r.start_ticks = x->id.start_ticks;
        r.exe_dev = x->exe_dev;
        r.exe_ino = x->exe_ino;
        r.info = x->info;
        memcpy(r.unit, x->unit, sizeof r.unit);
        memcpy(r.exe, x->exe, sizeof r.exe);
        r.cmd_len = x->cmd_len;
        r.run_uid = x->run_uid;
        r.run_gid = x->run_gid;
        r.other_user = x->other_user;
        r.result = x->result;
        r.code = x->code;
        r.settle_ms = x->settle_ms;
        r.new_pid = x->new_id.pid;
        r.new_ticks = x->new_id.start_ticks;
        r.tail_len = x->tail_len;
        memcpy(buf + off, &r, sizeof r);
        off += sizeof r;
        if (x->cmd_len > 0)
            memcpy(buf + off, x->cmd, x->cmd_len);
        off += x->cmd_len;
        if (x->tail_len > 0)
            memcpy(buf + off, x->tail, x->tail_len);
        off += x->tail_len;
    }
    int rc = rm_replace_file_at(sessfd, OUTCOME_NAME, buf, len);
    free(buf);
    if (rc != 0) {
        rm_detail_set("cannot record the session's shutdown state: %s",
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    return ERROR_SUCCESS;
}

/* Saves the outcome, merging it into what earlier calls recorded. */
DWORD rm_outcome_save(const rm_handle_info *h, const rm_outcome *now)
{
    rm_store st;
    int sessfd;
    DWORD rc = rm_store_open_session(h, &st, &sessfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_outcome old;
    rc = rm_outcome_read(sessfd, &old);
    if (rc == ERROR_SUCCESS) {
        for (size_t i = 0; i < now->count && rc == ERROR_SUCCESS; i++) {
            const rm_stopped *x = &now->items[i];
            if (x->group < 0)
                continue;
            rm_stopped *y = NULL;
            for (size_t j = 0; j < old.count && y == NULL; j++)
                if (old.items[j].id.pid == x->id.pid &&
                    old.items[j].id.start_ticks == x->id.start_ticks)
                    y = &old.items[j];
            if (y == NULL && (y = rm_outcome_add(&old)) == NULL) {
                rc = ERROR_OUTOFMEMORY;
                break;
            }
            free(y->cmd);
            free(y->tail);
            *y = *x;
            if ((y->cmd = copy_of(x->cmd, x->cmd_len)) == NULL)
                y->cmd_len = 0;
            if ((y->tail = copy_of(x->tail, x->tail_len)) == NULL)
                y->tail_len = 0;
        }
        if (rc == ERROR_SUCCESS)
            rc = outcome_write(sessfd, &old);
    }
    rm_outcome_free(&old);
    close(sessfd);
    rm_store_close(&st);
    return rc;
}

DWORD rm_outcome_load(const rm_handle_info *h, rm_outcome *out)
{
    rm_store st;
    int sessfd;
    memset(out, 0, sizeof *out);
    DWORD rc = rm_store_open_session(h, &st, &sessfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    rc = rm_outcome_read(sessfd, out);
    close(sessfd);
    rm_store_close(&st);
    return rc;
}

DWORD rm_outcome_annotate(const rm_handle_info *h, rm_list *l)
{
    rm_outcome s;
    DWORD rc = rm_outcome_load(h, &s);
    for (size_t i = 0; rc == ERROR_SUCCESS && i < s.count; i++) {
        const rm_stopped *x = &s.items[i];
        rm_holder *hd = NULL;
        for (size_t j = 0; j < l->count && hd == NULL; j++)
            if (l->items[j].id.pid == x->id.pid &&
                l->items[j].id.start_ticks == x->id.start_ticks)
                hd = &l->items[j];
        if (hd != NULL) {
            hd->info.AppStatus = x->info.AppStatus;
            continue;
        }
        /* Gone since: still part of the session's list, with its outcome. */
        if (RM_GROW(l->items, l->cap, l->count + 1, 16) != 0) {
            rc = ERROR_OUTOFMEMORY;
            break;
        }
        hd = &l->items[l->count++];
        memset(hd, 0, sizeof *hd);
        hd->pidfd = -1;
        hd->id = x->id;
        hd->info = x->info;
        snprintf(hd->unit, sizeof hd->unit, "%s", x->unit);
    }
    rm_outcome_free(&s);
    return rc;
}
