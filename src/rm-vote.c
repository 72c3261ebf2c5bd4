/*
 * rm-vote - score a token stream with one reward model checkpoint: per
 * record the rewards of its sequences, in input order.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/checkpoint.h"
#include "base/buf.h"
#include "cli/cli.h"
#include "stream/io.h"
#include "nn/model.h"
#include "train/pairs.h"
#include "train/score.h"
#include "train/train.h"
#include "stream/tstream.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: rm-vote [-hz] [--jsonl] [--truncate] [--any-tokenizer] [-b tokens]\n"
		   "               [-j threads] [--precision fp32|bf16] [-o file] checkpoint [file]\n");
}

enum { OPT_VERSION = 256, OPT_JSONL, OPT_TRUNCATE, OPT_PRECISION, OPT_ANY_TOKENIZER };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "output", required_argument, NULL, 'o' },
	{ "zstd", no_argument, NULL, 'z' },
	{ "jsonl", no_argument, NULL, OPT_JSONL },
	{ "truncate", no_argument, NULL, OPT_TRUNCATE },
	{ "any-tokenizer", no_argument, NULL, OPT_ANY_TOKENIZER },
	{ "batch-tokens", required_argument, NULL, 'b' },
	{ "threads", required_argument, NULL, 'j' },
	{ "precision", required_argument, NULL, OPT_PRECISION },
	{ NULL, 0, NULL, 0 },
};

/* What the record loop needs. */
struct vote {
	struct rm_model *model;
	struct rm_workspace *ws;
	size_t ws_len;           /* longest sequence the workspace takes */
	size_t ws_tokens;        /* and most tokens in a batch */
	size_t budget;           /* tokens per batch */
	int threads, jsonl;
	int any_tokenizer;         /* --any-tokenizer */
	struct rm_token_ids ids;   /* the checkpoint's tokenizer */
	struct rm_out *out;
	struct rm_tsw *w;
	float *rewards;
	size_t cap;
};

/* A float as JSON, as rm-cat prints it (so --jsonl equals rm-cat's output). */
static int
put_float(struct rm_out *out, float v, struct rm_error *err)
{
	char b[40];
	int n = rm_json_float(b, sizeof b, v, 9);

	return rm_out_write(out, b, (size_t)n, err);
}

static int
write_record(struct vote *v, const struct rm_pairs *p, size_t i,
	     struct rm_error *err)
{
	const struct rm_pairs_rec *r = &p->rec[i];
	const float *x = v->rewards + r->seq;
	if (v->jsonl) {
		int rc = rm_out_printf(v->out, err, "{\"id\":%llu,\"hash\":%llu,",
				       (unsigned long long)r->id, (unsigned long long)r->hash);
		if (rc == 0 && p->kind == RM_PAIRS_PAIR) {
			if ((rc = rm_out_printf(v->out, err, "\"chosen\":")) == 0 &&
			    (rc = put_float(v->out, x[0], err)) == 0 &&
			    (rc = rm_out_printf(v->out, err, ",\"rejected\":")) == 0)
				rc = put_float(v->out, x[1], err);
		} else if (rc == 0 && p->kind == RM_PAIRS_SINGLE) {
			if ((rc = rm_out_printf(v->out, err, "\"reward\":")) == 0)
				rc = put_float(v->out, x[0], err);
		} else if (rc == 0) {
			rc = rm_out_printf(v->out, err, "\"rewards\":[");
			for (uint32_t j = 0; rc == 0 && j < r->n_seq; j++)
				if ((rc = put_float(v->out, x[j], err)) == 0 && j + 1 < r->n_seq)
					rc = rm_out_printf(v->out, err, ",");
			if (rc == 0)
				rc = rm_out_printf(v->out, err, "]");
		}
		return rc ? rc : rm_out_printf(v->out, err, "}\n");
	}
	struct rm_tensor t[4];
	rm_tensor_scalar(&t[0], "id", RM_DT_U64, &r->id);
	rm_tensor_scalar(&t[1], "hash", RM_DT_U64, &r->hash);
	size_t n = 3;
	if (p->kind == RM_PAIRS_PAIR) {
		rm_tensor_scalar(&t[2], "chosen", RM_DT_F32, &x[0]);
		rm_tensor_scalar(&t[3], "rejected", RM_DT_F32, &x[1]);
		n = 4;
	} else if (p->kind == RM_PAIRS_SINGLE) {
		rm_tensor_scalar(&t[2], "reward", RM_DT_F32, &x[0]);
	} else {
		rm_tensor_vector(&t[2], "rewards", RM_DT_F32, x, r->n_seq);
	}
	return rm_tsw_write(v->w, t, n, err);
}

