#include "cli/trainopt.h"
#include "stream/tensor.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "cli/cli.h"
#include "stream/outdir.h"
#include "train/dist.h"
#include "train/metarm.h"

int
rm_trainopt_apply(int c, const char *s, struct rm_train_options *o,
		  struct rm_train_cli *cli)
{
	switch (c) {
	case 'q': cli->quiet = 1; return 1;
	case 'j': cli->jobs = s; return 1;
	case 'o': cli->out = s; return 1;
	case RM_TRAINOPT_RESUME: cli->resume = 1; return 1;
	case RM_TRAINOPT_INIT: cli->init = s; return 1;
	case RM_TRAINOPT_TRUNCATE: cli->truncate = 1; return 1;
	case RM_TRAINOPT_LOG: cli->log = s; return 1;
	case RM_TRAINOPT_LOG_EVERY:
		cli->log_every = rm_opt_long("--log-every", s, 1, INT64_MAX);
		return 1;
	case RM_TRAINOPT_SAVE_EVERY:
		cli->save_every = rm_opt_long("--save-every", s, 0, INT64_MAX);
		return 1;
	case RM_TRAINOPT_SEED:
		o->seed = (uint64_t)rm_opt_long("--seed", s, 0, INT64_MAX);
		return 1;
	case RM_TRAINOPT_EPOCHS:
		o->epochs = (uint64_t)rm_opt_long("--epochs", s, 1, 1000000);
		o->steps = 0;
		return 1;
	case RM_TRAINOPT_STEPS:
		o->steps = (uint64_t)rm_opt_long("--steps", s, 1, INT64_MAX);
		return 1;
	case RM_TRAINOPT_BATCH_SIZE:
		o->batch_size = (size_t)rm_opt_long("--batch-size", s, 0, 1L << 30);
		return 1;
	case RM_TRAINOPT_BATCH_TOKENS:
		o->batch_tokens = (size_t)rm_opt_long("--batch-tokens", s, 2, 1L << 30);
		return 1;
	case RM_TRAINOPT_ACCUM:
		o->accum = (int)rm_opt_long("--accum", s, 1, 1 << 20);
		return 1;
	case RM_TRAINOPT_LR:
		o->lr = rm_opt_double("--lr", s, 0, 1e3);
		return 1;
	case RM_TRAINOPT_CLIP:
		o->clip = rm_opt_double("--clip", s, 0, 1e30);
		return 1;
	case RM_TRAINOPT_DROPOUT:
		o->dropout = (float)rm_opt_double("--dropout", s, 0, 0.95);
		return 1;
	case RM_TRAINOPT_PRECISION: /* process-wide: the products' inputs */
		rm_opt_precision(s);
		return 1;
	case RM_TRAINOPT_SAVE_DTYPE:
		if (!strcmp(s, "f32"))
			o->save_dtype = RM_DT_F32;
		else if (!strcmp(s, "bf16"))
			o->save_dtype = RM_DT_BF16;
		else
			rm_usage_error("--save-dtype: '%s' is not f32 or bf16", s);
		return 1;
	}
	return 0;
}

static struct rm_outdir *out_lock;

static void
release_lock(void)
{
	rm_outdir_unlock(out_lock);
	out_lock = NULL;
}

/*
 * A failure of rank 0's output checks: a usage error (2) or a failure (1);
 * with several ranks it ends the whole job, which waits for rank 0.
 */
static void __attribute__((noreturn, format(printf, 2, 3)))
out_fail(int status, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (rm_dist_size() > 1) {
		fprintf(stderr, "%s: %s\n", rm_cli_name(), msg);
		rm_dist_abort(status);
	}
	if (status == RM_EXIT_USAGE)
		rm_usage_error("%s", msg);
	rm_warn("%s", msg);
	exit(status);
}

