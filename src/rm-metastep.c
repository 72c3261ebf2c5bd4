/*
 * rm-metastep - MetaRM training (lib/train/metarm.h): from a reward model, on its
 * preference pairs and groups of responses sampled from the current policy,
 * write the updated checkpoint.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/checkpoint.h"
#include "cli/cli.h"
#include "train/metarm.h"
#include "train/pairs.h"
#include "train/train.h"
#include "cli/trainopt.h"
#include "train/dist.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: rm-metastep [-hq] [-j threads] -o dir (--init dir | --resume) [--seed N]\n"
		"                   [--epochs N | --steps N] [--batch-size N] [--meta-batch N]\n"
		"                   [--batch-tokens N] [--accum N] [--lr X] [--meta-lr X] [--clip X]\n"
		"                   [--dropout P] [--truncate] [--any-tokenizer] [--save-dtype f32|bf16]\n"
		"                   [--log file] [--log-every N] [--save-every N]\n"
		"                   [--precision fp32|bf16] pairs groups\n");
}

enum {
	OPT_VERSION = 256, OPT_META_BATCH, OPT_META_LR, OPT_ANY_TOKENIZER,
};

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	RM_TRAINOPT_LONGOPTS,
	{ "meta-batch", required_argument, NULL, OPT_META_BATCH },
	{ "any-tokenizer", no_argument, NULL, OPT_ANY_TOKENIZER },
	{ "meta-lr", required_argument, NULL, OPT_META_LR },
	{ NULL, 0, NULL, 0 },
};

struct args {
	struct rm_train_cli cli;
	const char *pairs, *groups;
	int any_tokenizer;  /* --any-tokenizer */
};

static void
parse(int argc, char **argv, struct args *a, struct rm_train_options *o,
      struct rm_metarm_options *mo)
{
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hj:o:q", longopts, NULL)) != -1) {
		const char *s = optarg;
		if (rm_trainopt_apply(c, s, o, &a->cli)) {
			continue;
		}
		switch (c) {
		case 'h': usage(stdout); exit(rm_finish_stdout(RM_EXIT_OK));
		case OPT_VERSION: rm_print_version();
		case OPT_META_BATCH:
			mo->meta_batch = (size_t)rm_opt_long("--meta-batch", s, 1, 1L << 20);
			break;
		case OPT_META_LR: mo->meta_lr = rm_opt_double("--meta-lr", s, 0, 1e3); break;
		case OPT_ANY_TOKENIZER: a->any_tokenizer = 1; break;
		default: usage(stderr); exit(RM_EXIT_USAGE);
		}
	}
	if (argc - optind != 2)
		rm_usage_error("give the pairs and the groups (two files)");
	a->pairs = argv[optind];
	a->groups = argv[optind + 1];
}

/* Means over the steps since the last log line. */
struct window {
	double loss, acc, j, absd, jnorm, gnorm, lr, secs, epoch;
	size_t pairs, tokens;
	uint64_t steps, step;
};

static void
log_line(FILE *f, const struct window *w)
{
	double n = w->steps ? (double)w->steps : 1, k = w->pairs ? (double)w->pairs : 1;
	fprintf(f, "{\"step\":%" PRIu64 ",\"epoch\":%.6g,\"loss\":%.6g,\"accuracy\":%.6g,"
		"\"j\":%.6g,\"abs_delta_mean\":%.6g,\"j_grad_norm\":%.6g,\"lr\":%.6g,"
		"\"grad_norm\":%.6g,\"tokens_per_s\":%.1f}\n", w->step, w->epoch, w->loss / k,
		w->acc / k, w->j / n, w->absd / n, w->jnorm / n, w->lr, w->gnorm / n,
		w->secs > 0 ? (double)w->tokens / w->secs : 0.0);
}

