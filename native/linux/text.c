/* UTF-16 <-> file-system bytes, lossless for any name through surrogateescape. */
#include <string.h>

#include "base.h"

static int put(char *out, size_t size, size_t *n, unsigned char c)
{
    if (*n + 1 >= size)
        return -1;
    out[(*n)++] = (char)c;
    return 0;
}

long rm_utf16_to_bytes(const WCHAR *in, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return -1;
    for (size_t i = 0; in[i] != 0; i++) {
        uint32_t c = in[i];
        if (c >= 0xDC80 && c <= 0xDCFF) {
            if (put(out, size, &n, (unsigned char)(c - 0xDC00)) != 0)
                return -1;
            continue;
        }
        if (c >= 0xD800 && c <= 0xDBFF && in[i + 1] >= 0xDC00 &&
            in[i + 1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (in[i + 1] - 0xDC00);
            i++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            return -1; /* a lone surrogate no byte string maps to */
        }
        int bad;
        if (c < 0x80)
            bad = put(out, size, &n, (unsigned char)c);
        else if (c < 0x800)
            bad = put(out, size, &n, (unsigned char)(0xC0 | (c >> 6))) ||
                  put(out, size, &n, (unsigned char)(0x80 | (c & 0x3F)));
        else if (c < 0x10000)
            bad = put(out, size, &n, (unsigned char)(0xE0 | (c >> 12))) ||
                  put(out, size, &n,
                      (unsigned char)(0x80 | ((c >> 6) & 0x3F))) ||
                  put(out, size, &n, (unsigned char)(0x80 | (c & 0x3F)));
        else
            bad = put(out, size, &n, (unsigned char)(0xF0 | (c >> 18))) ||
                  put(out, size, &n,
                      (unsigned char)(0x80 | ((c >> 12) & 0x3F))) ||
                  put(out, size, &n,
                      (unsigned char)(0x80 | ((c >> 6) & 0x3F))) ||
                  put(out, size, &n, (unsigned char)(0x80 | (c & 0x3F)));
        if (bad)
            return -1;
    }
    out[n] = '\0';
    return (long)n;
}

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0; *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = c & 0x1Fu, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, v = c & 0x0Fu, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, v = c & 0x07u, min = 0x10000;
    else
        return 0;
    if (left < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

size_t rm_bytes_to_utf16(const char *in, size_t len, WCHAR *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t n = 0, i = 0;
    if (cap == 0)
        return 0;
    while (i < len && s[i] != 0) {
        uint32_t cp;
        size_t k = utf8_seq(s + i, len - i, &cp);
        if (k == 0) {
            cp = 0xDC00u + s[i];
            k = 1;
        }
        size_t need = cp >= 0x10000 ? 2 : 1;
        if (n + need >= cap)
            break;
        if (need == 2) {
            out[n++] = (WCHAR)(0xD800 + ((cp - 0x10000) >> 10));
            out[n++] = (WCHAR)(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            out[n++] = (WCHAR)cp;
        }
        i += k;
    }
    out[n] = 0;
    return n;
}
