/*
 * rm-train - train a reward model on a token stream of preference pairs
 * and write a checkpoint directory (lib/train/train.h does the work).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/checkpoint.h"
#include "cli/cli.h"
#include "nn/model.h"
#include "train/pairs.h"
#include "train/train.h"
#include "cli/trainopt.h"
#include "train/dist.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: rm-train [-hq] [-j threads] -o dir [--resume] [--init dir | --config file]\n"
		"                [--model-type gpt2|llama|mistral|qwen2|qwen3] [--layers N]\n"
		"                [--heads N] [--kv-heads N] [--head-dim N] [--width N]\n"
		"                [--intermediate N] [--rope-theta X] [--context N] [--vocab N]\n"
		"                [--seed N] [--epochs N | --steps N] [--batch-size N]\n"
		"                [--batch-tokens N] [--accum N] [--lr X] [--min-lr-ratio X]\n"
		"                [--schedule constant|linear|cosine] [--warmup N] [--beta1 X]\n"
		"                [--beta2 X] [--eps X] [--weight-decay X] [--clip X]\n"
		"                [--dropout P] [--label-smoothing A] [--margin-scale S]\n"
		"                [--no-shuffle] [--truncate] [--any-tokenizer] [--save-dtype f32|bf16]\n"
		"                [--log file] [--log-every N]\n"
		"                [--eval file] [--eval-every N] [--save-every N]\n"
		"                [--contrastive simcse|simcse-diff|swav|swav-diff] [--cl-weight B]\n"
		"                [--cl-temp T] [--prototypes K] [--cl-dropout P]\n"
		"                [--precision fp32|bf16] [file]\n");
}

enum {
	OPT_VERSION = 256, OPT_CONFIG, OPT_LAYERS, OPT_HEADS, OPT_WIDTH, OPT_CONTEXT,
	OPT_VOCAB, OPT_MIN_LR, OPT_SCHEDULE, OPT_WARMUP, OPT_BETA1,
	OPT_BETA2, OPT_EPS, OPT_WD, OPT_LS, OPT_MARGIN, OPT_NO_SHUFFLE, OPT_EVAL,
	OPT_EVAL_EVERY,
	OPT_CONTRASTIVE, OPT_CL_WEIGHT, OPT_CL_TEMP, OPT_PROTOTYPES, OPT_CL_DROPOUT,
	OPT_MODEL_TYPE, OPT_KV_HEADS, OPT_HEAD_DIM, OPT_INTERMEDIATE, OPT_ROPE_THETA,
	OPT_ANY_TOKENIZER,
};

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	RM_TRAINOPT_LONGOPTS,
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "layers", required_argument, NULL, OPT_LAYERS },
	{ "heads", required_argument, NULL, OPT_HEADS },
	{ "width", required_argument, NULL, OPT_WIDTH },
	{ "context", required_argument, NULL, OPT_CONTEXT },
	{ "vocab", required_argument, NULL, OPT_VOCAB },
	{ "min-lr-ratio", required_argument, NULL, OPT_MIN_LR },
	{ "schedule", required_argument, NULL, OPT_SCHEDULE },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "beta1", required_argument, NULL, OPT_BETA1 },
	{ "beta2", required_argument, NULL, OPT_BETA2 },
	{ "eps", required_argument, NULL, OPT_EPS },
	{ "weight-decay", required_argument, NULL, OPT_WD },
	{ "label-smoothing", required_argument, NULL, OPT_LS },
	{ "margin-scale", required_argument, NULL, OPT_MARGIN },
	{ "no-shuffle", no_argument, NULL, OPT_NO_SHUFFLE },
	{ "eval", required_argument, NULL, OPT_EVAL },
	{ "eval-every", required_argument, NULL, OPT_EVAL_EVERY },
	{ "contrastive", required_argument, NULL, OPT_CONTRASTIVE },
	{ "cl-weight", required_argument, NULL, OPT_CL_WEIGHT },
	{ "cl-temp", required_argument, NULL, OPT_CL_TEMP },
	{ "prototypes", required_argument, NULL, OPT_PROTOTYPES },
	{ "cl-dropout", required_argument, NULL, OPT_CL_DROPOUT },
	{ "model-type", required_argument, NULL, OPT_MODEL_TYPE },
	{ "kv-heads", required_argument, NULL, OPT_KV_HEADS },
	{ "head-dim", required_argument, NULL, OPT_HEAD_DIM },
	{ "intermediate", required_argument, NULL, OPT_INTERMEDIATE },
	{ "rope-theta", required_argument, NULL, OPT_ROPE_THETA },
	{ "any-tokenizer", no_argument, NULL, OPT_ANY_TOKENIZER },
	{ NULL, 0, NULL, 0 },
};

/* What the command line says besides the training options. */
struct args {
	struct rm_train_cli cli;
	const char *config, *eval, *input;
	int lr_given;
	long shape[5];  /* layers heads width context vocab; 0 when not given */
	long eval_every;
	const char *model_type;          /* --model-type, NULL: gpt2 */
	long kv_heads, head_dim, inter;  /* 0 when not given */
	double rope_theta;               /* 0 when not given */
	int any_tokenizer;               /* --any-tokenizer */
};

