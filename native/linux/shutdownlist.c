/* The list a shutdown ends with, kept for the caller: the holders the
 * shutdown acted on (those it saw go are dropped), with the statuses it
 * recorded, as RmGetList would give them right after; so a caller that
 * wants the statuses does not scan every process a second time. The
 * statuses are read from the session's record when the list is taken, so
 * RmShutdown itself pays nothing for a list nobody takes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static _Thread_local rm_list kept;
static _Thread_local rm_handle_info kept_info;
static _Thread_local DWORD kept_handle;
static _Thread_local int has_kept, annotated;

void rm_shutdown_list_drop(void)
{
    rm_list_free(&kept);
    has_kept = 0;
}

static const rm_stopped *find(const rm_outcome *s, const rm_procid *id)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i].id.pid == id->pid &&
            s->items[i].id.start_ticks == id->start_ticks)
            return &s->items[i];
    return NULL;
}

void rm_shutdown_list_keep(DWORD handle, const rm_handle_info *h, rm_list *l,
                           const rm_outcome *s)
{
    rm_shutdown_list_drop();
    size_t n = 0;
    l->reasons = 0;
    for (size_t i = 0; i < l->count; i++) {
        const rm_holder *hd = &l->items[i];
        const rm_stopped *x = find(s, &hd->id);
        /* Seen to exit, or gone since: a scan would not find it. */
        if (x != NULL && (x->info.AppStatus == RmStatusStopped ||
                          x->info.AppStatus == RmStatusStoppedOther))
            continue;
        if (!rm_procid_alive(&hd->id))
            continue;
        l->reasons |= hd->reasons;
        l->items[n++] = *hd;
    }
    l->count = n;
    kept = *l;
    memset(l, 0, sizeof *l);
    kept_info = *h;
    kept_handle = handle;
    has_kept = 1;
    annotated = 0;
}

DWORD rstrtmgr_shutdown_list(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                             UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                             LPDWORD lpdwRebootReasons)
{
    rm_detail_clear();
    if (pnProcInfoNeeded == NULL || pnProcInfo == NULL ||
        lpdwRebootReasons == NULL ||
        (*pnProcInfo > 0 && rgAffectedApps == NULL)) {
        rm_detail_set("rstrtmgr_shutdown_list needs pnProcInfoNeeded, "
                      "pnProcInfo and lpdwRebootReasons, and an array when "
                      "*pnProcInfo is not 0");
        return ERROR_BAD_ARGUMENTS;
    }
    if (!has_kept || kept_handle != dwSessionHandle) {
        rm_detail_set("this thread's last RmShutdown was not on session "
                      "handle %u, or its list was already taken; call "
                      "RmGetList", (unsigned)dwSessionHandle);
        return ERROR_REQUEST_OUT_OF_SEQUENCE;
    }
    if (!annotated) {
        DWORD rc = rm_outcome_annotate(&kept_info, &kept);
        if (rc != ERROR_SUCCESS) {
            rm_shutdown_list_drop(); /* half annotated: RmGetList then */
            return rc;
        }
        annotated = 1;
    }
    *pnProcInfoNeeded = (UINT)kept.count;
    *lpdwRebootReasons = kept.reasons;
    if (kept.count > *pnProcInfo) {
        rm_detail_set("%zu processes are in the list; the array holds %u",
                      kept.count, (unsigned)*pnProcInfo);
        *pnProcInfo = 0;
        return ERROR_MORE_DATA;
    }
    for (size_t i = 0; i < kept.count; i++)
        rgAffectedApps[i] = kept.items[i].info;
    *pnProcInfo = (UINT)kept.count;
    rm_last_uninspected_set(kept.uninspected);
    rm_shutdown_list_drop();
    return ERROR_SUCCESS;
}
