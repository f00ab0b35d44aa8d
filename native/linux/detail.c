/* A per-thread explanation of the last failure, for clear error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

static _Thread_local char detail[1024];

void rm_detail_clear(void) { detail[0] = '\0'; }

void rm_detail_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
}

size_t rstrtmgr_error_detail(char *buf, size_t size)
{
    size_t len = strlen(detail);
    if (buf != NULL && size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(buf, detail, n);
        buf[n] = '\0';
    }
    return len;
}

int rstrtmgr_is_wine(void) { return 0; }