void
rm_train_output_lock(struct rm_train_cli *cli, int metarm)
{
	struct rm_error err;
	int rc;

	if (!cli->out)
		rm_usage_error("no output directory (-o dir)");
	/* with several ranks, rank 0 writes the directory and holds the lock
	 * (the others only read it, to resume) */
	if (rm_dist_rank() != 0)
		return;
	if ((rc = rm_outdir_lock(&out_lock, cli->out, &err)) < 0)
		out_fail(rc == RM_EUSAGE ? RM_EXIT_USAGE : RM_EXIT_FAIL, "%s%s",
			 rc == RM_EUSAGE ? "-o " : "", err.msg);
	atexit(release_lock);
	cli->out = rm_outdir_path(out_lock);
	rm_check_not_inside("--log", cli->log, cli->out);
	if (rm_train_dir_check(cli->out, &err) < 0)
		out_fail(RM_EXIT_USAGE, "%s", err.msg);
	if (cli->resume) {
		char p[4200];
		struct stat sb;
		snprintf(p, sizeof p, "%s/%s", cli->out, RM_METARM_STATE_FILE);
		int is_meta = lstat(p, &sb) == 0;
		if (is_meta && !metarm)
			out_fail(RM_EXIT_USAGE, "--resume: %s is a MetaRM run (it holds %s): continue "
				 "it with rm-metastep --resume", cli->out, RM_METARM_STATE_FILE);
		if (!is_meta && metarm)
			out_fail(RM_EXIT_USAGE, "--resume: %s is not a MetaRM run (no %s): continue "
				 "it with rm-train --resume, or start a round from it with --init",
				 cli->out, RM_METARM_STATE_FILE);
	}
}

int
rm_train_log_open(const struct rm_train_cli *cli, FILE **log,
		  struct rm_error *err)
{
	*log = NULL;
	if (cli->log && !(*log = fopen(cli->log, cli->resume ? "a" : "w")))
		return rm_error_set(err, RM_EIO, "%s: %s", cli->log, strerror(errno));
	return 0;
}

int
rm_train_log_close(const struct rm_train_cli *cli, FILE *log,
		   struct rm_error *err)
{
	/* ferror too: a write that failed at an earlier fflush leaves
	 * nothing for fclose to report */
	int bad;

	if (log == NULL)
		return 0;
	bad = ferror(log);
	if (fclose(log) != 0 || bad)
		return rm_error_set(err, RM_EIO, "%s: write failed", cli->log);
	return 0;
}

int
rm_train_log_check(const struct rm_train_cli *cli, FILE *log, uint64_t step,
		   struct rm_error *err)
{
	int rc = 0;
	if (log) {
		errno = 0;
		int bad = fflush(log) != 0 || ferror(log);
		if (bad)
			rc = rm_error_set(err, RM_EIO, "step %" PRIu64 ": --log %s: write failed: %s",
					  step, cli->log, errno ? strerror(errno) : "I/O error");
	}
	return rm_dist_agree(rc, err);
}

int
rm_train_save_at(struct rm_trainer *t, const char *dir, struct rm_error *err)
{
	int rc = rm_trainer_save(t, dir, err);
	if (rc < 0)
		return rm_error_prefix(err, "step %" PRIu64, t->step);
	return 0;
}

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

void
rm_train_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;  /* a second signal ends the program at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int agreed_stop;  /* with several ranks: the last rm_train_stop_check's */

int
rm_train_stop_signal(void)
{
	return rm_dist_size() > 1 ? agreed_stop : stop_signal;
}

int
rm_train_stop_check(void)
{
	if (rm_dist_size() == 1)
		return stop_signal;
	if (!agreed_stop)
		agreed_stop = rm_dist_max(stop_signal);
	return agreed_stop;
}

void
rm_train_warn_stopped(uint64_t step, uint64_t total, const char *dir)
{
	rm_warn("%s at step %" PRIu64 " of %" PRIu64 ": checkpoint saved in %s "
		"(continue with --resume)", rm_train_stop_signal() == SIGINT ? "interrupted" :
		"terminated", step, total, dir);
}

/* ---- several ranks (lib/train/dist.h) ---------------------------------------- */

static void
dist_die(const struct rm_error *err)
{
	fprintf(stderr, "%s: %s\n", rm_cli_name(), err->msg);
	rm_dist_abort(RM_EXIT_FAIL);
}

