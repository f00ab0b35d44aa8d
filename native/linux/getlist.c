/* RmGetList on Linux: the list the scan computes, with the statuses the
 * session's shutdown recorded. */
#include "internal.h"

static _Thread_local UINT last_uninspected;

UINT rstrtmgr_last_uninspected(void) { return last_uninspected; }

void rm_last_uninspected_set(UINT n) { last_uninspected = n; }

DWORD WINAPI RmGetList(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                       UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                       LPDWORD lpdwRebootReasons)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (pnProcInfoNeeded == NULL || pnProcInfo == NULL ||
        lpdwRebootReasons == NULL ||
        (*pnProcInfo > 0 && rgAffectedApps == NULL)) {
        rm_detail_set("RmGetList needs pnProcInfoNeeded, pnProcInfo and "
                      "lpdwRebootReasons, and an array when *pnProcInfo is "
                      "not 0");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_list l;
    rc = rm_list_compute(&h, &l, 0);
    if (rc == ERROR_SUCCESS)
        rc = rm_outcome_annotate(&h, &l);
    if (rc == ERROR_SUCCESS) {
        rm_usage_keep(&l);
        last_uninspected = l.uninspected;
        *pnProcInfoNeeded = (UINT)l.count;
        *lpdwRebootReasons = l.reasons;
        if (l.count > *pnProcInfo) {
            rm_detail_set("%zu processes use the session's resources; the "
                          "array holds %u", l.count, (unsigned)*pnProcInfo);
            *pnProcInfo = 0;
            rc = ERROR_MORE_DATA;
        } else {
            for (size_t i = 0; i < l.count; i++)
                rgAffectedApps[i] = l.items[i].info;
            *pnProcInfo = (UINT)l.count;
        }
    }
    rm_list_free(&l);
    return rc;
}