/* The tokenizer the --init checkpoint was trained with ("" if unknown). */
static struct rm_token_ids init_ids;

static void
parse(int argc, char **argv, struct args *a, struct rm_train_options *o)
{
	int c;
	/* contrastive settings override the kind's defaults in any order */
	double cl_weight = NAN, cl_temp = NAN, cl_dropout = NAN;
	long cl_k = 0;
	optind = 0;  /* glibc: a full rescan, as for the first call */
	while ((c = getopt_long(argc, argv, "hj:o:q", longopts, NULL)) != -1) {
		const char *s = optarg;
		if (rm_trainopt_apply(c, s, o, &a->cli)) {
			a->lr_given |= c == RM_TRAINOPT_LR;
			continue;
		}
		switch (c) {
		case 'h': usage(stdout); exit(rm_finish_stdout(RM_EXIT_OK));
		case OPT_VERSION: rm_print_version();
		case OPT_CONFIG: a->config = s; break;
		case OPT_LAYERS: a->shape[0] = rm_opt_long("--layers", s, 1, 1000); break;
		case OPT_HEADS: a->shape[1] = rm_opt_long("--heads", s, 1, 1024); break;
		case OPT_WIDTH: a->shape[2] = rm_opt_long("--width", s, 1, 65536); break;
		case OPT_CONTEXT: a->shape[3] = rm_opt_long("--context", s, 1, 1 << 20); break;
		case OPT_VOCAB: a->shape[4] = rm_opt_long("--vocab", s, 1, 1 << 24); break;
		case OPT_MIN_LR: o->min_lr_ratio = rm_opt_double("--min-lr-ratio", s, 0, 1); break;
		case OPT_SCHEDULE: {
			int k = rm_lr_kind_parse(s);
			if (k < 0)
				rm_usage_error("--schedule: '%s' is not constant, linear or cosine", s);
			o->schedule = (enum rm_lr_kind)k;
			break;
		}
		case OPT_WARMUP: o->warmup = (uint64_t)rm_opt_long("--warmup", s, 0, INT64_MAX); break;
		case OPT_BETA1: o->adamw.beta1 = rm_opt_double("--beta1", s, 0, 0.999999); break;
		case OPT_BETA2: o->adamw.beta2 = rm_opt_double("--beta2", s, 0, 0.999999); break;
		case OPT_EPS: o->adamw.eps = rm_opt_double("--eps", s, 1e-30, 1); break;
		case OPT_WD: o->adamw.weight_decay = rm_opt_double("--weight-decay", s, 0, 10); break;
		case OPT_LS: o->label_smoothing = rm_opt_double("--label-smoothing", s, 0, 0.5); break;
		case OPT_MARGIN: o->margin_scale = rm_opt_double("--margin-scale", s, -1e6, 1e6); break;
		case OPT_NO_SHUFFLE: o->shuffle = 0; break;
		case OPT_EVAL: a->eval = s; break;
		case OPT_EVAL_EVERY: a->eval_every = rm_opt_long("--eval-every", s, 0, INT64_MAX); break;
		case OPT_CONTRASTIVE: {
			int k = rm_cl_kind_parse(s);
			if (k <= 0)
				rm_usage_error("--contrastive: '%s' is not simcse, simcse-diff, swav "
					       "or swav-diff", s);
			rm_cl_config_default(&o->cl, (enum rm_cl_kind)k);
			break;
		}
		case OPT_CL_WEIGHT: cl_weight = rm_opt_double("--cl-weight", s, 0, 1e6); break;
		case OPT_CL_TEMP: cl_temp = rm_opt_double("--cl-temp", s, 1e-6, 1e6); break;
		case OPT_PROTOTYPES: cl_k = rm_opt_long("--prototypes", s, 1, 65536); break;
		case OPT_CL_DROPOUT: cl_dropout = rm_opt_double("--cl-dropout", s, 1e-6, 0.95); break;
		case OPT_MODEL_TYPE: {
			struct rm_model_config t;
			if (rm_model_type_parse(s, &t) < 0)
				rm_usage_error("--model-type: '%s' is not gpt2, llama, mistral, qwen2 "
					       "or qwen3", s);
			a->model_type = s;
			break;
		}
		case OPT_KV_HEADS: a->kv_heads = rm_opt_long("--kv-heads", s, 1, 1024); break;
		case OPT_HEAD_DIM: a->head_dim = rm_opt_long("--head-dim", s, 2, 4096); break;
		case OPT_INTERMEDIATE: a->inter = rm_opt_long("--intermediate", s, 1, 1 << 20); break;
		case OPT_ROPE_THETA: a->rope_theta = rm_opt_double("--rope-theta", s, 1, 1e12); break;
		case OPT_ANY_TOKENIZER: a->any_tokenizer = 1; break;
		default: usage(stderr); exit(RM_EXIT_USAGE);
		}
	}
	if (o->cl.kind == RM_CL_NONE &&
	    (!isnan(cl_weight) || !isnan(cl_temp) || cl_k || !isnan(cl_dropout)))
		rm_usage_error("--cl-weight, --cl-temp, --prototypes and --cl-dropout need "
			       "--contrastive");
	if (cl_k && !rm_cl_has_prototypes(o->cl.kind))
		rm_usage_error("--prototypes needs --contrastive swav or swav-diff");
	if (!isnan(cl_weight))
		o->cl.weight = cl_weight;
	if (!isnan(cl_temp))
		o->cl.temp = cl_temp;
	if (cl_k)
		o->cl.prototypes = (size_t)cl_k;
	if (!isnan(cl_dropout))
		o->cl.dropout = (float)cl_dropout;
	if (argc - optind > 1)
		rm_usage_error("too many operands");
	int llama_opt = a->kv_heads || a->head_dim || a->inter || a->rope_theta > 0;
	if (llama_opt && a->model_type && !strcmp(a->model_type, "gpt2"))
		rm_usage_error("--kv-heads, --head-dim, --intermediate and --rope-theta are for "
			       "the llama family");
	if (a->model_type && (a->config || a->cli.init || a->cli.resume))
		rm_usage_error("--model-type is for a new model without --config, --init or --resume");
	a->input = optind < argc ? argv[optind] : NULL;
}