static int
run(struct rm_trainer *t, struct rm_metarm *mr, const struct args *a, FILE *log,
    struct rm_error *err)
{
	struct rm_progress prog;
	struct window w = {0};
	long log_every = a->cli.log_every ? a->cli.log_every : 10;
	double j_ema = NAN, loss_ema = NAN;
	rm_progress_init(&prog, "step", t->total_steps);
	if (a->cli.quiet)
		prog.enabled = 0;
	while (!rm_trainer_done(t) && !rm_train_stop_check()) {
		struct rm_train_stats s;
		struct rm_metarm_stats ms;
		double t0 = rm_now();
		int rc = rm_metarm_step(mr, &ms, &s, err);
		if (rc < 0)
			return rc;
		double dt = rm_now() - t0;
		w.loss += s.loss * (double)s.pairs;
		w.acc += s.accuracy * (double)s.pairs;
		w.pairs += s.pairs;
		w.tokens += s.tokens + ms.tokens;
		w.j += ms.j;
		w.absd += ms.abs_diff;
		w.jnorm += ms.j_grad_norm;
		w.gnorm += s.grad_norm;
		w.lr = s.lr;
		w.epoch = s.epoch;
		w.step = s.step;
		w.secs += dt;
		w.steps++;
		j_ema = isnan(j_ema) ? ms.j : 0.9 * j_ema + 0.1 * ms.j;
		loss_ema = isnan(loss_ema) ? s.loss : 0.9 * loss_ema + 0.1 * s.loss;
		/* the same test on every rank: only rank 0 has the log */
		if (s.step % (uint64_t)log_every == 0 || rm_trainer_done(t)) {
			if (log)
				log_line(log, &w);
			memset(&w, 0, sizeof w);
			if ((rc = rm_train_log_check(&a->cli, log, s.step, err)) < 0)
				return rc;
		}
		if (a->cli.save_every && s.step % (uint64_t)a->cli.save_every == 0 && !rm_trainer_done(t) &&
		    (rc = rm_train_save_at(t, a->cli.out, err)) < 0)
			return rc;
		rm_progress_update(&prog, s.step, "loss %.4f J %.4f", loss_ema, j_ema);
	}
	rm_progress_end(&prog);
	return rm_train_save_at(t, a->cli.out, err);
}

