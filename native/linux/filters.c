/* RmAddFilter, RmRemoveFilter and RmGetFilterList: per-session filters that
 * keep processes from being shut down or restarted. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define FILTERS_NAME "filters"
#define FILTERS_MAGIC "rstrtmgr-filters 1\n"

void rm_filters_free(rm_filters *f)
{
    for (size_t i = 0; i < f->count; i++)
        free(f->items[i].text);
    free(f->items);
    memset(f, 0, sizeof *f);
}

static int filters_add(rm_filters *f, const rm_filter *item)
{
    if (RM_GROW(f->items, f->cap, f->count + 1, 8) != 0)
        return -1;
    f->items[f->count++] = *item;
    return 0;
}

static void hex_encode(const char *s, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (; *s; s++) {
        *out++ = digits[(unsigned char)*s >> 4];
        *out++ = digits[(unsigned char)*s & 15];
    }
    *out = '\0';
}

static int hex_decode(const char *s, char *out)
{
    size_t n = strlen(s);
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1 || v == 0)
            return -1;
        *out++ = (char)v;
    }
    *out = '\0';
    return 0;
}

/* An unsigned decimal field followed by `sep`; 0 and *v, or -1. */
static int parse_number(const char **p, uint64_t max, char sep, uint64_t *v)
{
    char *end;
    if (**p < '0' || **p > '9')
        return -1;
    errno = 0;
    unsigned long long x = strtoull(*p, &end, 10);
    if (errno != 0 || x > max || *end != sep)
        return -1;
    *v = x;
    *p = end + (sep != '\0');
    return 0;
}

/* One line as write_filters writes it, every field checked:
 * "p <action> <pid> <start>", "f <action> <hex path>", "s <action> <hex
 * unit>". 1 for another version's kind of line, 0 for a filter, -1 when
 * corrupt. */
static int parse_line(const char *line, rm_filter *f)
{
    memset(f, 0, sizeof *f);
    char kind = line[0];
    if (kind != 'p' && kind != 'f' && kind != 's')
        return kind >= 'a' && kind <= 'z' ? 1 : -1;
    if (line[1] != ' ')
        return -1;
    const char *p = line + 2;
    uint64_t action, pid, start;
    if (parse_number(&p, 2, ' ', &action) != 0 ||
        (action != RmNoRestart && action != RmNoShutdown))
        return -1;
    f->action = (RM_FILTER_ACTION)action;
    if (kind == 'p') {
        if (parse_number(&p, RM_PID_MAX, ' ', &pid) != 0 || pid == 0 ||
            parse_number(&p, UINT64_MAX, '\0', &start) != 0)
            return -1;
        f->trigger = RmFilterTriggerProcess;
        f->proc.pid = (pid_t)pid;
        f->proc.start_ticks = start;
        return 0;
    }
    size_t n = strlen(p);
    if (n == 0 || n % 2 || n / 2 >= (kind == 'f' ? PATH_MAX : 256))
        return -1;
    f->trigger = kind == 'f' ? RmFilterTriggerFile : RmFilterTriggerService;
    f->text = malloc(n / 2 + 1);
    if (f->text == NULL)
        return -2;
    if (strspn(p, "0123456789abcdef") != n || hex_decode(p, f->text) != 0 ||
        (kind == 'f' && f->text[0] != '/')) {
        free(f->text);
        f->text = NULL;
        return -1;
    }
    return 0;
}

static DWORD parse(char *text, size_t len, rm_filters *out)
{
    if (strlen(text) != len ||
        strncmp(text, FILTERS_MAGIC, strlen(FILTERS_MAGIC)) != 0)
        return ERROR_WRITE_FAULT;
    char *save = NULL;
    for (char *line = strtok_r(text + strlen(FILTERS_MAGIC), "\n", &save);
         line != NULL; line = strtok_r(NULL, "\n", &save)) {
        rm_filter f;
        int r = parse_line(line, &f);
        if (r == 1)
            continue; /* another version's kind of filter */
        if (r < 0)
            return r == -2 ? ERROR_OUTOFMEMORY : ERROR_WRITE_FAULT;
        if (filters_add(out, &f) != 0) {
            free(f.text);
            return ERROR_OUTOFMEMORY;
        }
    }
    return ERROR_SUCCESS;
}

DWORD rm_filters_read(int sessfd, rm_filters *out)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = rm_read_file_at(sessfd, FILTERS_NAME, &len);
    if (text == NULL)
        return errno == ENOENT ? ERROR_SUCCESS
               : errno == ENOMEM ? ERROR_OUTOFMEMORY
                                 : ERROR_WRITE_FAULT;
    DWORD rc = parse(text, len, out);
    free(text);
    if (rc != ERROR_SUCCESS) {
        rm_filters_free(out);
        rm_detail_set("the session's filter list is not readable");
    }
    return rc;
}

