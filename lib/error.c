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
	snprintf(err->msg, sizeof err->msg, "%s: %s", pre, old);
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