/* ---- the model ---------------------------------------------------------- */

static const char *const shape_opt[5] = {"--layers", "--heads", "--width", "--context", "--vocab"};

static int *
shape_field(struct rm_model_config *c, int i)
{
	int *f[5] = {&c->n_layer, &c->n_head, &c->n_embd, &c->n_positions, &c->vocab_size};
	return f[i];
}

/*
 * The model to start from: the checkpoint being resumed, --init, or a fresh
 * one from --config or the shape options.  vocab_size -1 means "take it
 * from the data" (filled in by the caller).
 */
static int
start_model(const struct args *a, const struct rm_train_options *o,
	    struct rm_model **m, struct rm_model_config *fresh, struct rm_error *err)
{
	int rc;
	*m = NULL;
	if (a->cli.resume || a->cli.init) {
		const char *dir = a->cli.resume ? a->cli.out : a->cli.init;
		struct rm_checkpoint_info info;
		if ((rc = rm_checkpoint_load(m, dir, o->seed, &info, err)) < 0)
			return rc;
		init_ids = info.ids;
		for (int i = 0; i < 5; i++)
			if (a->shape[i] && a->shape[i] != *shape_field(&(*m)->cfg, i))
				return rm_error_set(err, RM_EUSAGE, "%s %ld disagrees with %s (%d)",
						    shape_opt[i], a->shape[i], dir,
						    *shape_field(&(*m)->cfg, i));
		if (info.head_initialized && !a->cli.quiet)
			rm_warn("%s has no reward head (score.weight): initialised from seed %" PRIu64,
				dir, o->seed);
		return 0;
	}
	if (a->config) {
		/* a config.json, or a directory holding one */
		char dir[4096];
		struct stat sb;
		const char *base = strrchr(a->config, '/');
		base = base ? base + 1 : a->config;
		snprintf(dir, sizeof dir, "%s", a->config);
		if (stat(a->config, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
			if (strcmp(base, "config.json"))
				return rm_error_set(err, RM_EUSAGE, "--config %s: give a config.json "
						    "or the directory holding it", a->config);
			snprintf(dir, sizeof dir, "%.*s", (int)(base - a->config), a->config);
			if (!dir[0])
				snprintf(dir, sizeof dir, ".");
		}
		if ((rc = rm_checkpoint_read_config(dir, fresh, NULL, err)) < 0)
			return rc;
	} else if (a->model_type && strcmp(a->model_type, "gpt2")) {
		/* a small Llama-family model: the type sets biases and q/k norm */
		rm_model_config_llama(fresh);
		rm_model_type_parse(a->model_type, fresh);
		fresh->n_layer = 4;
		fresh->n_head = fresh->n_kv_head = 4;
		fresh->n_embd = 256;
		fresh->intermediate_size = 0;  /* from the width below */
		fresh->n_positions = 1024;
		fresh->vocab_size = -1;
		fresh->rope_theta = 10000;
		fresh->tie_word_embeddings = 0;
		fresh->qkv_bias = fresh->model_type == RM_QWEN2;
		fresh->qk_norm = fresh->model_type == RM_QWEN3;
	} else {
		rm_model_config_gpt2(fresh);
		fresh->n_layer = 4;
		fresh->n_head = 4;
		fresh->n_embd = 256;
		fresh->vocab_size = -1;
	}
	for (int i = 0; i < 5; i++)
		if (a->shape[i])
			*shape_field(fresh, i) = (int)a->shape[i];
	if (fresh->family == RM_FAMILY_LLAMA) {
		if (a->kv_heads)
			fresh->n_kv_head = (int)a->kv_heads;
		else if (a->model_type || a->shape[1])
			fresh->n_kv_head = fresh->n_head;
		if (a->head_dim)
			fresh->head_dim = (int)a->head_dim;
		else if (a->model_type || a->shape[1] || a->shape[2])
			fresh->head_dim = fresh->n_embd / fresh->n_head;
		if (a->inter)
			fresh->intermediate_size = (int)a->inter;
		else if (!fresh->intermediate_size) /* 8/3 of the width, a multiple of 8 */
			fresh->intermediate_size = (8 * fresh->n_embd / 3 + 7) / 8 * 8;
		if (a->rope_theta > 0)
			fresh->rope_theta = a->rope_theta;
	} else if (a->kv_heads || a->head_dim || a->inter || a->rope_theta > 0) {
		return rm_error_set(err, RM_EUSAGE, "--kv-heads, --head-dim, --intermediate and "
				    "--rope-theta are for the llama family (this is gpt2)");
	}
	fresh->embd_pdrop = fresh->attn_pdrop = fresh->resid_pdrop = o->dropout;
	return 0;
}

/* ---- the loop ------------------------------------------------------------- */

/* Pair-weighted means of the steps since the last log line. */
struct window {
	struct rm_train_stats sum;
	double secs;
	uint64_t steps;
	int cl;  /* contrastive learning on: log cl_loss */
};

static void
window_add(struct window *w, const struct rm_train_stats *s, double secs)
{
	double k = (double)s->pairs;
	w->sum.pairs += s->pairs;
	w->sum.tokens += s->tokens;
	w->sum.loss += k * s->loss;
	w->sum.accuracy += k * s->accuracy;
	w->sum.rc_mean += k * s->rc_mean;
	w->sum.rc_std += k * s->rc_std;
	w->sum.rr_mean += k * s->rr_mean;
	w->sum.rr_std += k * s->rr_std;
	w->sum.delta_mean += k * s->delta_mean;
	w->sum.cl_loss += k * s->cl_loss;
	w->sum.grad_norm += s->grad_norm;
	w->sum.lr = s->lr;
	w->sum.step = s->step;
	w->sum.epoch = s->epoch;
	w->secs += secs;
	w->steps++;
}

static void
log_line(FILE *f, const struct window *w)
{
	double k = w->sum.pairs ? (double)w->sum.pairs : 1;
	fprintf(f, "{\"step\":%" PRIu64 ",\"epoch\":%.6g,\"loss\":%.6g,\"accuracy\":%.6g,"
		"\"reward_chosen_mean\":%.6g,\"reward_chosen_std\":%.6g,"
		"\"reward_rejected_mean\":%.6g,\"reward_rejected_std\":%.6g,"
		"\"margin_mean\":%.6g,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens_per_s\":%.1f",
		w->sum.step, w->sum.epoch, w->sum.loss / k, w->sum.accuracy / k,
		w->sum.rc_mean / k, w->sum.rc_std / k, w->sum.rr_mean / k, w->sum.rr_std / k,
		w->sum.delta_mean / k, w->sum.lr, w->sum.grad_norm / (double)w->steps,
		w->secs > 0 ? (double)w->sum.tokens / w->secs : 0.0);
	if (w->cl)
		fprintf(f, ",\"cl_loss\":%.6g", w->sum.cl_loss / k);
	fputs("}\n", f);
}

static int
evaluate(struct rm_trainer *t, const struct rm_pairs *e, FILE *log, int quiet,
	 struct rm_error *err)
{
	struct rm_train_stats s;
	int rc = rm_trainer_eval(t, e, &s, err);
	if (rc < 0)
		return rm_error_prefix(err, "step %" PRIu64 ": evaluation", t->step);
	if (log) {
		fprintf(log, "{\"step\":%" PRIu64 ",\"eval_loss\":%.6g,\"eval_accuracy\":%.6g,"
			"\"eval_reward_chosen_mean\":%.6g,\"eval_reward_rejected_mean\":%.6g,"
			"\"eval_margin_mean\":%.6g}\n", s.step, s.loss, s.accuracy, s.rc_mean,
			s.rr_mean, s.delta_mean);
	}
	if (!quiet && !log)
		rm_warn("step %" PRIu64 ": eval loss %.4f accuracy %.4f", s.step, s.loss, s.accuracy);
	return 0;
}

static int
train(struct rm_trainer *t, const struct args *a, const struct rm_pairs *e,
      FILE *log, struct rm_error *err)
{
	struct rm_progress prog;
	struct window w = {0};
	struct rm_train_stats s = {0};
	double loss_ema = NAN, acc_ema = NAN;
	long log_every = a->cli.log_every ? a->cli.log_every : 10;
	int rc;
	if (a->cli.quiet)
		prog.enabled = 0;
	rm_progress_init(&prog, "step", t->total_steps);
	if (a->cli.quiet)
		prog.enabled = 0;
	while (!rm_trainer_done(t) && !rm_train_stop_check()) {
		double t0 = rm_now();
		if ((rc = rm_trainer_step(t, &s, err)) < 0)
			return rc;
		double dt = rm_now() - t0;
		window_add(&w, &s, dt);
		loss_ema = isnan(loss_ema) ? s.loss : 0.9 * loss_ema + 0.1 * s.loss;
		acc_ema = isnan(acc_ema) ? s.accuracy : 0.9 * acc_ema + 0.1 * s.accuracy;
		/* the same test on every rank: only rank 0 has the log, every
		 * rank learns that its write failed */
		int wrote = 0;
		if (s.step % (uint64_t)log_every == 0 || rm_trainer_done(t)) {
			w.cl = t->opt.cl.kind != RM_CL_NONE;
			if (log)
				log_line(log, &w);
			memset(&w, 0, sizeof w);
			wrote = 1;
		}
		if (e && a->eval_every && s.step % (uint64_t)a->eval_every == 0) {
			if ((rc = evaluate(t, e, log, a->cli.quiet, err)) < 0)
				return rc;
			wrote = 1;
		}
		if (wrote && (rc = rm_train_log_check(&a->cli, log, s.step, err)) < 0)
			return rc;
		if (a->cli.save_every && s.step % (uint64_t)a->cli.save_every == 0 && !rm_trainer_done(t) &&
		    (rc = rm_train_save_at(t, a->cli.out, err)) < 0)
			return rc;
		rm_progress_update(&prog, s.step, "loss %.4f acc %.3f %.0f tok/s", loss_ema,
				   acc_ema, dt > 0 ? (double)s.tokens / dt : 0.0);
	}
	rm_progress_end(&prog);
	if (!rm_train_stop_signal() && e && (!a->eval_every || s.step % (uint64_t)a->eval_every) &&
	    ((rc = evaluate(t, e, log, a->cli.quiet, err)) < 0 ||
	     (rc = rm_train_log_check(&a->cli, log, s.step, err)) < 0))
		return rc;
	return rm_train_save_at(t, a->cli.out, err);
}

/* ---- main --------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct args a = {0};
	struct rm_train_options o;
	struct rm_error err;
	int rc;
	rm_cli_init(argv[0]);
	rm_train_options_default(&o);
	a.cli.save_every = 1000;
	parse(argc, argv, &a, &o);
	if (a.cli.init && a.config)
		rm_usage_error("--init and --config both name a model");
	{
		const char *in = a.input ? a.input : "-";
		if (a.eval && !strcmp(a.eval, "-") && !strcmp(in, "-"))
			rm_usage_error("--eval and the training data are both standard input");
		const struct rm_path_use u[] = {
			{ "--log", a.cli.log, 1 }, { "training data", in, 0 }, { "--eval", a.eval, 0 },
		};
		rm_check_paths(u, sizeof u / sizeof *u);
	}
	rm_train_dist_start(&argc, &argv, &a.cli, !a.input || !strcmp(a.input, "-") ||
			    (a.eval && !strcmp(a.eval, "-")));
	rm_train_output_lock(&a.cli, 0);
	if (a.cli.resume) {
		/* The saved options are the defaults; the command line may repeat them. */
		if ((rc = rm_train_state_options(a.cli.out, &o, &err)) < 0) {
			rm_warn_err(&err);
			return RM_EXIT_FAIL;
		}
		struct args again = {0};
		parse(argc, argv, &again, &o);
	} else if (!a.lr_given && a.cli.init) {
		o.lr = 1e-5;  /* fine-tuning a pretrained model */
	}
	if ((rc = rm_train_options_check(&o, &err)) < 0)
		rm_usage_error("%s", err.msg);
	int threads = rm_opt_threads(a.cli.jobs);

	struct rm_model *m = NULL;
	struct rm_model_config fresh;
	struct rm_pairs *d = NULL, *e = NULL;
	struct rm_trainer *t = NULL;
	FILE *log = NULL;
	if ((rc = start_model(&a, &o, &m, &fresh, &err)) < 0)
		goto setup;
	struct rm_pairs_options po = {0};
	po.kind = RM_PAIRS_PAIR;
	po.max_len = (size_t)(m ? m->cfg.n_positions : fresh.n_positions);
	po.truncate = a.cli.truncate;
	if ((rc = rm_pairs_load(&d, a.input, &po, &err)) < 0 ||
	    (a.eval && (rc = rm_pairs_load(&e, a.eval, &po, &err)) < 0))
		goto setup;
	if (d->n_truncated && !a.cli.quiet)
		rm_warn("%zu training records cut to %zu tokens (the end kept)", d->n_truncated,
			po.max_len);
	if (!m) {
		if (fresh.vocab_size < 0) {
			if (d->vocab_size < 1) {
				rc = rm_error_set(&err, RM_EUSAGE, "the stream's metadata has no vocab_size: "
						  "give --vocab");
				goto setup;
			}
			fresh.vocab_size = (int)d->vocab_size;
			/* the data's tokens must fit the declared vocabulary
			 * before a model is sized by it */
			if ((rc = rm_pairs_check_vocab(d, fresh.vocab_size,
			    a.input ? a.input : "<stdin>", &err)) < 0)
				goto setup;
			if ((rc = rm_train_memory_check(&fresh, &err)) < 0) {
				rm_error_prefix(&err, "%s: vocab_size %d of its header, width %d",
				    a.input ? a.input : "<stdin>", fresh.vocab_size, fresh.n_embd);
				goto setup;
			}
		} else if ((rc = rm_train_memory_check(&fresh, &err)) < 0) {
			goto setup;
		}
		if ((rc = rm_model_create(&m, &fresh, &err)) < 0)
			goto setup;
		rm_model_init(m, o.seed);
	}
	if (a.cli.init && !a.cli.resume && !a.any_tokenizer &&
	    ((rc = rm_checkpoint_check_tokenizer(&init_ids, a.cli.init, d, a.input ? a.input : "<stdin>",
						 "--any-tokenizer", &err)) < 0 ||
	     (e && (rc = rm_checkpoint_check_tokenizer(&init_ids, a.cli.init, e, a.eval,
						       "--any-tokenizer", &err)) < 0)))
		goto fail;
	if ((rc = rm_pairs_check_vocab(d, m->cfg.vocab_size, a.input ? a.input : "<stdin>",
					&err)) < 0 ||
	    (e && (rc = rm_pairs_check_vocab(e, m->cfg.vocab_size, a.eval, &err)) < 0))
		goto setup;
	struct rm_train_fit fe = {e, 1};  /* evaluation: a record at a time or more */
	rc = rm_trainer_create(&t, m, d, &o, &fe, e ? 1 : 0, threads, &err);
	m = NULL;  /* the trainer owns it now */
	if (rc < 0)
		goto setup;
	if (a.cli.resume && (rc = rm_trainer_resume(t, a.cli.out, &err)) < 0)
		goto setup;
	if ((rc = rm_train_log_open(&a.cli, &log, &err)) < 0)
		goto setup;
	rm_train_catch_signals();
