/*
 * buf.c - growable byte buffer.
 */
#include "base/buf.h"

#include <math.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static int
reserve(struct rm_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > (size_t)-1 / 2 - b->len)
		return RM_ENOMEM;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return RM_ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
rm_buf_append(struct rm_buf *b, const void *s, size_t n)
{
	if (reserve(b, n) < 0)
		return RM_ENOMEM;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
rm_buf_puts(struct rm_buf *b, const char *s)
{
	return rm_buf_append(b, s, strlen(s));
}

int
rm_buf_printf(struct rm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, (size_t)n) < 0)
		return RM_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int
rm_buf_json_string(struct rm_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	if (rm_buf_append(b, "\"", 1) < 0)
		return RM_ENOMEM;
	/* Copy runs of plain bytes at once; escape quotes, backslashes and
	 * control characters (UTF-8 passes through unchanged). */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (rm_buf_append(b, s + run, i - run) < 0)
			return RM_ENOMEM;
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		if (rm_buf_append(b, esc, elen) < 0)
			return RM_ENOMEM;
	}
	if (rm_buf_append(b, s + run, n - run) < 0)
		return RM_ENOMEM;
	return rm_buf_append(b, "\"", 1);
}

void
rm_buf_reset(struct rm_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void
rm_buf_release(struct rm_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int
rm_json_float(char *b, size_t n, double v, int digits)
{
	if (!isfinite(v))
		return snprintf(b, n, "null");
	if (v == 0 && signbit(v))
		return snprintf(b, n, "-0.0");
	return snprintf(b, n, "%.*g", digits, v);
}
