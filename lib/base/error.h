/*
 * error.h - error reporting for the rmkit library.
 *
 * The library never prints and never exits.  A function that can fail takes
 * a caller-owned `struct rm_error *` (which may be NULL when the caller does
 * not care about the message), fills it with one complete, lower-case line
 * such as "pairs.jsonl:17: field 'chosen' is not a string", and returns a
 * negative code.  Programs print it as "rm-NAME: <msg>".  Control characters
 * in a message (quoted from input) are escaped as \n, \t, \r, \xNN, so it
 * stays one line whatever the input held.
 */
#ifndef RM_ERROR_H
#define RM_ERROR_H

#include <stddef.h>

enum {
	RM_OK = 0,
	RM_EIO = -1,     /* read or write failed, file missing, disk full */
	RM_EDATA = -2,   /* malformed or inconsistent input data */
	RM_ENOMEM = -3,  /* allocation failed or a declared size is absurd */
	RM_EUSAGE = -4,  /* invalid argument from the caller */
	RM_EPIPE = -5,   /* the reader of our output went away */
	RM_ENUM = -6,    /* a non-finite number appeared in the math */
};

struct rm_error {
	int code;
	char msg[1024];
};

/*
 * rm_error_set - format a message into err (if not NULL) and return code.
 * Usage: return rm_error_set(err, RM_EDATA, "%s:%zu: bad magic", name, line);
 */
int rm_error_set(struct rm_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * rm_error_prefix - put "prefix: " in front of the message already in err,
 * keeping its code; returns err->code (or RM_EIO when err is NULL).
 */
int rm_error_prefix(struct rm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * rm_xmalloc-style helpers that fail with RM_ENOMEM instead of aborting.
 * rm_checked_size multiplies a*b into *out and fails (returns -1) on
 * overflow or when the result exceeds limit bytes.
 */
int rm_checked_size(size_t a, size_t b, size_t limit, size_t *out);

#endif