int
main(int argc, char **argv)
{
	struct args a = {0};
	struct rm_train_options o;
	struct rm_metarm_options mo;
	struct rm_error err;
	int rc;
	rm_cli_init(argv[0]);
	/* the paper's settings: lr = meta lr = 5e-6, batch 16 both, 1 epoch */
	rm_train_options_default(&o);
	o.lr = 5e-6;
	o.batch_size = 16;
	rm_metarm_options_default(&mo);
	a.cli.save_every = 1000;
	parse(argc, argv, &a, &o, &mo);
	if (!a.cli.init == !a.cli.resume)
		rm_usage_error("give --init dir (a new round) or --resume");
	if (!strcmp(a.pairs, "-") && !strcmp(a.groups, "-"))
		rm_usage_error("pairs and groups are both standard input");
	{
		const struct rm_path_use u[] = {
			{ "--log", a.cli.log, 1 }, { "pairs", a.pairs, 0 }, { "groups", a.groups, 0 },
		};
		rm_check_paths(u, sizeof u / sizeof *u);
	}
	rm_train_dist_start(&argc, &argv, &a.cli, !a.pairs || !strcmp(a.pairs, "-") ||
			    !a.groups || !strcmp(a.groups, "-"));
	rm_train_output_lock(&a.cli, 1);
	if (a.cli.resume) {
		if ((rc = rm_train_state_options(a.cli.out, &o, &err)) < 0) {
			rm_warn_err(&err);
			return RM_EXIT_FAIL;
		}
		struct args again = {0};
		parse(argc, argv, &again, &o, &mo);
	}
	if ((rc = rm_train_options_check(&o, &err)) < 0 ||
	    (rc = rm_metarm_options_check(&mo, &err)) < 0)
		rm_usage_error("%s", err.msg);
	int threads = rm_opt_threads(a.cli.jobs);

	struct rm_model *m = NULL;
	struct rm_pairs *d = NULL, *g = NULL;
	struct rm_trainer *t = NULL;
	struct rm_metarm *mr = NULL;
	FILE *log = NULL;
	struct rm_checkpoint_info info = {0};
	if ((rc = rm_checkpoint_load(&m, a.cli.resume ? a.cli.out : a.cli.init, o.seed, &info, &err)) < 0)
		goto setup;
	if (info.head_initialized && !a.cli.quiet)
		rm_warn("%s has no reward head (score.weight): initialised from seed %" PRIu64,
			a.cli.resume ? a.cli.out : a.cli.init, o.seed);
	struct rm_pairs_options po = {0};
	po.max_len = (size_t)m->cfg.n_positions;
	po.truncate = a.cli.truncate;
	po.kind = RM_PAIRS_PAIR;
	if ((rc = rm_pairs_load(&d, a.pairs, &po, &err)) < 0)
		goto setup;
	po.kind = RM_PAIRS_GROUP;
	if ((rc = rm_pairs_load(&g, a.groups, &po, &err)) < 0)
		goto setup;
	const char *ck = a.cli.resume ? a.cli.out : a.cli.init;
	if (!a.any_tokenizer &&
	    ((rc = rm_checkpoint_check_tokenizer(&info.ids, ck, d, a.pairs, "--any-tokenizer", &err)) < 0 ||
	     (rc = rm_checkpoint_check_tokenizer(&info.ids, ck, g, a.groups, "--any-tokenizer", &err)) < 0))
		goto setup;
	struct rm_train_fit fg = {g, mo.meta_batch};  /* as rm_metarm packs the groups */
	rc = rm_trainer_create(&t, m, d, &o, &fg, 1, threads, &err);
	m = NULL;  /* the trainer owns it */
	if (rc < 0 || (rc = rm_metarm_create(&mr, t, g, &mo, &err)) < 0)
		goto setup;
	if (a.cli.resume && ((rc = rm_trainer_resume(t, a.cli.out, &err)) < 0 ||
			 (rc = rm_metarm_resume(mr, a.cli.out, &err)) < 0))
		goto setup;
	if ((rc = rm_train_log_open(&a.cli, &log, &err)) < 0)
		goto setup;
	rm_train_catch_signals();
setup:  /* every rank set up, or every rank stops */
	if ((rc = rm_dist_agree(rc, &err)) < 0 || (rc = rm_train_dist_check(t, &err)) < 0 ||
	    (rc = rm_dist_same_u64(mr->fingerprint, "the meta set", &err)) < 0)
		goto fail;
	double t0 = rm_now(), comm0 = rm_dist_comm_seconds(),
	       wait0 = rm_dist_wait_seconds();
	if ((rc = run(t, mr, &a, log, &err)) < 0)
		goto fail;
	rc = rm_dist_agree(rm_train_log_close(&a.cli, log, &err), &err);
	log = NULL;
	if (rc < 0)
		goto fail;
	int status = RM_EXIT_OK;
	if (rm_train_stop_signal()) {
		if (rm_dist_rank() == 0)
			rm_train_warn_stopped(t->step, t->total_steps, a.cli.out);
		status = 128 + rm_train_stop_signal();
	} else if (!a.cli.quiet) {
		rm_warn("%" PRIu64 " MetaRM steps in %.1f s%s; checkpoint in %s", t->step,
			rm_now() - t0, rm_train_dist_note(rm_now() - t0, comm0, wait0), a.cli.out);
	}
	rm_metarm_free(mr);
	rm_trainer_free(t);
	rm_pairs_free(d);
	rm_pairs_free(g);
	rm_dist_finish();
	return status;
fail:
	if (log)
		fclose(log);
	rm_metarm_free(mr);
	rm_model_free(m);
	rm_trainer_free(t);
	rm_pairs_free(d);
	rm_pairs_free(g);
	return rm_train_dist_end(rc, &err);
}
