#include "base/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * one_line - escape control characters in msg (\n, \t, \r, \xNN), so that
 * a message quoting input (a tensor name, a token, a JSON string) stays the
 * one printable line error.h promises; cut to fit cap bytes.
 */
static void
one_line(char *msg, size_t cap)
{
	char out[sizeof ((struct rm_error *)0)->msg];
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)msg;

	if (cap > sizeof out)
		cap = sizeof out;
	if (!strpbrk(msg, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f"
			  "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c"
			  "\x1d\x1e\x1f\x7f"))
		return;
	for (; *s && o + 5 < cap; s++) {
		if (*s >= 0x20 && *s != 0x7f)
			out[o++] = (char)*s;
		else if (*s == '\n' || *s == '\t' || *s == '\r') {
			out[o++] = '\\';
			out[o++] = *s == '\n' ? 'n' : *s == '\t' ? 't' : 'r';
		} else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *s);
	}
	out[o] = '\0';
	memcpy(msg, out, o + 1);
}

int
rm_error_set(struct rm_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	one_line(err->msg, sizeof err->msg);
	return code;
}

int
rm_error_prefix(struct rm_error *err, const char *fmt, ...)
{
	char pre[512], old[sizeof err->msg];
	va_list ap;

	if (err == NULL)
		return RM_EIO;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	/* "pre: old", cut to fit (snprintf of both would warn of truncation). */
	{
		size_t pl = strlen(pre), ol = strlen(old), cap = sizeof err->msg - 1;
		if (pl > cap - 2)
			pl = cap - 2;
		if (ol > cap - pl - 2)
			ol = cap - pl - 2;
		memcpy(err->msg, pre, pl);
		memcpy(err->msg + pl, ": ", 2);
		memcpy(err->msg + pl + 2, old, ol);
		err->msg[pl + 2 + ol] = '\0';
	}
	one_line(err->msg, sizeof err->msg);
	return err->code;
}

int
rm_checked_size(size_t a, size_t b, size_t limit, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return -1;
	if (a * b > limit)
		return -1;
	*out = a * b;
	return 0;
}