static DWORD write_filters(int sessfd, const rm_filters *f)
{
    size_t cap = strlen(FILTERS_MAGIC) + 1;
    for (size_t i = 0; i < f->count; i++)
        cap += 64 + (f->items[i].text ? 2 * strlen(f->items[i].text) : 0);
    char *buf = malloc(cap);
    if (buf == NULL)
        return ERROR_OUTOFMEMORY;
    size_t n = (size_t)snprintf(buf, cap, "%s", FILTERS_MAGIC);
    for (size_t i = 0; i < f->count; i++) {
        const rm_filter *x = &f->items[i];
        if (x->trigger == RmFilterTriggerProcess) {
            n += (size_t)snprintf(buf + n, cap - n, "p %d %d %" PRIu64 "\n",
                                  (int)x->action, (int)x->proc.pid,
                                  x->proc.start_ticks);
        } else {
            n += (size_t)snprintf(buf + n, cap - n, "%c %d ",
                                  x->trigger == RmFilterTriggerFile ? 'f' : 's',
                                  (int)x->action);
            hex_encode(x->text, buf + n);
            n += 2 * strlen(x->text);
            buf[n++] = '\n';
        }
    }
    int rc = rm_replace_file_at(sessfd, FILTERS_NAME, buf, n);
    free(buf);
    if (rc != 0) {
        rm_detail_set("cannot write the session's filters: %s",
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    return ERROR_SUCCESS;
}

static int same_target(const rm_filter *a, const rm_filter *b)
{
    if (a->trigger != b->trigger)
        return 0;
    if (a->trigger == RmFilterTriggerProcess)
        return a->proc.pid == b->proc.pid &&
               a->proc.start_ticks == b->proc.start_ticks;
    return strcmp(a->text, b->text) == 0;
}

/* Validates the one target of a filter call into *f (f->text allocated). */
static DWORD target_of(LPCWSTR module, RM_UNIQUE_PROCESS *process,
                       LPCWSTR service, rm_filter *f)
{
    memset(f, 0, sizeof *f);
    if ((module != NULL) + (process != NULL) + (service != NULL) != 1) {
        rm_detail_set("a filter names exactly one of an executable path, a "
                      "process and a service");
        return ERROR_BAD_ARGUMENTS;
    }
    if (process != NULL) {
        f->trigger = RmFilterTriggerProcess;
        f->proc.pid = (pid_t)process->dwProcessId;
        if (rm_procid_ticks(process->ProcessStartTime,
                            &f->proc.start_ticks) != 0)
            f->proc.start_ticks = UINT64_MAX; /* names no process of this boot */
        return ERROR_SUCCESS;
    }
    char buf[PATH_MAX];
    long n = module != NULL ? rm_utf16_to_bytes(module, buf, sizeof buf)
                            : rm_unit_name(service, buf, sizeof buf);
    if (n <= 0 || (module != NULL && buf[0] != '/')) {
        rm_detail_set(module != NULL
                          ? "a filter's executable is a full path"
                          : "a filter's service is a systemd unit name");
        return ERROR_BAD_ARGUMENTS;
    }
    f->trigger = module != NULL ? RmFilterTriggerFile : RmFilterTriggerService;
    f->text = strdup(buf);
    return f->text ? ERROR_SUCCESS : ERROR_OUTOFMEMORY;
}

/* Sets (action RmNoRestart or RmNoShutdown) or removes (action
 * RmInvalidFilterAction) the filter of the target in *f, which it frees. */
static DWORD change_filter(DWORD handle, rm_filter *f, RM_FILTER_ACTION action)
{
    rm_handle_info h;
    rm_store st;
    int sessfd;
    DWORD rc = rm_open_primary(handle, &h, &st, &sessfd, "use filters");
    if (rc != ERROR_SUCCESS) {
        free(f->text);
        return rc;
    }
    f->action = action;
    rm_filters all;
    rc = rm_filters_read(sessfd, &all);
    size_t i = 0;
    while (rc == ERROR_SUCCESS && i < all.count &&
           !same_target(&all.items[i], f))
        i++;
    if (rc == ERROR_SUCCESS && action == RmInvalidFilterAction) {
        if (i == all.count) {
            rm_detail_set("the session has no filter for this target");
            rc = ERROR_BAD_ARGUMENTS;
        } else {
            free(all.items[i].text);
            all.items[i] = all.items[--all.count];
        }
    } else if (rc == ERROR_SUCCESS && i < all.count) {
        /* The latest filter for a target wins. */
        free(all.items[i].text);
        all.items[i] = *f;
        f->text = NULL;
    } else if (rc == ERROR_SUCCESS) {
        if (filters_add(&all, f) == 0)
            f->text = NULL;
        else
            rc = ERROR_OUTOFMEMORY;
    }
    if (rc == ERROR_SUCCESS)
        rc = write_filters(sessfd, &all);
    free(f->text);
    rm_filters_free(&all);
    close(sessfd);
    rm_store_close(&st);
    return rc;
}

DWORD WINAPI RmAddFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                         RM_UNIQUE_PROCESS *pProcess,
                         LPCWSTR strServiceShortName,
                         RM_FILTER_ACTION FilterAction)
{
    rm_detail_clear();
    rm_filter f;
    DWORD rc = target_of(strModuleName, pProcess, strServiceShortName, &f);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (FilterAction != RmNoRestart && FilterAction != RmNoShutdown) {
        free(f.text);
        rm_detail_set("a filter's action is RmNoRestart or RmNoShutdown");
        return ERROR_BAD_ARGUMENTS;
    }
    return change_filter(dwSessionHandle, &f, FilterAction);
}

DWORD WINAPI RmRemoveFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                            RM_UNIQUE_PROCESS *pProcess,
                            LPCWSTR strServiceShortName)
{
    rm_detail_clear();
    rm_filter f;
    DWORD rc = target_of(strModuleName, pProcess, strServiceShortName, &f);
    if (rc != ERROR_SUCCESS)
        return rc;
    return change_filter(dwSessionHandle, &f, RmInvalidFilterAction);
}

