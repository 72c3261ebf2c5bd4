/*
 * cli.c - program name, messages, option numbers, stdout check, progress.
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/pool.h"
#include "nn/gemm.h"
#include "stream/io.h"

static char prog_name[64] = "rm";

/* Remove uncommitted outputs' temporary files, then die of the signal. */
static void
on_fatal_signal(int sig)
{
	rm_io_unlink_temps();
	signal(sig, SIG_DFL);
	raise(sig);
}

void
rm_cli_init(const char *argv0)
{
	const char *b = argv0 ? strrchr(argv0, '/') : NULL;

	b = b ? b + 1 : argv0;
	if (b != NULL && *b != '\0')
		snprintf(prog_name, sizeof prog_name, "%s", b);
	/*
	 * A parent (Python, some shells) may have left SIGPIPE ignored; dying
	 * of it keeps "rm-x | head" quiet and stops the work.  It goes through
	 * on_fatal_signal like the others, so that "rm-x -o f --log g | head"
	 * leaves no temporary file behind.
	 */
	signal(SIGPIPE, SIG_DFL);
	/* Keep an ignored SIGINT/SIGHUP ignored (nohup, background jobs). */
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction sa, old;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_fatal_signal;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
}

const char *
rm_cli_name(void)
{
	return prog_name;
}

void
rm_warn(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
rm_warn_err(const struct rm_error *err)
{
	rm_warn("%s", err->msg);
}

void
rm_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog_name);
	exit(RM_EXIT_USAGE);
}

void
rm_print_version(void)
{
	printf("%s (rmkit) %s\n", prog_name, RM_VERSION);
	exit(rm_finish_stdout(RM_EXIT_OK));
}

long
rm_opt_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max)
		rm_usage_error("invalid value '%s' for %s: expected an integer "
			       "from %ld to %ld", s, opt, min, max);
	return v;
}

double
rm_opt_double(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) ||
	    v < min || v > max)
		rm_usage_error("invalid value '%s' for %s: expected a number "
			       "from %g to %g", s, opt, min, max);
	return v;
}

int
rm_ncores(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int
rm_opt_threads(const char *s)
{
	char *end;
	long n = 0;

	if (s) {
		errno = 0;
		n = strtol(s, &end, 10);
		if (end == s || *end != '\0' || errno == ERANGE || n < 0 ||
		    n > RM_POOL_MAX_THREADS)
			rm_usage_error("invalid value '%s' for -j: expected a thread count from "
				       "1 to %d (the most one pool runs), or 0 for one per core "
				       "(%d here)", s, RM_POOL_MAX_THREADS, rm_ncores());
	}
	return n ? (int)n : rm_ncores();
}

void
rm_opt_precision(const char *s)
{
	static int warned;
	int p = rm_precision_parse(s);

	if (p < 0)
		rm_usage_error("--precision: '%s' is not fp32 or bf16", s);
	rm_gemm_set_precision((enum rm_precision)p);
	if (p == RM_PREC_BF16 && !rm_gemm_bf16_native() && !warned++)
		rm_warn("--precision bf16: no bf16 instructions on this CPU (or path %s); "
			"products round their inputs to bf16 and run in fp32",
			rm_gemm_path_name());
}

int
rm_finish_stdout(int status)
{
	int bad = fflush(stdout) != 0 || ferror(stdout);

	if (!bad)
		return status;
	if (errno != EPIPE)
		rm_warn("write error on standard output: %s", strerror(errno));
	return RM_EXIT_FAIL;
}

double
rm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
rm_progress_init(struct rm_progress *p, const char *what, uint64_t total)
{
	p->enabled = isatty(2);
	p->total = total;
	p->start = rm_now();
	p->last = p->start;   /* first line after a quarter second */
	p->what = what;
}

static void
fmt_secs(char *b, size_t n, double s)
{
	long t = s < 0 ? 0 : s > 1e8 ? 99999999 : (long)(s + 0.5);

	if (t >= 3600)
		snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

void
rm_progress_update(struct rm_progress *p, uint64_t done, const char *fmt, ...)
{
	char extra[256] = "", eta[32];
	double now, rate;
	va_list ap;

	if (!p->enabled)
		return;
	now = rm_now();
	if (now - p->last < 0.25)
		return;
	p->last = now;
	rate = now > p->start ? done / (now - p->start) : 0;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(extra, sizeof extra, fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "\r%s: %s %llu", prog_name, p->what ? p->what : "",
		(unsigned long long)done);
	if (p->total) {
		fprintf(stderr, "/%llu (%.1f%%)", (unsigned long long)p->total,
			100.0 * done / p->total);
	}
	fprintf(stderr, " %.1f/s", rate);
	if (p->total && rate > 0 && done <= p->total) {
		fmt_secs(eta, sizeof eta, (p->total - done) / rate);
		fprintf(stderr, " eta %s", eta);
	}
	if (extra[0])
		fprintf(stderr, " %s", extra);
	fputs("\033[K", stderr);
	fflush(stderr);
	p->enabled = 2;   /* something is on the line */
}

void
rm_progress_end(struct rm_progress *p)
{
	if (p->enabled == 2) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->enabled = 1;
	}
}

/* path's directory made absolute (symbolic links resolved), or NULL. */
static char *
real_dir(const char *path)
{
	char *d = rm_path_dir(path), *r;

	if (d == NULL)
		return NULL;
	r = realpath(d, NULL);
	free(d);
	return r;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	char *da, *db;
	int same;

	if (!strcmp(a, b))
		return 1;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	/* not both there yet: the same directory and name */
	da = real_dir(a);
	db = real_dir(b);
	same = da && db && !strcmp(da, db) && !strcmp(base_name(a), base_name(b));
	free(da);
	free(db);
	return same;
}

void
rm_check_paths(const struct rm_path_use *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			if (!u[i].path || !u[j].path || !(u[i].output || u[j].output) ||
			    !strcmp(u[i].path, "-") || !strcmp(u[j].path, "-"))
				continue;
			if (same_file(u[i].path, u[j].path))
				rm_usage_error("%s '%s' and %s '%s' are the same file",
					       u[i].what, u[i].path, u[j].what, u[j].path);
		}
}

void
rm_check_not_inside(const char *what, const char *file, const char *dir)
{
	char *fd, *dd, tmp[4200];

	if (!file || !dir || !strcmp(file, "-"))
		return;
	fd = real_dir(file);
	for (int k = 0; k < 2 && fd; k++) {
		snprintf(tmp, sizeof tmp, "%s%s", dir, k ? ".tmp" : "");
		dd = realpath(tmp, NULL);
		if (dd && !strcmp(fd, dd)) {
			free(dd);
			free(fd);
			rm_usage_error("%s: '%s' is inside the output directory '%s', "
				       "which every save replaces", what, file, dir);
		}
		free(dd);
	}
	free(fd);
}
