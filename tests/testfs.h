/*
 * testfs.h - scratch files for C tests: a fresh directory under $TMPDIR
 * (or /tmp), paths inside it, whole-file put and get.  Test programs call
 * testfs_init("t-name") first and testfs_done() last (it removes the
 * directory when no check failed, and keeps it for inspection otherwise).
 */
#ifndef RM_TEST_TESTFS_H
#define RM_TEST_TESTFS_H

#include <stdio.h>
#include <stdlib.h>

static char testfs_dir[256];

static inline void
testfs_init(const char *prefix)
{
	const char *t = getenv("TMPDIR");

	snprintf(testfs_dir, sizeof testfs_dir, "%s/%s.XXXXXX",
		 t && *t ? t : "/tmp", prefix);
	if (mkdtemp(testfs_dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

/* A path in the scratch directory; the last 4 results stay valid. */
static inline const char *
tpath(const char *name)
{
	static char buf[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", testfs_dir, name);
	return buf[k];
}

static inline void
put_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* The whole file (caller frees), exits the test when unreadable. */
static inline unsigned char *
get_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b = NULL;
	size_t cap = 0, len = 0, r;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	do {
		if (cap - len < 65536) {
			cap = cap * 2 + 65536;
			if ((b = realloc(b, cap)) == NULL)
				exit(1);
		}
		r = fread(b + len, 1, cap - len, f);
		len += r;
	} while (r > 0);
	fclose(f);
	*n = len;
	return b;
}

static inline void
testfs_done(int failures)
{
	char cmd[600];

	if (failures == 0) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", testfs_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", testfs_dir);
	} else {
		fprintf(stderr, "scratch files kept in %s\n", testfs_dir);
	}
}

#endif