DWORD WINAPI RmGetFilterList(DWORD dwSessionHandle, PBYTE pbFilterBuf,
                             DWORD cbFilterBuf, LPDWORD cbFilterBufNeeded)
{
    rm_detail_clear();
    if (cbFilterBufNeeded == NULL || (cbFilterBuf > 0 && pbFilterBuf == NULL)) {
        rm_detail_set("RmGetFilterList needs cbFilterBufNeeded, and a buffer "
                      "when cbFilterBuf is not 0");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_handle_info h;
    rm_store st;
    int sessfd;
    DWORD rc = rm_open_primary(dwSessionHandle, &h, &st, &sessfd, "use filters");
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_filters all;
    rc = rm_filters_read(sessfd, &all);
    close(sessfd);
    rm_store_close(&st);
    if (rc != ERROR_SUCCESS)
        return rc;
    /* Records first, each followed by its string, aligned for the next. */
    const size_t align = _Alignof(RM_FILTER_INFO);
    size_t need = 0;
    for (size_t i = 0; i < all.count; i++) {
        need += sizeof(RM_FILTER_INFO);
        if (all.items[i].text != NULL)
            need += sizeof(WCHAR) * (strlen(all.items[i].text) + 1);
        need = (need + align - 1) / align * align;
    }
    *cbFilterBufNeeded = (DWORD)need;
    if (need > cbFilterBuf) {
        rm_filters_free(&all);
        rm_detail_set("the filter list needs %zu bytes", need);
        return ERROR_MORE_DATA;
    }
    size_t off = 0;
    for (size_t i = 0; i < all.count; i++) {
        const rm_filter *x = &all.items[i];
        RM_FILTER_INFO *info = (RM_FILTER_INFO *)(void *)(pbFilterBuf + off);
        memset(info, 0, sizeof *info);
        info->FilterAction = x->action;
        info->FilterTrigger = x->trigger;
        size_t next = off + sizeof *info;
        if (x->trigger == RmFilterTriggerProcess) {
            info->Process.dwProcessId = (DWORD)x->proc.pid;
            info->Process.ProcessStartTime =
                rm_procid_filetime(x->proc.start_ticks);
        } else {
            size_t len = strlen(x->text) + 1;
            WCHAR *w = (WCHAR *)(void *)(pbFilterBuf + next);
            rm_bytes_to_utf16(x->text, len - 1, w, len);
            if (x->trigger == RmFilterTriggerFile)
                info->strFilename = w;
            else
                info->strServiceShortName = w;
            next += sizeof(WCHAR) * len;
        }
        next = (next + align - 1) / align * align;
        info->cbNextOffset = i + 1 < all.count ? (DWORD)(next - off) : 0;
        off = next;
    }
    rm_filters_free(&all);
    return ERROR_SUCCESS;
}

/* The actions that apply to a process (RmNoShutdown and/or RmNoRestart as
 * bits 1 << action): by its identity, its service, or its executable. */
unsigned rm_filters_match(const rm_filters *f, const rm_procid *id,
                          const char *unit, const char *exe, uint64_t exe_dev,
                          uint64_t exe_ino)
{
    unsigned actions = 0;
    for (size_t i = 0; i < f->count; i++) {
        const rm_filter *x = &f->items[i];
        int hit = 0;
        if (x->trigger == RmFilterTriggerProcess)
            hit = x->proc.pid == id->pid &&
                  x->proc.start_ticks == id->start_ticks;
        else if (x->trigger == RmFilterTriggerService)
            hit = unit != NULL && unit[0] != '\0' && strcmp(x->text, unit) == 0;
        else if (exe != NULL) {
            struct stat st;
            hit = strcmp(x->text, exe) == 0 ||
                  (stat(x->text, &st) == 0 && (uint64_t)st.st_dev == exe_dev &&
                   (uint64_t)st.st_ino == exe_ino);
        }
        if (hit)
            actions |= 1u << x->action;
    }
    return actions;
}
