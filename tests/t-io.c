/*
 * t-io.c - byte streams: plain and zstd round trips, detection by content,
 * truncated and concatenated zstd, lines (CRLF, last line without newline,
 * the line limit), atomic output, EPIPE, refusal to write to a terminal.
 */
#include "check.h"
#include "testfs.h"
#include "cli/cli.h"
#include "stream/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

/* Deterministic bytes that compress somewhat. */
static unsigned char *
make_data(size_t n)
{
	unsigned char *p = malloc(n);
	uint32_t x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (i % 7 == 0) ? '\n' : (unsigned char)('a' + (x >> 16) % 8);
	}
	return p;
}

/* Read a whole stream with rm_in_read in odd-sized chunks. */
static int
slurp(const char *path, unsigned char **out, size_t *n, int *is_zstd,
      struct rm_error *err)
{
	struct rm_in *in;
	size_t cap = 1 << 16, len = 0;
	unsigned char *b = malloc(cap);
	ssize_t r;
	int rc = rm_in_open(&in, path, err);

	if (rc < 0) {
		free(b);
		return rc;
	}
	if (is_zstd)
		*is_zstd = rm_in_is_zstd(in);
	for (;;) {
		if (cap - len < 7777) {
			cap *= 2;
			b = realloc(b, cap);
		}
		r = rm_in_read(in, b + len, 7777, err);
		if (r < 0) {
			rm_in_close(in);
			free(b);
			return (int)r;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	rm_in_close(in);
	*out = b;
	*n = len;
	return 0;
}

static void
test_round_trip(const char *name, int flags, int want_zstd)
{
	struct rm_error err = { 0 };
	struct rm_out *out;
	size_t n = 1500000, got_n = 0;
	unsigned char *data = make_data(n), *got = NULL;
	int z = -1, rc;

	rc = rm_out_open(&out, tpath(name), flags, 0, &err);
	CHECK(rc == 0, "%s: open: %s", name, err.msg);
	/* Mixed write sizes, and a printf. */
	CHECK(rm_out_write(out, data, 10, &err) == 0, "%s", err.msg);
	CHECK(rm_out_write(out, data + 10, n - 10 - 5, &err) == 0, "%s", err.msg);
	CHECK(rm_out_printf(out, &err, "%.*s", 5, (const char *)data + n - 5) == 0,
	      "%s", err.msg);
	CHECK(rm_out_flush(out, &err) == 0, "%s", err.msg);
	CHECK(rm_out_commit(out, &err) == 0, "%s: commit: %s", name, err.msg);
	rc = slurp(tpath(name), &got, &got_n, &z, &err);
	CHECK(rc == 0, "%s: read: %s", name, err.msg);
	CHECK(z == want_zstd, "%s: is_zstd %d", name, z);
	CHECK(got_n == n && memcmp(got, data, n) == 0, "%s: content differs (%zu)",
	      name, got_n);
	free(got);
	free(data);
}

static void
test_detect_and_frames(void)
{
	struct rm_error err = { 0 };
	const char *a = "first frame\n", *b = "second frame\n";
	char za[256], zb[256], both[512];
	size_t na = ZSTD_compress(za, sizeof za, a, strlen(a), 1);
	size_t nb = ZSTD_compress(zb, sizeof zb, b, strlen(b), 19);
	unsigned char *got = NULL;
	size_t n = 0;
	int z = -1;

	/* Compressed data under a plain name is still decompressed. */
	put_file(tpath("looks-plain.txt"), za, na);
	CHECK(slurp(tpath("looks-plain.txt"), &got, &n, &z, &err) == 0, "%s",
	      err.msg);
	CHECK(z == 1 && n == strlen(a) && memcmp(got, a, n) == 0,
	      "zstd under .txt name");
	free(got);

	/* Plain data under a .zst name is plain. */
	CHECK(rm_atomic_write_file(tpath("plain.zst"), a, strlen(a), &err) == 0,
	      "%s", err.msg);
	CHECK(slurp(tpath("plain.zst"), &got, &n, &z, &err) == 0, "%s", err.msg);
	CHECK(z == 0 && n == strlen(a) && memcmp(got, a, n) == 0,
	      "plain under .zst name");
	free(got);

	/* Concatenated frames read as one stream. */
	memcpy(both, za, na);
	memcpy(both + na, zb, nb);
	put_file(tpath("two.zst"), both, na + nb);
	CHECK(slurp(tpath("two.zst"), &got, &n, &z, &err) == 0, "%s", err.msg);
	CHECK(n == strlen(a) + strlen(b) && memcmp(got, a, strlen(a)) == 0 &&
	      memcmp(got + strlen(a), b, strlen(b)) == 0, "two frames");
	free(got);

	/* Every proper prefix of a frame (>= 4 bytes) is an error. */
	for (size_t cut = 4; cut < na + nb; cut++) {
		if (cut == na)
			continue;  /* a whole first frame is valid */
		put_file(tpath("cut.zst"), both, cut);
		got = NULL;
		int rc = slurp(tpath("cut.zst"), &got, &n, &z, &err);
		CHECK(rc == RM_EDATA, "cut at %zu: rc %d", cut, rc);
		if (cut > na + 12)  /* past the next frame header */
			CHECK(strstr(err.msg, "truncated zstd stream") != NULL,
			      "cut at %zu: %s", cut, err.msg);
		free(got);
	}
	/* Garbage after a frame is an error, not silently ignored. */
	memcpy(both + na, "junk", 4);
	put_file(tpath("junk.zst"), both, na + 4);
	got = NULL;
	CHECK(slurp(tpath("junk.zst"), &got, &n, &z, &err) == RM_EDATA,
	      "trailing junk accepted");
	free(got);

	/* Empty and tiny files are plain. */
	put_file(tpath("empty"), "", 0);
	CHECK(slurp(tpath("empty"), &got, &n, &z, &err) == 0 && n == 0 && z == 0,
	      "empty file");
	free(got);
	put_file(tpath("tiny"), "\x28\xb5", 2);
	CHECK(slurp(tpath("tiny"), &got, &n, &z, &err) == 0 && n == 2 && z == 0,
	      "two-byte file");
	free(got);

	/* Missing file: message names it. */
	CHECK(slurp(tpath("missing"), &got, &n, &z, &err) == RM_EIO &&
	      strstr(err.msg, "missing") != NULL, "missing: %s", err.msg);
}

static void
check_lines(const char *path, const char *const *want, size_t nwant)
{
	struct rm_error err = { 0 };
	struct rm_in *in;
	char *buf = NULL;
	size_t cap = 0, len, i = 0;
	int rc;

	CHECK(rm_in_open(&in, path, &err) == 0, "%s", err.msg);
	while ((rc = rm_in_getline(in, &buf, &cap, &len, &err)) == 1) {
		CHECK(i < nwant, "%s: extra line '%s'", path, buf);
		if (i < nwant)
			CHECK(len == strlen(want[i]) && strcmp(buf, want[i]) == 0,
			      "%s: line %zu: '%s' want '%s'", path, i, buf,
			      want[i]);
		i++;
		CHECK(rm_in_line(in) == i, "line counter");
	}
	CHECK(rc == 0, "%s: %s", path, err.msg);
	CHECK(i == nwant, "%s: %zu lines, want %zu", path, i, nwant);
	free(buf);
	rm_in_close(in);
}

static void
test_lines(void)
{
	static const char text[] = "a\r\nb\n\r\n\nx\ry\nlast";
	static const char *const want[] = { "a", "b", "", "", "x\ry", "last" };
	struct rm_error err = { 0 };
	struct rm_out *out;
	struct rm_in *in;
	char *buf = NULL, *big;
	size_t cap = 0, len, bign = 700000;

	put_file(tpath("lines.txt"), text, strlen(text));
	check_lines(tpath("lines.txt"), want, 6);
	/* Same through zstd. */
	CHECK(rm_out_open(&out, tpath("lines.zst"), 0, 0, &err) == 0, "%s", err.msg);
	CHECK(rm_out_write(out, text, strlen(text), &err) == 0, "%s", err.msg);
	CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
	check_lines(tpath("lines.zst"), want, 6);
	/* Trailing newline: no empty last line. */
	put_file(tpath("nl.txt"), "p\nq\n", 4);
	check_lines(tpath("nl.txt"), (const char *const[]){ "p", "q" }, 2);

	/* A line longer than the read buffer, then a short one. */
	big = malloc(bign + 3);
	memset(big, 'z', bign);
	memcpy(big + bign, "\nk", 2);
	put_file(tpath("big.txt"), big, bign + 2);
	CHECK(rm_in_open(&in, tpath("big.txt"), &err) == 0, "%s", err.msg);
	CHECK(rm_in_getline(in, &buf, &cap, &len, &err) == 1 && len == bign &&
	      buf[0] == 'z' && buf[bign - 1] == 'z' && buf[bign] == 0, "big line");
	CHECK(rm_in_getline(in, &buf, &cap, &len, &err) == 1 && strcmp(buf, "k") == 0,
	      "after big line");
	rm_in_close(in);
	/* The line limit. */
	CHECK(rm_in_open(&in, tpath("big.txt"), &err) == 0, "%s", err.msg);
	rm_in_set_max_line(in, 1000);
	CHECK(rm_in_getline(in, &buf, &cap, &len, &err) == RM_EDATA &&
	      strstr(err.msg, "big.txt:1: line longer than 1000 bytes") != NULL,
	      "limit: %s", err.msg);
	rm_in_close(in);
	free(big);
	free(buf);
}

static void
test_peek(void)
{
	struct rm_error err = { 0 };
	struct rm_in *in;
	const unsigned char *p;
	char b[8];
	ssize_t n;

	put_file(tpath("peek.txt"), "RMT1hello", 9);
	CHECK(rm_in_open(&in, tpath("peek.txt"), &err) == 0, "%s", err.msg);
	n = rm_in_peek(in, &p, 4, &err);
	CHECK(n == 4 && memcmp(p, "RMT1", 4) == 0, "peek");
	n = rm_in_peek(in, &p, 100, &err);
	CHECK(n == 9, "peek past end: %zd", n);
	CHECK(rm_in_read(in, b, 6, &err) == 6 && memcmp(b, "RMT1he", 6) == 0,
	      "read after peek");
	n = rm_in_peek(in, &p, 4, &err);
	CHECK(n == 3 && memcmp(p, "llo", 3) == 0, "peek tail");
	CHECK(rm_in_peek(in, &p, 5000, &err) == RM_EUSAGE, "peek too large");
	rm_in_close(in);
}

static int
count_entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dp);
	return n;
}

