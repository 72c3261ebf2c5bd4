/*
 * fuzz.h - helpers shared by the libFuzzer harnesses in tests/fuzz/.
 *
 * Each harness fuzz_NAME.c defines `static int fuzz_NAME(const uint8_t *,
 * size_t)` and, unless RM_FUZZ_REPLAY is defined, the libFuzzer entry
 * point calling it.  tests/tool-fuzzreplay.c defines RM_FUZZ_REPLAY and
 * includes every harness, so the saved regression inputs replay under the
 * ordinary toolchain (and under ASan with `make check-asan`).
 *
 * The harnesses check more than "no crash": a failing library call must
 * leave one non-empty error line (the library's contract; programs print
 * it as is), so an empty or multi-line message aborts too.
 */
#ifndef RM_FUZZ_H
#define RM_FUZZ_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "stream/io.h"

/* The libFuzzer entry point, except in the replay driver. */
#ifdef RM_FUZZ_REPLAY
#define FUZZ_ENTRY(fn)
#else
#define FUZZ_ENTRY(fn)                                                    \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);        \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)         \
	{                                                                 \
		return fn(data, n);                                       \
	}
#endif

/* Abort (a finding) unless a failed call left a one-line message. */
static inline void
fuzz_check_err(int rc, const struct rm_error *err, const char *what)
{
	if (rc >= 0)
		return;
	if (err->msg[0] == '\0' || strchr(err->msg, '\n')) {
		fprintf(stderr, "fuzz: %s failed (%d) with a bad message: '%s'\n",
			what, rc, err->msg);
		abort();
	}
}

/* An rm_in reading data[0..n) from a memory file (NULL on failure). */
static inline struct rm_in *
fuzz_memin(const uint8_t *data, size_t n, const char *name)
{
	int fd = memfd_create(name, 0);
	if (fd < 0)
		return NULL;
	if (n && write(fd, data, n) != (ssize_t)n) {
		close(fd);
		return NULL;
	}
	lseek(fd, 0, SEEK_SET);
	struct rm_in *in;
	struct rm_error err = {0};
	int rc = rm_in_fdopen(&in, fd, name, &err);
	fuzz_check_err(rc, &err, "rm_in_fdopen");
	return rc < 0 ? NULL : in;
}

/* A scratch directory of this process, made once, removed at exit. */
static char fuzz_dir_path[256];

static inline void
fuzz_dir_cleanup(void)
{
	char cmd[300];
	if (fuzz_dir_path[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
		if (system(cmd) != 0)
			fprintf(stderr, "fuzz: cannot remove %s\n", fuzz_dir_path);
	}
}

static inline const char *
fuzz_dir(void)
{
	if (!fuzz_dir_path[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/rmfuzz.XXXXXX",
			 t && *t ? t : "/tmp");
		if (!mkdtemp(fuzz_dir_path)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(fuzz_dir_cleanup);
	}
	return fuzz_dir_path;
}

/* Write data[0..n) to the scratch file NAME; returns its path (static). */
static inline const char *
fuzz_file(const char *name, const uint8_t *data, size_t n)
{
	static char path[4][512];
	static int slot;
	char *p = path[slot++ & 3];
	snprintf(p, sizeof path[0], "%s/%s", fuzz_dir(), name);
	FILE *f = fopen(p, "wb");
	if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
		perror(p);
		abort();
	}
	return p;
}

static inline void
fuzz_unlink(const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", fuzz_dir(), name);
	unlink(p);
}

/*
 * Split data at the first "\n====\n" into two parts: the input of loaders
 * that read two files (encoder.json + vocab.bpe, config.json +
 * model.safetensors), or a file and text to encode.  Without the
 * separator the second part is empty.
 */
#define FUZZ_SEP "\n====\n"
static inline void
fuzz_split(const uint8_t *data, size_t n, const uint8_t **a, size_t *an,
	   const uint8_t **b, size_t *bn)
{
	const uint8_t *s = memmem(data, n, FUZZ_SEP, 6);
	*a = data;
	if (!s) {
		*an = n;
		*b = data + n;
		*bn = 0;
		return;
	}
	*an = (size_t)(s - data);
	*b = s + 6;
	*bn = n - *an - 6;
}

#endif
