#include "cli/trainopt.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "stream/outdir.h"
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

void
rm_train_output_lock(struct rm_train_cli *cli, int metarm)
{
	struct rm_error err;
	int rc;

	if (!cli->out)
		rm_usage_error("no output directory (-o dir)");
	if ((rc = rm_outdir_lock(&out_lock, cli->out, &err)) < 0) {
		if (rc == RM_EUSAGE)
			rm_usage_error("-o %s", err.msg);
		rm_warn_err(&err);
		exit(RM_EXIT_FAIL);
	}
	atexit(release_lock);
	cli->out = rm_outdir_path(out_lock);
	rm_check_not_inside("--log", cli->log, cli->out);
	if (rm_train_dir_check(cli->out, &err) < 0)
		rm_usage_error("%s", err.msg);
	if (cli->resume) {
		char p[4200];
		struct stat sb;
		snprintf(p, sizeof p, "%s/%s", cli->out, RM_METARM_STATE_FILE);
		int is_meta = lstat(p, &sb) == 0;
		if (is_meta && !metarm)
			rm_usage_error("--resume: %s is a MetaRM run (it holds %s): continue it "
				       "with rm-metastep --resume", cli->out, RM_METARM_STATE_FILE);
		if (!is_meta && metarm)
			rm_usage_error("--resume: %s is not a MetaRM run (no %s): continue it "
				       "with rm-train --resume, or start a round from it with "
				       "--init", cli->out, RM_METARM_STATE_FILE);
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

int
rm_train_stop_signal(void)
{
	return stop_signal;
}

void
rm_train_warn_stopped(uint64_t step, uint64_t total, const char *dir)
{
	rm_warn("%s at step %" PRIu64 " of %" PRIu64 ": checkpoint saved in %s "
		"(continue with --resume)", stop_signal == SIGINT ? "interrupted" :
		"terminated", step, total, dir);
}