setup:  /* every rank set up, or every rank stops */
	if ((rc = rm_dist_agree(rc, &err)) < 0 || (rc = rm_train_dist_check(t, &err)) < 0)
		goto fail;

	double t0 = rm_now(), comm0 = rm_dist_comm_seconds(),
	       wait0 = rm_dist_wait_seconds();
	uint64_t step0 = t->step;
	if ((rc = train(t, &a, e, log, &err)) < 0)
		goto fail;
	rc = rm_dist_agree(rm_train_log_close(&a.cli, log, &err), &err);
	log = NULL;
	if (rc < 0)
		goto fail;
	if (rm_train_stop_signal()) {
		if (rm_dist_rank() == 0)
			rm_train_warn_stopped(t->step, t->total_steps, a.cli.out);
		rm_trainer_free(t);
		rm_pairs_free(d);
		rm_pairs_free(e);
		rm_dist_finish();
		return 128 + rm_train_stop_signal();
	}
	if (!a.cli.quiet)
		rm_warn("%" PRIu64 " steps (%" PRIu64 " this run) in %.1f s%s; checkpoint in %s",
			t->step, t->step - step0, rm_now() - t0, rm_train_dist_note(rm_now() - t0, comm0, wait0),
			a.cli.out);
	rm_trainer_free(t);
	rm_pairs_free(d);
	rm_pairs_free(e);
	return rm_train_dist_end(0, &err);
fail:
	if (log)
		fclose(log);
	rm_model_free(m);
	rm_trainer_free(t);
	rm_pairs_free(d);
	rm_pairs_free(e);
	return rm_train_dist_end(rc, &err);
}