static void
test_atomic(void)
{
	struct rm_error err = { 0 };
	struct rm_out *out;
	char sub[600], path[700], *buf;
	size_t n;
	struct stat st;

	snprintf(sub, sizeof sub, "%s/atomic", testfs_dir);
	mkdir(sub, 0777);
	snprintf(path, sizeof path, "%s/out.rmt", sub);

	/* Abort leaves nothing, neither the file nor a temporary. */
	CHECK(rm_out_open(&out, path, RM_OUT_BINARY, 0, &err) == 0, "%s", err.msg);
	CHECK(rm_out_write(out, "data", 4, &err) == 0, "%s", err.msg);
	CHECK(count_entries(sub) == 1, "temporary file exists while writing");
	CHECK(access(path, F_OK) != 0, "final name exists before commit");
	rm_out_abort(out);
	CHECK(count_entries(sub) == 0, "abort left %d entries", count_entries(sub));

	/* Killed by a signal: the temporary file goes too (rm_cli_init). */
	pid_t pid = fork();
	if (pid == 0) {
		rm_cli_init("t-io");
		if (rm_out_open(&out, path, 0, 0, &err) < 0 ||
		    rm_out_write(out, "data", 4, &err) < 0 ||
		    rm_out_flush(out, &err) < 0 || count_entries(sub) != 1)
			_exit(1);
		raise(SIGTERM);
		_exit(2);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	      "child status %d", status);
	CHECK(count_entries(sub) == 0, "SIGTERM left %d entries", count_entries(sub));

	/* Commit replaces an old file only at the end. */
	put_file(path, "old", 3);
	CHECK(rm_out_open(&out, path, 0, 0, &err) == 0, "%s", err.msg);
	CHECK(rm_out_write(out, "new", 3, &err) == 0, "%s", err.msg);
	CHECK(rm_read_file(path, 100, &buf, &n, &err) == 0 && n == 3 &&
	      memcmp(buf, "old", 3) == 0, "old content visible until commit");
	free(buf);
	CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
	CHECK(rm_read_file(path, 100, &buf, &n, &err) == 0 && n == 3 &&
	      memcmp(buf, "new", 3) == 0, "new content after commit");
	free(buf);
	CHECK(count_entries(sub) == 1, "commit left temporaries");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0444) != 0,
	      "committed file is readable (mode %o)", st.st_mode & 0777);

	/* rm_read_file limit. */
	CHECK(rm_read_file(path, 2, &buf, &n, &err) == RM_ENOMEM, "limit");
	CHECK(rm_read_file(path, 3, &buf, &n, &err) == 0 && n == 3 &&
	      buf[3] == 0, "limit exact");
	free(buf);

	/* Output into a missing directory fails with the name. */
	CHECK(rm_out_open(&out, tpath("no/such/dir/x"), 0, 0, &err) == RM_EIO &&
	      strstr(err.msg, "no/such/dir/x") != NULL, "%s", err.msg);
	/* Special files are written directly. */
	CHECK(rm_out_open(&out, "/dev/null", RM_OUT_ZSTD, 0, &err) == 0, "%s",
	      err.msg);
	CHECK(rm_out_write(out, "x", 1, &err) == 0, "%s", err.msg);
	CHECK(rm_out_commit(out, &err) == 0, "/dev/null: %s", err.msg);
	CHECK(rm_atomic_write_file(path, "", 0, &err) == 0, "%s", err.msg);
	CHECK(stat(path, &st) == 0 && st.st_size == 0, "empty atomic write");
}