/* Score one chunk of records and write them in order. */
static int
vote_chunk(struct vote *v, const struct rm_pairs *p, const char *name,
	   struct rm_error *err)
{
	int rc;
	if (p->n == 0)
		return 0;
	/* Batches of up to --batch-tokens, or the chunk's tokens when fewer; a
	 * longer sequence or batch than the workspace takes: make a bigger one. */
	size_t need = rm_train_batch_bound(p, 0, v->budget);
	if (!v->ws || p->longest_seq > v->ws_len || need > v->ws_tokens) {
		struct rm_workspace_options wo = {0};
		wo.max_tokens = need > v->ws_tokens ? need : v->ws_tokens;
		wo.max_seq_len = p->longest_seq > v->ws_len ? p->longest_seq : v->ws_len;
		wo.threads = v->threads;
		rm_workspace_free(v->ws);
		v->ws = NULL;
		if ((rc = rm_workspace_create(&v->ws, v->model, &wo, err)) < 0)
			return rm_error_prefix(err, "workspace for batches of %zu tokens",
					       wo.max_tokens);
		v->ws_len = wo.max_seq_len;
		v->ws_tokens = wo.max_tokens;
	}
	if (p->n_seqs > v->cap) {
		free(v->rewards);
		v->cap = p->n_seqs;
		if (!(v->rewards = malloc(v->cap * sizeof *v->rewards)))
			return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	if ((rc = rm_pairs_check_vocab(p, v->model->cfg.vocab_size, name, err)) < 0)
		return rc;
	if ((rc = rm_score_set(v->model, v->ws, v->ws_tokens, p, v->rewards, err)) < 0)
		return rm_error_prefix(err, "%s", name);
	for (size_t i = 0; i < p->n; i++)
		if ((rc = write_record(v, p, i, err)) < 0)
			return rc;
	return v->jsonl ? 0 : rm_out_flush(v->out, err);
}

static int
vote(struct vote *v, const char *path, const char *ckpt, int truncate,
     struct rm_error *err)
{
	struct rm_in *in;
	struct rm_tsr *r;
	struct rm_pairs *p;
	struct rm_pairs_options po = {0};
	po.max_len = (size_t)v->model->cfg.n_positions;
	po.truncate = truncate;
	int rc = rm_pairs_open(&p, &in, &r, path, &po, err);
	if (rc < 0)
		return rc;
	if (!v->any_tokenizer &&
	    (rc = rm_checkpoint_check_tokenizer(&v->ids, ckpt, p, rm_in_name(in),
						"--any-tokenizer", err)) < 0) {
		rm_pairs_free(p);
		rm_tsr_close(r);
		rm_in_close(in);
		return rc;
	}
	if (!v->jsonl) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "tool", "rm-vote");
		cJSON_AddStringToObject(m, "version", RM_VERSION);
		cJSON_AddStringToObject(m, "checkpoint", ckpt);
		char *s = cJSON_PrintUnformatted(m);
		cJSON_Delete(m);
		rc = s ? rm_tsw_open(&v->w, v->out, s, err)
		       : rm_error_set(err, RM_ENOMEM, "out of memory");
		cJSON_free(s);
		if (rc < 0)
			goto out;
	}
	/* Chunks of a few batches: bounded memory, output as it is scored;
	 * a progress line on a terminal. */
	struct rm_progress prog;
	uint64_t done = 0;
	rm_progress_init(&prog, "records", 0);
	do {
		rm_pairs_clear(p);
		rc = rm_pairs_read(p, r, 0, 4 * v->budget, err);
		if (rc >= 0) {
			int more = rc;
			rc = vote_chunk(v, p, rm_in_name(in), err);
			done += p->n;
			rm_progress_update(&prog, done, "%s", "");
			if (rc == 0)
				rc = more;
		}
	} while (rc == 1);
	rm_progress_end(&prog);
	if (rc == 0 && v->w) {
		rc = rm_tsw_close(v->w, err);
		v->w = NULL;
	}
out:
	rm_pairs_free(p);
	rm_tsr_close(r);
	rm_in_close(in);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *opath = NULL, *jobs = NULL;
	struct vote v = {0};
	struct rm_error err;
	int c, flags = 0, truncate = 0;
	rm_cli_init(argv[0]);
	v.budget = 16384;
	while ((c = getopt_long(argc, argv, "b:hj:o:z", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return rm_finish_stdout(RM_EXIT_OK);
		case OPT_VERSION: rm_print_version();
		case 'b': v.budget = (size_t)rm_opt_long("--batch-tokens", optarg, 1, 1L << 30); break;
		case 'j': jobs = optarg; break;
		case 'o': opath = optarg; break;
		case 'z': flags |= RM_OUT_ZSTD; break;
		case OPT_JSONL: v.jsonl = 1; break;
		case OPT_TRUNCATE: truncate = 1; break;
		case OPT_PRECISION: rm_opt_precision(optarg); break;
		case OPT_ANY_TOKENIZER: v.any_tokenizer = 1; break;
		default: usage(stderr); return RM_EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		rm_usage_error("%s", argc - optind < 1 ? "no checkpoint directory" : "too many operands");
	const char *ckpt = argv[optind], *path = argv[optind + 1];
	v.threads = rm_opt_threads(jobs);
	v.jsonl = v.jsonl != 0;
	if (!v.jsonl)
		flags |= RM_OUT_BINARY;

	if (rm_out_open(&v.out, opath, flags, 0, &err) < 0) {
		rm_warn_err(&err);
		return err.code == RM_EUSAGE ? RM_EXIT_USAGE : RM_EXIT_FAIL;
	}
	struct rm_checkpoint_info info = {0};
	int rc = rm_checkpoint_load(&v.model, ckpt, 0, &info, &err);
	v.ids = info.ids;
	if (rc == 0 && info.head_initialized) {
		rm_model_free(v.model);
		v.model = NULL;
		rc = rm_error_set(&err, RM_EDATA, "%s: no reward head (score.weight): not a reward "
				  "model", ckpt);
	}
	if (rc == 0)
		rc = vote(&v, path, ckpt, truncate, &err);
	if (rc == 0)
		rc = rm_out_commit(v.out, &err);
	else
		rm_out_abort(v.out);
	rm_tsw_free(v.w);
	rm_workspace_free(v.ws);
	rm_model_free(v.model);
	free(v.rewards);
	if (rc < 0) {
		rm_warn_err(&err);
		return rc == RM_EUSAGE && !v.model ? RM_EXIT_USAGE : RM_EXIT_FAIL;
	}
	return rm_finish_stdout(RM_EXIT_OK);
}
