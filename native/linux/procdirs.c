/* A session's last holders' /proc directories, kept open for its next scan.
 *
 * An installer lists the same holders again and again (a files-in-use
 * dialog's retry, the shutdown that follows the list). Through a holder's
 * kept directory the next scan skips its open, its identity (the pidfd and
 * its fstat) and, by trying first the descriptor that used the files last
 * time, the read of its whole descriptor table. A directory belongs to its
 * process, not to its pid: once that process is gone every look-up through
 * it fails, so a pid reused since can never answer through it. Each of a
 * few sessions has its set, as regcache.c keeps their registrations; all of
 * them together hold at most a share of the descriptor limit; a set closes
 * when its session ends and, in a forked child, at the fork.
 *
 * Only the directories: keeping each holder's files open too, to read them
 * again with pread(2), made the first list of a process 8-12 ms dearer and
 * the later ones no cheaper on two threads (200 holders, 1,000 files). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

/* The most directories the kept set may hold: an eighth of the soft limit
 * of descriptors, so that a host with select(2) and a 1,024 limit keeps 896
 * of its own. */
#define KEPT_SHARE 8
#define KEPT_MAX 4096

/* A process has few sessions; an installer one or two. */
#define SLOTS 4

typedef struct slot {
    char key[CCH_RM_SESSION_KEY + 1]; /* "" when free */
    char store[PATH_MAX];
    rm_procdirset set; /* sorted by pid */
    int taken;         /* a scan has the set */
    uint64_t used;     /* for least-recently-used eviction */
} slot;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static slot slots[SLOTS];
static size_t held; /* directories in the sets not taken */
static uint64_t clock_;

static void atfork_prepare(void) { pthread_mutex_lock(&lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&lock); }
static void atfork_child(void)
{
    /* The child has no session; the descriptors are its copies. A set a
     * scan had taken at the fork stays with that scan's thread, which the
     * child does not have: its copies close at exec (O_CLOEXEC). */
    for (size_t i = 0; i < SLOTS; i++) {
        if (!slots[i].taken)
            rm_procdirset_close(&slots[i].set);
        memset(&slots[i], 0, sizeof slots[i]);
    }
    held = 0;
    pthread_mutex_unlock(&lock);
}

static void init(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static int same(const slot *sl, const rm_handle_info *h)
{
    return sl->key[0] != '\0' && strcmp(sl->key, h->key) == 0 &&
           strcmp(sl->store, h->store) == 0;
}

/* Frees a slot; a set a scan has is closed by that scan's give. */
static void clear(slot *sl)
{
    if (!sl->taken) {
        held -= sl->set.count;
        rm_procdirset_close(&sl->set);
    }
    memset(sl, 0, sizeof *sl);
}

static size_t share(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / KEPT_SHARE > KEPT_MAX
               ? KEPT_MAX
               : (size_t)(rl.rlim_cur / KEPT_SHARE);
}

void rm_procdir_init(rm_procdir *d, pid_t pid, int pd)
{
    d->pid = pid;
    d->start = 0;
    d->pd = pd;
    d->fd_hint = -1;
}

void rm_procdir_close(rm_procdir *d)
{
    if (d->pd >= 0)
        close(d->pd);
    d->pd = -1;
}

rm_procdir *rm_procdirset_find(rm_procdirset *set, pid_t pid)
{
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (set->items[mid].pid == pid)
            return set->items[mid].pd >= 0 ? &set->items[mid] : NULL;
        if (set->items[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int rm_procdirset_add(rm_procdirset *set, const rm_procdir *d)
{
    if (RM_GROW(set->items, set->cap, set->count + 1, 16) != 0)
        return -1;
    set->items[set->count++] = *d;
    return 0;
}

int rm_procdirset_merge(rm_procdirset *to, rm_procdirset *from)
{
    if (RM_APPEND(to->items, to->cap, to->count, from->items, from->count,
                  16) != 0)
        return -1;
    from->count = 0;
    return 0;
}

void rm_procdirset_close(rm_procdirset *set)
{
    for (size_t i = 0; i < set->count; i++)
        rm_procdir_close(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

size_t rm_procdirs_take(const rm_handle_info *h, rm_procdirset *out,
                        int *owner)
{
    pthread_once(&once, init);
    memset(out, 0, sizeof *out);
    size_t limit = share();
    *owner = 0;
    pthread_mutex_lock(&lock);
    slot *sl = NULL;
    for (size_t i = 0; i < SLOTS && sl == NULL; i++)
        if (same(&slots[i], h))
            sl = &slots[i];
    if (sl == NULL) { /* a free slot, else the least recently used */
        sl = &slots[0];
        for (size_t i = 0; i < SLOTS; i++) {
            if (slots[i].key[0] == '\0') {
                sl = &slots[i];
                break;
            }
            if (slots[i].used < sl->used)
                sl = &slots[i];
        }
        clear(sl);
        memcpy(sl->key, h->key, sizeof sl->key);
        memcpy(sl->store, h->store, sizeof sl->store);
    }
    if (!sl->taken) {
        *out = sl->set;
        memset(&sl->set, 0, sizeof sl->set);
        held -= out->count;
        sl->taken = 1;
        sl->used = ++clock_;
        *owner = 1;
    }
    /* What the other sessions hold is theirs. */
    limit = *owner && limit > held ? limit - held : 0;
    pthread_mutex_unlock(&lock);
    return limit;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = ((const rm_procdir *)a)->pid, y = ((const rm_procdir *)b)->pid;
    return x < y ? -1 : x > y;
}

void rm_procdirs_give(const rm_handle_info *h, rm_procdirset *set, int owner)
{
    if (set->count > 1)
        qsort(set->items, set->count, sizeof *set->items, cmp_pid);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; owner && i < SLOTS; i++)
        if (same(&slots[i], h) && slots[i].taken) {
            slots[i].set = *set;
            slots[i].taken = 0;
            held += set->count;
            memset(set, 0, sizeof *set);
            break;
        }
    pthread_mutex_unlock(&lock);
    rm_procdirset_close(set); /* the session ended (or was evicted) since */
}

void rm_procdirs_forget(const rm_handle_info *h)
{
    pthread_once(&once, init);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SLOTS; i++)
        if (same(&slots[i], h))
            clear(&slots[i]);
    pthread_mutex_unlock(&lock);
}