static void
test_pipe(void)
{
	struct rm_error err = { 0 };
	struct rm_out *out;
	struct rm_in *in;
	int fds[2], status;
	char name[64], *buf = NULL;
	size_t cap = 0, len, i = 0;
	pid_t pid;
	int rc;

	/* A zstd stream through a pipe, written in pieces and flushed. */
	CHECK(pipe(fds) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		snprintf(name, sizeof name, "/dev/fd/%d", fds[1]);
		if (rm_out_open(&out, name, RM_OUT_ZSTD, 0, &err) < 0)
			_exit(1);
		for (int k = 0; k < 1000; k++) {
			if (rm_out_printf(out, &err, "line %d\n", k) < 0)
				_exit(1);
			if (k % 100 == 0 && rm_out_flush(out, &err) < 0)
				_exit(1);
		}
		_exit(rm_out_commit(out, &err) < 0);
	}
	close(fds[1]);
	CHECK(rm_in_fdopen(&in, fds[0], "<pipe>", &err) == 0, "%s", err.msg);
	CHECK(rm_in_is_zstd(in), "pipe detected as zstd");
	while ((rc = rm_in_getline(in, &buf, &cap, &len, &err)) == 1) {
		char want[32];
		snprintf(want, sizeof want, "line %zu", i++);
		if (strcmp(buf, want) != 0) {
			CHECK(0, "pipe line '%s' want '%s'", buf, want);
			break;
		}
	}
	CHECK(rc == 0 && i == 1000, "pipe: rc %d, %zu lines: %s", rc, i, err.msg);
	rm_in_close(in);
	free(buf);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer failed");

	/* Writing to a pipe nobody reads: RM_EPIPE (with SIGPIPE ignored). */
	signal(SIGPIPE, SIG_IGN);
	CHECK(pipe(fds) == 0, "pipe");
	close(fds[0]);
	snprintf(name, sizeof name, "/dev/fd/%d", fds[1]);
	CHECK(rm_out_open(&out, name, 0, 0, &err) == 0, "%s", err.msg);
	rm_out_write(out, "x", 1, &err);
	rc = rm_out_commit(out, &err);
	CHECK(rc == RM_EPIPE, "epipe: rc %d: %s", rc, err.msg);
	close(fds[1]);
	signal(SIGPIPE, SIG_DFL);
}

static void
test_tty(void)
{
	struct rm_error err = { 0 };
	struct rm_out *out;
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	const char *pts;

	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
	    (pts = ptsname(m)) == NULL) {
		printf("no pseudo-terminal, tty refusal not tested\n");
		if (m >= 0)
			close(m);
		return;
	}
	CHECK(rm_out_open(&out, pts, RM_OUT_ZSTD, 0, &err) == RM_EUSAGE &&
	      strstr(err.msg, "terminal") != NULL, "zstd to tty: %s", err.msg);
	CHECK(rm_out_open(&out, pts, RM_OUT_BINARY, 0, &err) == RM_EUSAGE,
	      "binary to tty");
	CHECK(rm_out_open(&out, pts, 0, 0, &err) == 0, "text to tty: %s", err.msg);
	rm_out_abort(out);
	close(m);
}

int
main(void)
{
	testfs_init("t-io");
	test_round_trip("plain.bin", 0, 0);
	test_round_trip("comp.zst", 0, 1);
	test_round_trip("comp-flag.bin", RM_OUT_ZSTD, 1);
	test_detect_and_frames();
	test_lines();
	test_peek();
	test_atomic();
	test_pipe();
	test_tty();
	testfs_done(check_failures);
	return check_done();
}
