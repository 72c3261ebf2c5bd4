/*
 * cli.h - what every rm-* program shares: its name in messages, the exit
 * statuses, --version, and a rate-limited progress line on a terminal.
 *
 * Programs call rm_cli_init(argv[0]) first.  Messages go to stderr as
 * "rm-NAME: message".  Exit statuses: 0 success, 1 data or runtime error,
 * 2 usage.
 */
#ifndef RM_CLI_H
#define RM_CLI_H

#include <stdio.h>
#include <stdint.h>

#include "base/error.h"

#define RM_VERSION "0.1.0"

enum { RM_EXIT_OK = 0, RM_EXIT_FAIL = 1, RM_EXIT_USAGE = 2 };

/*
 * rm_cli_init - take the program name from argv0's last component; set
 * SIGPIPE to its default (quiet death under "| head"); on SIGINT, SIGTERM
 * and SIGHUP (unless ignored) remove uncommitted outputs' temporary files
 * before dying of the signal.
 */
void rm_cli_init(const char *argv0);
const char *rm_cli_name(void);
/* Print "rm-NAME: <fmt>" to stderr. */
void rm_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the error's message as "rm-NAME: <msg>". */
void rm_warn_err(const struct rm_error *err);
/* Print a usage error and "Try 'rm-NAME --help'." and exit 2. */
void rm_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* Print "rm-NAME (rmkit) VERSION" on stdout and exit 0. */
void rm_print_version(void) __attribute__((noreturn));

/*
 * Number parsing for options: the whole string must be a number in range,
 * otherwise a usage error naming the option is printed and the program
 * exits 2.
 */
long rm_opt_long(const char *opt, const char *s, long min, long max);
double rm_opt_double(const char *opt, const char *s, double min, double max);
/* -j N: 1..RM_POOL_MAX_THREADS threads; 0 or absent means all online cores. */
int rm_opt_threads(const char *s);
/*
 * --precision fp32|bf16: sets the matrix products' precision for the
 * process (nn/gemm.h).  bf16 on a CPU without bf16 instructions says once
 * on stderr that it runs as fp32 arithmetic on bf16-rounded inputs.
 */
void rm_opt_precision(const char *s);
int rm_ncores(void);

/*
 * rm_check_paths - a usage error (status 2) when an output of the command
 * names the same file as another output or an input: the same name, the
 * same existing file (hard or symbolic links included), or the same place
 * for a file not yet made.  NULL paths are skipped and "-" (the standard
 * streams) never collides.  what[i] says which option gave path[i] ("-o",
 * "--log", "input"); output[i] is 1 for an output.
 */
struct rm_path_use {
	const char *what, *path;
	int output;
};
void rm_check_paths(const struct rm_path_use *u, size_t n);
/*
 * rm_check_not_inside - a usage error when file would be written inside
 * directory dir (or dir.tmp, where a checkpoint is built): what names the
 * options for the message.
 */
void rm_check_not_inside(const char *what, const char *file, const char *dir);

/*
 * Flush stdout and check it, so that a full disk changes the exit status.
 * Returns status unchanged, or 1 when stdout had an error.
 */
int rm_finish_stdout(int status);

/*
 * Progress line on stderr, shown only when stderr is a terminal and at most
 * a few times a second.  rm_progress_update() takes the done count and a
 * free-form suffix; total may be 0 when unknown.  rm_progress_end() clears
 * the line.
 */
struct rm_progress {
	int enabled;
	uint64_t total;
	double start, last;
	const char *what;
};
void rm_progress_init(struct rm_progress *p, const char *what, uint64_t total);
void rm_progress_update(struct rm_progress *p, uint64_t done,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void rm_progress_end(struct rm_progress *p);
/* Monotonic seconds. */
double rm_now(void);

#endif
