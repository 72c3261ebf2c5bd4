/*
 * t-cli.c - program helpers: name from argv[0], option numbers (good values
 * and usage errors with exit 2), core counts, rm_finish_stdout on a full
 * disk, the progress line (silent off a terminal; on a pseudo-terminal:
 * rate-limited, with count, total, rate and ETA, cleared at the end).
 */
#include "check.h"
#include "cli/cli.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run fn in a child with stderr (and stdout) captured; returns status. */
static int
run_captured(void (*fn)(const char *), const char *arg, char *buf, size_t n)
{
	int fds[2], st;
	ssize_t got, k = 0;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		fn(arg);
		exit(0);
	}
	close(fds[1]);
	while (k < (ssize_t)n - 1 &&
	       (got = read(fds[0], buf + k, n - 1 - (size_t)k)) > 0)
		k += got;
	buf[k] = '\0';
	close(fds[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
bad_long(const char *s)
{
	rm_opt_long("--seed", s, 0, 10);
}

static void
bad_double(const char *s)
{
	rm_opt_double("--alpha", s, 0, 1);
}

static void
full_stdout(const char *s)
{
	int fd = open("/dev/full", O_WRONLY);

	if (fd < 0)
		exit(77);
	dup2(fd, 1);
	printf("%s\n", s);
	exit(rm_finish_stdout(0));
}

static void
test_options(void)
{
	char out[1024];
	int st;

	rm_cli_init("/usr/local/bin/rm-test");
	CHECK(strcmp(rm_cli_name(), "rm-test") == 0, "name %s", rm_cli_name());
	CHECK(rm_opt_long("-n", "42", 0, 100) == 42, "long");
	CHECK(rm_opt_long("-n", "-3", -5, 100) == -3, "negative long");
	CHECK(rm_opt_double("-a", "0.25", 0, 1) == 0.25, "double");
	CHECK(rm_opt_double("-a", "1e-3", 0, 1) == 1e-3, "double exp");
	CHECK(rm_ncores() >= 1, "cores");
	CHECK(rm_opt_threads("0") == rm_ncores() &&
	      rm_opt_threads(NULL) == rm_ncores() && rm_opt_threads("3") == 3,
	      "threads");

	static const char *const bad_longs[] = { "", "x", "5x", "11", "-1",
						 "99999999999999999999" };
	for (size_t i = 0; i < sizeof bad_longs / sizeof bad_longs[0]; i++) {
		st = run_captured(bad_long, bad_longs[i], out, sizeof out);
		CHECK(st == 2 && strstr(out, "rm-test: invalid value") &&
		      strstr(out, "--seed") && strstr(out, "Try 'rm-test --help'"),
		      "bad long '%s': %d: %s", bad_longs[i], st, out);
	}
	static const char *const bad_doubles[] = { "", "nan", "inf", "1.5",
						   "0.5.", "-0.1" };
	for (size_t i = 0; i < sizeof bad_doubles / sizeof bad_doubles[0]; i++) {
		st = run_captured(bad_double, bad_doubles[i], out, sizeof out);
		CHECK(st == 2 && strstr(out, "--alpha"), "bad double '%s': %d: %s",
		      bad_doubles[i], st, out);
	}
	st = run_captured(full_stdout, "hello", out, sizeof out);
	if (st != 77)
		CHECK(st == 1 && strstr(out, "rm-test: write error on standard "
					"output"), "/dev/full: %d: %s", st, out);
}

static void
progress_run(const char *what)
{
	struct rm_progress p;
	double t0 = rm_now();
	uint64_t i = 0;

	rm_progress_init(&p, what, 1000);
	/* 0.6 s of updates as fast as possible: at most 2 lines at 4/s. */
	while (rm_now() - t0 < 0.6)
		rm_progress_update(&p, i++ % 1000, "loss %.2f", 0.5);
	/* At least 0.6 s since the start: this one shows if none did. */
	rm_progress_update(&p, 999, "loss %.2f", 0.5);
	rm_progress_end(&p);
	fflush(stderr);
}

static void
test_progress(void)
{
	char out[8192];
	int st, m;
	const char *pts;

	/* Not a terminal: nothing at all. */
	st = run_captured(progress_run, "pairs", out, sizeof out);
	CHECK(st == 0 && out[0] == '\0', "progress off a tty: '%s'", out);

	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
	    (pts = ptsname(m)) == NULL) {
		printf("no pseudo-terminal, progress line not tested\n");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int s = open(pts, O_RDWR);
		dup2(s, 2);
		progress_run("pairs");
		exit(0);
	}
	size_t k = 0;
	struct pollfd pf = { m, POLLIN, 0 };
	while (k < sizeof out - 1 && poll(&pf, 1, 2000) > 0) {
		ssize_t got = read(m, out + k, sizeof out - 1 - k);
		if (got <= 0)
			break;
		k += (size_t)got;
	}
	out[k] = '\0';
	waitpid(pid, &st, 0);
	close(m);
	int lines = 0;
	for (const char *p = out; (p = strstr(p, "rm-test: pairs ")) != NULL; p++)
		lines++;
	CHECK(lines >= 1 && lines <= 3, "%d progress lines in 0.6 s: %s", lines,
	      out);
	CHECK(strstr(out, "/1000 (") && strstr(out, "/s") && strstr(out, "eta ") &&
	      strstr(out, "loss 0.50"), "progress fields: %s", out);
	size_t n = strlen(out);
	CHECK(n >= 4 && strcmp(out + n - 4, "\r\033[K") == 0,
	      "line cleared at the end");
}

int
main(void)
{
	test_options();
	test_progress();
	return check_done();
}
