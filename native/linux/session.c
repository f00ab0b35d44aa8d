/* RmStartSession, RmJoinSession, RmEndSession, and this process's handles. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* How many sessions a user may hold at once, as on Windows. */
#define RM_MAX_SESSIONS 64

typedef struct handle_entry {
    DWORD handle;
    rm_handle_info info;
} handle_entry;

/* The handles of this process. A forked child inherits none of them. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static handle_entry *table;
static size_t table_len, table_cap;
static DWORD next_handle;

static void atfork_prepare(void) { pthread_mutex_lock(&table_lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&table_lock); }
static void atfork_child(void)
{
    /* The sessions belong to the parent; the child is no participant. */
    table_len = 0;
    pthread_mutex_unlock(&table_lock);
}
static void table_init(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static handle_entry *table_find(DWORD handle)
{
    for (size_t i = 0; i < table_len; i++)
        if (table[i].handle == handle)
            return &table[i];
    return NULL;
}

static int table_reserve(void)
{
    return RM_GROW(table, table_cap, table_len + 1, 8);
}

/* Adds an entry; the caller holds table_lock and has reserved room. */
static DWORD table_add(const rm_handle_info *info)
{
    DWORD h = next_handle;
    while (h == RSTRTMGR_NO_SESSION || table_find(h) != NULL)
        h++;
    next_handle = h + 1;
    table[table_len].handle = h;
    table[table_len].info = *info;
    table_len++;
    return h;
}

static void table_remove(DWORD handle)
{
    handle_entry *e = table_find(handle);
    if (e != NULL)
        *e = table[--table_len];
}

DWORD rm_handle_get(DWORD handle, rm_handle_info *out)
{
    pthread_once(&table_once, table_init);
    pthread_mutex_lock(&table_lock);
    handle_entry *e = table_find(handle);
    if (e != NULL)
        *out = e->info;
    pthread_mutex_unlock(&table_lock);
    if (e == NULL) {
        rm_detail_set("session handle %" PRIu32 " is not open in this "
                      "process", (uint32_t)handle);
        return ERROR_INVALID_HANDLE;
    }
    return ERROR_SUCCESS;
}

static void key_to_wchar(const char *key, WCHAR out[CCH_RM_SESSION_KEY + 1])
{
    for (int i = 0; i < CCH_RM_SESSION_KEY; i++)
        out[i] = (WCHAR)key[i];
    out[CCH_RM_SESSION_KEY] = 0;
}

/* Accepts exactly 32 hex digits then NUL; writes the lowercase key. */
static int key_from_wchar(const WCHAR *in, char out[CCH_RM_SESSION_KEY + 1])
{
    for (int i = 0; i < CCH_RM_SESSION_KEY; i++) {
        WCHAR c = in[i];
        if (c >= '0' && c <= '9')
            out[i] = (char)c;
        else if (c >= 'a' && c <= 'f')
            out[i] = (char)c;
        else if (c >= 'A' && c <= 'F')
            out[i] = (char)(c - 'A' + 'a');
        else
            return -1;
    }
    if (in[CCH_RM_SESSION_KEY] != 0)
        return -1;
    out[CCH_RM_SESSION_KEY] = '\0';
    return 0;
}

static DWORD new_participant(int primary, rm_participant *p)
{
    p->proc = rm_procid_self();
    p->primary = primary;
    if (p->proc.start_ticks == 0) {
        rm_detail_set("cannot read this process's start time from /proc "
                      "(is /proc mounted?)");
        return ERROR_WRITE_FAULT;
    }
    if (rm_random(&p->id, sizeof p->id) != 0) {
        rm_detail_set("the kernel's random generator failed: %s",
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    return ERROR_SUCCESS;
}

/* Records a new handle for a participant that the store already holds. */
static DWORD publish_handle(const rm_store *st, const rm_session *s,
                            const rm_participant *p, DWORD *pSessionHandle)
{
    rm_handle_info info;
    memset(&info, 0, sizeof info);
    memcpy(info.key, s->key, sizeof info.key);
    snprintf(info.store, sizeof info.store, "%s", st->path);
    info.participant = p->id;
    info.primary = p->primary;
    *pSessionHandle = table_add(&info);
    return ERROR_SUCCESS;
}

DWORD WINAPI RmStartSession(DWORD *pSessionHandle, DWORD dwSessionFlags,
                            WCHAR strSessionKey[])
{
    rm_detail_clear();
    if (pSessionHandle == NULL || strSessionKey == NULL) {
        rm_detail_set("RmStartSession needs a handle pointer and a key buffer "
                      "of CCH_RM_SESSION_KEY + 1 WCHARs");
        return ERROR_BAD_ARGUMENTS;
    }
    if (dwSessionFlags != 0) {
        rm_detail_set("RmStartSession's flags are reserved and must be 0, "
                      "not %" PRIu32, (uint32_t)dwSessionFlags);
        return ERROR_BAD_ARGUMENTS;
    }
    rm_session s;
    memset(&s, 0, sizeof s);
    rm_participant p;
    DWORD rc = new_participant(1, &p);
    if (rc != ERROR_SUCCESS)
        return rc;
    unsigned char raw[RM_SESSION_KEY_LEN];
    if (rm_random(raw, sizeof raw) != 0) {
        rm_detail_set("the kernel's random generator failed: %s",
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    for (int i = 0; i < RM_SESSION_KEY_LEN; i++)
        snprintf(s.key + 2 * i, 3, "%02x", raw[i]);
    if (rm_session_add(&s, &p) != 0)
        return ERROR_OUTOFMEMORY;

    pthread_once(&table_once, table_init);
    rm_store st;
    rc = rm_store_open_locked(NULL, &st);
    if (rc != ERROR_SUCCESS) {
        rm_session_free(&s);
        return rc;
    }
    size_t live = 0;
    rc = rm_store_reclaim(&st, &live);
    if (rc == ERROR_SUCCESS && live >= RM_MAX_SESSIONS) {
        rm_detail_set("%zu sessions are already open for this user in %s",
                      live, st.path);
        rc = ERROR_MAX_SESSIONS_REACHED;
    }
    pthread_mutex_lock(&table_lock);
    if (rc == ERROR_SUCCESS && table_reserve() != 0)
        rc = ERROR_OUTOFMEMORY;
    if (rc == ERROR_SUCCESS)
        rc = rm_store_write_session(&st, &s, 1);
    if (rc == ERROR_SUCCESS) {
        publish_handle(&st, &s, &p, pSessionHandle);
        key_to_wchar(s.key, strSessionKey);
    }
    pthread_mutex_unlock(&table_lock);
    rm_store_close(&st);
    rm_session_free(&s);
    return rc;
}

DWORD WINAPI RmJoinSession(DWORD *pSessionHandle, const WCHAR strSessionKey[])
{
    rm_detail_clear();
    char key[CCH_RM_SESSION_KEY + 1];
    if (pSessionHandle == NULL || strSessionKey == NULL) {
        rm_detail_set("RmJoinSession needs a handle pointer and a key");
        return ERROR_BAD_ARGUMENTS;
    }
    if (key_from_wchar(strSessionKey, key) != 0) {
        rm_detail_set("a session key is 32 hexadecimal digits");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_participant p;
    DWORD rc = new_participant(0, &p);
    if (rc != ERROR_SUCCESS)
        return rc;

    pthread_once(&table_once, table_init);
    rm_store st;
    rc = rm_store_open_locked(NULL, &st);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_session s;
    rc = rm_store_read_session(&st, key, &s);
    if (rc == ERROR_SUCCESS && !rm_session_prune(&s)) {
        /* Every participant died: the session is gone, reclaim it now. */
        rm_store_remove_session(&st, key);
        rc = ERROR_SESSION_CREDENTIAL_CONFLICT;
    }
    if (rc == ERROR_SESSION_CREDENTIAL_CONFLICT)
        rm_detail_set("no session with key %s is open for this user", key);
    if (rc == ERROR_SUCCESS && rm_session_add(&s, &p) != 0)
        rc = ERROR_OUTOFMEMORY;
    pthread_mutex_lock(&table_lock);
    if (rc == ERROR_SUCCESS && table_reserve() != 0)
        rc = ERROR_OUTOFMEMORY;
    if (rc == ERROR_SUCCESS)
        rc = rm_store_write_session(&st, &s, 0);
    if (rc == ERROR_SUCCESS)
        publish_handle(&st, &s, &p, pSessionHandle);
    pthread_mutex_unlock(&table_lock);
    rm_store_close(&st);
    rm_session_free(&s);
    return rc;
}

DWORD WINAPI RmEndSession(DWORD dwSessionHandle)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_store st;
    rc = rm_store_open_locked(h.store, &st);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_session s;
    rc = rm_store_read_session(&st, h.key, &s);
    if (rc == ERROR_SESSION_CREDENTIAL_CONFLICT) {
        rc = ERROR_SUCCESS; /* already gone: nothing left to leave */
    } else if (rc == ERROR_SUCCESS) {
        size_t kept = 0;
        for (size_t i = 0; i < s.count; i++)
            if (s.participants[i].id != h.participant)
                s.participants[kept++] = s.participants[i];
        s.count = kept;
        if (rm_session_prune(&s))
            rc = rm_store_write_session(&st, &s, 0);
        else
            rc = rm_store_remove_session(&st, h.key);
        rm_session_free(&s);
    }
    if (rc == ERROR_SUCCESS) {
        pthread_mutex_lock(&table_lock);
        table_remove(dwSessionHandle);
        pthread_mutex_unlock(&table_lock);
        rm_regcache_forget(&h);
        rm_procdirs_forget(&h);
    }
    rm_store_close(&st);
    return rc;
}

DWORD rm_handle_get_primary(DWORD handle, rm_handle_info *out,
                            const char *refusal)
{
    DWORD rc = rm_handle_get(handle, out);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (!out->primary) {
        /* Documented for the filter calls; ours for the rest of the
         * primary's calls, which Windows leaves without a code. */
        rm_detail_set("%s", refusal);
        return ERROR_SESSION_CREDENTIAL_CONFLICT;
    }
    return ERROR_SUCCESS;
}

DWORD rm_open_primary(DWORD handle, rm_handle_info *h, rm_store *st,
                      int *sessfd, const char *what)
{
    char refusal[256];
    snprintf(refusal, sizeof refusal,
             "only the session's primary can %s; this handle joined the "
             "session", what);
    DWORD rc = rm_handle_get_primary(handle, h, refusal);
    return rc != ERROR_SUCCESS ? rc : rm_store_open_session(h, st, sessfd);
}

DWORD rm_primary_set_file(DWORD handle, const char *refusal, const char *name,
                          const char *what, const char *text, size_t len)
{
    rm_handle_info h;
    DWORD rc = rm_handle_get_primary(handle, &h, refusal);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_store st;
    int sessfd;
    rc = rm_store_open_session(&h, &st, &sessfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (rm_replace_file_at(sessfd, name, text, len) != 0) {
        rm_detail_set("cannot record the session's %s: %s", what,
                      strerror(errno));
        rc = ERROR_WRITE_FAULT;
    }
    close(sessfd);
    rm_store_close(&st);
    return rc;
}
