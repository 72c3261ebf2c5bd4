/*
 * buf.h - a growable byte buffer for building output records.
 *
 * Ownership: a struct rm_buf is a plain struct owned by its user; start it
 * zeroed (struct rm_buf b = {0}), reuse it with rm_buf_reset, free its bytes
 * with rm_buf_release.  The bytes are always NUL-terminated after a
 * successful append (the NUL is not counted in len).  On allocation failure
 * the functions return RM_ENOMEM and leave the contents as they were.
 */
#ifndef RM_BUF_H
#define RM_BUF_H

#include <stddef.h>

struct rm_buf {
	char *p;
	size_t len, cap;
};

int rm_buf_append(struct rm_buf *b, const void *s, size_t n);
int rm_buf_puts(struct rm_buf *b, const char *s);
int rm_buf_printf(struct rm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append s[0..n) as a JSON string literal, quotes included. */
int rm_buf_json_string(struct rm_buf *b, const char *s, size_t n);
void rm_buf_reset(struct rm_buf *b);
/*
 * rm_json_float - v as a JSON number into b[0..n): `digits` significant
 * digits (9 round-trip an f32, 17 an f64), "null" for NaN and infinities,
 * "-0.0" for negative zero (parsers read "-0" as the integer 0).  Returns
 * what snprintf returns.
 */
int rm_json_float(char *b, size_t n, double v, int digits);
void rm_buf_release(struct rm_buf *b);

#endif
