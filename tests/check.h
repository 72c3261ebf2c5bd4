/*
 * check.h - minimal assertions for C unit tests.  A test program runs its
 * checks, prints each failure with file:line, and exits 1 if any failed
 * (77 to skip).  Use CHECK(cond, fmt, ...) and return check_done().
 */
#ifndef RM_TEST_CHECK_H
#define RM_TEST_CHECK_H

#include <stdio.h>
#include <math.h>

static int check_failures, check_count;

#define CHECK(cond, ...) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol, what) do { \
	double ca_ = (a), cb_ = (b); \
	CHECK(fabs(ca_ - cb_) <= (atol) + (rtol) * fabs(cb_) && ca_ == ca_, \
	      "%s: %.9g vs %.9g", (what), ca_, cb_); \
} while (0)

static inline int
check_done(void)
{
	printf("%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
