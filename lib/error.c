#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