/* Rank 0's standard input, whole, as every rank's standard input. */
static void
share_stdin(void)
{
	struct rm_error err;
	char *buf = NULL;
	uint64_t n = 0, cap = 0;
	if (rm_dist_rank() == 0) {
		for (;;) {
			if (n == cap) {
				cap = cap ? 2 * cap : 1 << 20;
				char *p = realloc(buf, cap);
				if (!p) {
					n = UINT64_MAX;
					break;
				}
				buf = p;
			}
			ssize_t k = read(0, buf + n, cap - n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				n = UINT64_MAX;
				break;
			}
			if (k == 0)
				break;
			n += (uint64_t)k;
		}
	}
	if (rm_dist_bcast(&n, sizeof n, 0, &err) < 0)
		dist_die(&err);
	if (n == UINT64_MAX) {
		rm_error_set(&err, RM_EIO, "rank 0: standard input: cannot read it whole");
		dist_die(&err);
	}
	if (rm_dist_rank() != 0 && !(buf = malloc(n ? n : 1))) {
		rm_error_set(&err, RM_ENOMEM, "rank %d: out of memory for standard input",
			     rm_dist_rank());
		dist_die(&err);
	}
	if (rm_dist_bcast(buf, n, 0, &err) < 0)
		dist_die(&err);
	int fd = memfd_create("rmkit-stdin", MFD_CLOEXEC);
	for (uint64_t at = 0; fd >= 0 && at < n;) {
		ssize_t k = write(fd, buf + at, n - at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			close(fd);
			fd = -1;
		} else {
			at += (uint64_t)k;
		}
	}
	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0) {
		rm_error_set(&err, RM_EIO, "rank %d: standard input copy: %s", rm_dist_rank(),
			     strerror(errno));
		dist_die(&err);
	}
	close(fd);
	free(buf);
}

void
rm_train_dist_start(int *argc, char ***argv, struct rm_train_cli *cli, int stdin_used)
{
	struct rm_error err;
	if (rm_dist_init(argc, argv, &err) < 0) {
		rm_warn_err(&err);
		exit(RM_EXIT_FAIL);
	}
	if (rm_dist_rank() != 0) {
		cli->quiet = 1;
		cli->log = NULL;
	}
	if (!cli->jobs && rm_dist_local_size() > 1) {
		/* the host's cores shared by its ranks */
		static char jobs[16];
		int n = rm_ncores() / rm_dist_local_size();
		snprintf(jobs, sizeof jobs, "%d", n > 0 ? n : 1);
		cli->jobs = jobs;
	}
	if (stdin_used && rm_dist_size() > 1)
		share_stdin();
}

int
rm_train_dist_check(const struct rm_trainer *t, struct rm_error *err)
{
	const struct rm_model *m = t->model;
	int rc = rm_dist_same_u64(t->fingerprint, "the training data", err);
	if (rc == 0)
		rc = rm_dist_same_u64(rm_hash64(m->params_mem, m->n_params * sizeof(float)),
				      "the starting parameters", err);
	return rc;
}

int
rm_train_dist_end(int rc, const struct rm_error *err)
{
	if (rc < 0 && rm_dist_rank() == 0)
		rm_warn_err(err);
	rm_dist_finish();
	return rc == 0 ? RM_EXIT_OK : rc == RM_EUSAGE ? RM_EXIT_USAGE : RM_EXIT_FAIL;
}

const char *
rm_train_dist_note(double secs, double comm0, double wait0)
{
	static char note[160];
	note[0] = 0;
	if (rm_dist_size() > 1 && secs > 0) {
		double w = rm_dist_wait_seconds() - wait0, c = rm_dist_comm_seconds() - comm0 - w;
		snprintf(note, sizeof note, " (%d ranks; rank 0 spent %.1f%% of it exchanging, "
			 "%.1f%% waiting for other ranks)", rm_dist_size(), 100 * c / secs,
			 100 * w / secs);
	}
	return note;
}
