/*
 * train.c - the training loop: options, steps, evaluation, save, resume.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "train/checkpoint.h"
#include "train/dist.h"
#include "nn/contrastive.h"
#include "nn/loss.h"
#include "stream/io.h"
#include "stream/outdir.h"
#include "train/score.h"
#include "train/train.h"

/* ---- options ------------------------------------------------------------ */

void
rm_train_options_default(struct rm_train_options *o)
{
	memset(o, 0, sizeof *o);
	o->batch_size = 32;
	o->batch_tokens = 16384;
	o->accum = 1;
	o->epochs = 1;
	o->shuffle = 1;
	o->seed = 1;
	o->margin_scale = 1.0;
	o->lr = 1e-4;
	o->schedule = RM_LR_CONSTANT;
	o->adamw.beta1 = 0.9;
	o->adamw.beta2 = 0.95;
	o->adamw.eps = 1e-8;
	o->adamw.weight_decay = 0.0;
	o->clip = 1.0;
}

int
rm_train_options_check(const struct rm_train_options *o, struct rm_error *err)
{
	if (o->batch_tokens < 1)
		return rm_error_set(err, RM_EUSAGE, "batch_tokens must be at least 1");
	if (o->accum < 1 || o->accum > 1 << 20)
		return rm_error_set(err, RM_EUSAGE, "accum %d out of range", o->accum);
	if (!o->steps && !o->epochs)
		return rm_error_set(err, RM_EUSAGE, "no steps and no epochs to train");
	if (!(o->label_smoothing >= 0 && o->label_smoothing <= 0.5))
		return rm_error_set(err, RM_EUSAGE, "label_smoothing %g not in [0, 0.5]",
				    o->label_smoothing);
	if (!isfinite(o->margin_scale))
		return rm_error_set(err, RM_EUSAGE, "margin_scale is not finite");
	if (!(o->lr >= 0 && o->lr < 1e3))
		return rm_error_set(err, RM_EUSAGE, "lr %g out of range", o->lr);
	if (!(o->min_lr_ratio >= 0 && o->min_lr_ratio <= 1))
		return rm_error_set(err, RM_EUSAGE, "min_lr_ratio %g not in [0, 1]", o->min_lr_ratio);
	if (o->schedule != RM_LR_CONSTANT && o->schedule != RM_LR_LINEAR &&
	    o->schedule != RM_LR_COSINE)
		return rm_error_set(err, RM_EUSAGE, "unknown schedule %d", (int)o->schedule);
	const struct rm_adamw_config *a = &o->adamw;
	if (!(a->beta1 >= 0 && a->beta1 < 1) || !(a->beta2 >= 0 && a->beta2 < 1))
		return rm_error_set(err, RM_EUSAGE, "AdamW betas must be in [0, 1)");
	if (!(a->eps > 0 && a->eps < 1))
		return rm_error_set(err, RM_EUSAGE, "AdamW eps %g out of range", a->eps);
	if (!(a->weight_decay >= 0 && a->weight_decay < 10))
		return rm_error_set(err, RM_EUSAGE, "weight_decay %g out of range", a->weight_decay);
	if (!(o->clip >= 0 && isfinite(o->clip)))
		return rm_error_set(err, RM_EUSAGE, "clip %g out of range", o->clip);
	if (!(o->dropout >= 0 && o->dropout < 1))
		return rm_error_set(err, RM_EUSAGE, "dropout %g not in [0, 1)", (double)o->dropout);
	return rm_cl_config_check(&o->cl, err);
}

static const char *const sched_names[] = {"constant", "linear", "cosine"};

/*
 * The option table: JSON key, type, offset.  JSON, parse and diff all walk
 * it, so an option added to the struct needs one line here.
 */
enum { T_SIZE, T_INT, T_U64, T_DBL, T_FLT, T_SCHED, T_CLKIND, T_DTYPE };
#define OPT(key, type, field) {key, type, offsetof(struct rm_train_options, field)}
static const struct {
	const char *key;
	int type;
	size_t off;
} opt_table[] = {
	OPT("batch_size", T_SIZE, batch_size),
	OPT("batch_tokens", T_SIZE, batch_tokens),
	OPT("accum", T_INT, accum),
	OPT("epochs", T_U64, epochs),
	OPT("steps", T_U64, steps),
	OPT("shuffle", T_INT, shuffle),
	OPT("seed", T_U64, seed),
	OPT("label_smoothing", T_DBL, label_smoothing),
	OPT("margin_scale", T_DBL, margin_scale),
	OPT("lr", T_DBL, lr),
	OPT("min_lr_ratio", T_DBL, min_lr_ratio),
	OPT("schedule", T_SCHED, schedule),
	OPT("warmup", T_U64, warmup),
	OPT("beta1", T_DBL, adamw.beta1),
	OPT("beta2", T_DBL, adamw.beta2),
	OPT("eps", T_DBL, adamw.eps),
	OPT("weight_decay", T_DBL, adamw.weight_decay),
	OPT("clip", T_DBL, clip),
	OPT("dropout", T_FLT, dropout),
	/* not the math: kept by --resume, which may change it (diff skips it) */
	OPT("save_dtype", T_DTYPE, save_dtype),
	/* contrastive learning (issue 5) */
	OPT("contrastive", T_CLKIND, cl.kind),
	OPT("cl_weight", T_DBL, cl.weight),
	OPT("cl_temp", T_DBL, cl.temp),
	OPT("cl_prototypes", T_SIZE, cl.prototypes),
	OPT("cl_sinkhorn_eps", T_DBL, cl.sinkhorn_eps),
	OPT("cl_sinkhorn_iters", T_INT, cl.sinkhorn_iters),
	OPT("cl_symmetric", T_INT, cl.symmetric),
	OPT("cl_dropout", T_FLT, cl.dropout),
};
#define N_OPT (sizeof opt_table / sizeof opt_table[0])

/* Field i as text: exact (%.17g, %a-free) so that parse gives it back. */
static void
opt_text(const struct rm_train_options *o, size_t i, char *buf, size_t n)
{
	const char *p = (const char *)o + opt_table[i].off;
	switch (opt_table[i].type) {
	case T_SIZE: snprintf(buf, n, "%zu", *(const size_t *)p); break;
	case T_INT: snprintf(buf, n, "%d", *(const int *)p); break;
	case T_U64: snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p); break;
	case T_DBL: snprintf(buf, n, "%.17g", *(const double *)p); break;
	case T_FLT: snprintf(buf, n, "%.9g", (double)*(const float *)p); break;
	case T_CLKIND: snprintf(buf, n, "%s", rm_cl_kind_name(*(const enum rm_cl_kind *)p)); break;
	case T_DTYPE: snprintf(buf, n, "%s", *(const int *)p == RM_DT_BF16 ? "bf16" : "f32"); break;
	default: {
		int k = *(const int *)p;
		snprintf(buf, n, "%s", k >= 0 && k < 3 ? sched_names[k] : "?");
	}
	}
}

char *
rm_train_options_json(const struct rm_train_options *o)
{
	/* Values as strings: u64 seeds and exact doubles survive any reader. */
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	for (size_t i = 0; i < N_OPT; i++) {
		char v[64];
		opt_text(o, i, v, sizeof v);
		if (!cJSON_AddStringToObject(j, opt_table[i].key, v)) {
			cJSON_Delete(j);
			return NULL;
		}
	}
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

int
rm_train_options_parse(struct rm_train_options *o, const char *json,
		       struct rm_error *err)
{
	cJSON *j = cJSON_Parse(json);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return rm_error_set(err, RM_EDATA, "training options are not a JSON object");
	}
	int rc = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, j) {
		size_t i;
		for (i = 0; i < N_OPT; i++)
			if (!strcmp(e->string, opt_table[i].key))
				break;
		if (i == N_OPT || !cJSON_IsString(e)) {
			rc = rm_error_set(err, RM_EDATA, "training option '%s' is unknown or not a string",
					  e->string);
			break;
		}
		char *p = (char *)o + opt_table[i].off, *end;
		const char *s = e->valuestring;
		errno = 0;
		switch (opt_table[i].type) {
		case T_SIZE: *(size_t *)p = strtoull(s, &end, 10); break;
		case T_INT: *(int *)p = (int)strtol(s, &end, 10); break;
		case T_U64: *(uint64_t *)p = strtoull(s, &end, 10); break;
		case T_DBL: *(double *)p = strtod(s, &end); break;
		case T_FLT: *(float *)p = strtof(s, &end); break;
		case T_CLKIND: {
			int k = rm_cl_kind_parse(s);
			*(enum rm_cl_kind *)p = k < 0 ? RM_CL_NONE : (enum rm_cl_kind)k;
			end = k < 0 ? (char *)s : (char *)s + strlen(s);
			break;
		}
		case T_DTYPE: {
			int bf = !strcmp(s, "bf16");
			*(int *)p = bf ? RM_DT_BF16 : RM_DT_F32;
			end = bf || !strcmp(s, "f32") ? (char *)s + strlen(s) : (char *)s;
			break;
		}
		default: {
			int k = rm_lr_kind_parse(s);
			*(int *)p = k;
			end = k < 0 ? (char *)s : (char *)s + strlen(s);
		}
		}
		if (errno || end == s || *end) {
			rc = rm_error_set(err, RM_EDATA, "training option '%s' has a bad value '%s'",
					  e->string, s);
			break;
		}
	}
	cJSON_Delete(j);
	return rc;
}

const char *
rm_train_options_diff(const struct rm_train_options *a,
		      const struct rm_train_options *b)
{
	for (size_t i = 0; i < N_OPT; i++) {
		char x[64], y[64];
		if (opt_table[i].type == T_DTYPE)
			continue;
		opt_text(a, i, x, sizeof x);
		opt_text(b, i, y, sizeof y);
		if (strcmp(x, y))
			return opt_table[i].key;
	}
	return NULL;
}

/* ---- epochs and batches -------------------------------------------------- */

/* Tokens of pairs per micro-batch: half the budget with contrastive
 * learning, whose batches hold every sequence twice (two views). */
static size_t
pair_budget(const struct rm_train_options *o)
{
	return o->cl.kind != RM_CL_NONE ? o->batch_tokens / 2 : o->batch_tokens;
}

static int cl_create(struct rm_trainer *t, size_t mb_pairs, struct rm_error *err);
static size_t mb_rec_size(const struct rm_trainer *t);

static void
ensure_order(struct rm_trainer *t, uint64_t epoch)
{
	if (t->order_epoch == epoch)
		return;
	rm_pairs_order(t->order, t->data->n, t->opt.seed, epoch, t->opt.shuffle);
	t->order_epoch = epoch;
}

/* Steps in one epoch whose order is in t->order. */
static uint64_t
epoch_steps(const struct rm_trainer *t)
{
	uint64_t mbs = 0;
	for (size_t pos = 0; pos < t->data->n; mbs++)
		pos += rm_pairs_fit(t->data, t->order + pos, t->data->n - pos,
				    pair_budget(&t->opt), t->opt.batch_size);
	return (mbs + (uint64_t)t->opt.accum - 1) / (uint64_t)t->opt.accum;
}

/* Total steps of opt.epochs epochs (orders differ, so do their steps). */
static uint64_t
count_steps(struct rm_trainer *t)
{
	uint64_t total = 0;
	for (uint64_t e = 0; e < t->opt.epochs; e++) {
		rm_pairs_order(t->order, t->data->n, t->opt.seed, e, t->opt.shuffle);
		uint64_t s = epoch_steps(t);
		if (e == 0)
			t->steps_per_epoch = s;
		total += s;
		if (!t->opt.shuffle) {  /* every epoch the same */
			total = s * t->opt.epochs;
			break;
		}
	}
	t->order_epoch = UINT64_MAX;
	return total;
}

/* ---- create ------------------------------------------------------------- */

/* Sift h[0] of the min-heap h[0..k) down to its place. */
static void
heap_down(size_t *h, size_t k)
{
	size_t i = 0, v = h[0];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= k)
			break;
		if (c + 1 < k && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

size_t
rm_train_batch_bound(const struct rm_pairs *p, size_t max_records, size_t budget)
{
	size_t n = p->n, k = max_records && max_records < n ? max_records : n, sum = 0;
	if (k == 0)
		return 0;
	/* the k largest records in a min-heap; stop once they reach the budget */
	size_t *h = malloc(k * sizeof *h);
	if (!h)
		return budget;
	for (size_t i = 0; i < k; i++) {
		size_t t = rm_pairs_rec_tokens(p, i);
		sum += t;
		h[i] = t;
		for (size_t j = i; j > 0 && h[(j - 1) / 2] > h[j]; j = (j - 1) / 2) {
			size_t x = h[j];
			h[j] = h[(j - 1) / 2];
			h[(j - 1) / 2] = x;
		}
	}
	for (size_t i = k; i < n && sum < budget; i++) {
		size_t t = rm_pairs_rec_tokens(p, i);
		if (t > h[0]) {
			sum += t - h[0];
			h[0] = t;
			heap_down(h, k);
		}
	}
	free(h);
	return sum < budget ? sum : budget;
}

size_t
rm_trainer_workspace_tokens(const struct rm_trainer *t)
{
	return t->ws_tokens;
}


void
rm_trainer_free(struct rm_trainer *t)
{
	if (!t)
		return;
	rm_workspace_free(t->ws);
	rm_model_free(t->model);
	rm_adamw_release(&t->adamw);
	free(t->order);
	free(t->b_tokens);
	free(t->b_offsets);
	free(t->mb_start);
	free(t->mb_len);
	free(t->b_keys);
	free(t->b_rewards);
	free(t->b_drewards);
	free(t->b_margin);
	free(t->b_target);
	rm_dist_sum_free(t->sum);
	free(t->mb_recs);
	rm_cl_free(t->cl);
	rm_adamw_release(&t->cl_adamw);
	free(t->cl_h);
	free(t->cl_dh);
	free(t);
}

/* The data's name in messages: its file, or what it is when unnamed. */
static const char *
data_name(const struct rm_pairs *p)
{
	return p->name[0] ? p->name : "the training data";
}

int
rm_train_memory_check(const struct rm_model_config *c, struct rm_error *err)
{
	size_t n = rm_model_param_count(c, err);
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	double need, have;

	if (n == 0)
		return err && err->code ? err->code : RM_EUSAGE;
	if (pages <= 0 || psize <= 0)
		return 0;  /* unknown: let the allocation decide */
	need = 16.0 * (double)n;
	have = (double)pages * (double)psize;
	struct rlimit rl;
	int limited = getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		      (double)rl.rlim_cur < have;
	if (limited)
		have = (double)rl.rlim_cur;
	if (need > have)
		return rm_error_set(err, RM_ENOMEM, "a model of %zu parameters needs "
				    "%.1f GiB to train (weights, gradients and AdamW moments), "
				    "more than the %.1f GiB %s", n, need / (1 << 30),
				    have / (1 << 30), limited ? "this process may use (ulimit -v)" :
				    "of this machine");
	return 0;
}

int
rm_trainer_create(struct rm_trainer **out, struct rm_model *model,
		  const struct rm_pairs *data, const struct rm_train_options *o,
		  const struct rm_train_fit *also, size_t n_also, int threads,
		  struct rm_error *err)
{
	*out = NULL;
	int rc = rm_train_options_check(o, err);
	if (rc < 0) {
		rm_model_free(model);
		return rc;
	}
	struct rm_trainer *t = calloc(1, sizeof *t);
	if (!t) {
		rm_model_free(model);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	t->model = model;
	t->data = data;
	t->opt = *o;
	t->threads = threads;
	if (data->kind != RM_PAIRS_PAIR || data->n == 0) {
		rc = rm_error_set(err, RM_EDATA, "training needs pairs of chosen and rejected responses%s",
				  data->n ? "" : " (the stream is empty)");
		goto fail;
	}
	if ((size_t)model->cfg.n_positions < data->longest_seq) {
		rc = rm_error_set(err, RM_EDATA, "%s: a sequence has %zu tokens, more than the model's "
				  "%d positions", data_name(data), data->longest_seq,
				  model->cfg.n_positions);
		goto fail;
	}
	if ((rc = rm_pairs_check_vocab(data, model->cfg.vocab_size, data_name(data), err)) < 0)
		goto fail;
	for (size_t i = 0; i < data->n; i++)
		if (rm_pairs_rec_tokens(data, i) > pair_budget(o)) {
			rc = rm_error_set(err, RM_EUSAGE, "%s: record %zu (id %llu) has %zu tokens, "
					  "more than the batch budget of %zu tokens%s", data_name(data),
					  data->rec[i].index,
					  (unsigned long long)data->rec[i].id,
					  rm_pairs_rec_tokens(data, i), pair_budget(o),
					  o->cl.kind ? " (half of --batch-tokens: two views)" : "");
			goto fail;
		}
	size_t n = data->n;
	size_t mb_pairs = o->batch_size && o->batch_size < n ? o->batch_size : n;
	if (mb_pairs > pair_budget(o) / 2)
		mb_pairs = pair_budget(o) / 2;
	t->max_seqs = 2 * mb_pairs;
	size_t nacc = (size_t)o->accum;
	/* two views: every sequence twice in the packed batch */
	size_t nviews = o->cl.kind != RM_CL_NONE ? 2 : 1;
	t->order = malloc(n * sizeof *t->order);
	t->b_tokens = malloc(o->batch_tokens * sizeof *t->b_tokens);
	t->b_offsets = malloc((nviews * t->max_seqs + 1) * sizeof *t->b_offsets);
	t->mb_start = malloc(nacc * sizeof *t->mb_start);
	t->mb_len = malloc(nacc * sizeof *t->mb_len);
	t->b_keys = malloc(nviews * t->max_seqs * sizeof *t->b_keys);
	t->b_rewards = malloc(nviews * t->max_seqs * sizeof *t->b_rewards);
	t->b_drewards = malloc(nviews * t->max_seqs * sizeof *t->b_drewards);
	t->b_margin = malloc(mb_pairs * sizeof *t->b_margin);
	t->b_target = malloc(mb_pairs * sizeof *t->b_target);
	if (!t->order || !t->b_tokens || !t->b_offsets || !t->mb_start || !t->mb_len ||
	    !t->b_keys || !t->b_rewards || !t->b_drewards || !t->b_margin || !t->b_target) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory for batches");
		goto fail;
	}
	t->total_steps = o->steps ? o->steps : count_steps(t);
	if (o->steps) {
		rm_pairs_order(t->order, n, o->seed, 0, o->shuffle);
		t->steps_per_epoch = epoch_steps(t);
		t->order_epoch = UINT64_MAX;
	}
	if ((rc = rm_model_enable_grads(model, err)) < 0)
		goto fail;
	/* the workspace takes the largest micro-batch the data can form (every
	 * sequence twice with two views) and the other sets' largest batches */
	struct rm_workspace_options wo = {0};
	size_t ws_tokens = nviews * rm_train_batch_bound(data, mb_pairs, pair_budget(o));
	wo.max_seq_len = data->longest_seq;
	for (size_t i = 0; i < n_also; i++) {
		const struct rm_pairs *a = also[i].set;
		size_t need = rm_train_batch_bound(a, also[i].max_records, o->batch_tokens);
		if (need > ws_tokens)
			ws_tokens = need;
		if (a->longest_seq > wo.max_seq_len)
			wo.max_seq_len = a->longest_seq;
	}
	t->ws_tokens = wo.max_tokens = ws_tokens;
	wo.train = 1;
	wo.dropout = o->dropout > 0 || o->cl.kind != RM_CL_NONE;
	wo.threads = threads;
	if ((rc = rm_workspace_create(&t->ws, model, &wo, err)) < 0) {
		rm_error_prefix(err, "training workspace for micro-batches of up to %zu tokens "
				"(sequences of up to %zu; a smaller --batch-size or --batch-tokens "
				"needs less)", ws_tokens, wo.max_seq_len);
		goto fail;
	}
	if ((rc = rm_adamw_init(&t->adamw, &o->adamw, model->n_params, err)) < 0)
		goto fail;
	if (o->cl.kind != RM_CL_NONE && (rc = cl_create(t, mb_pairs, err)) < 0)
		goto fail;
	size_t ngrad = model->n_params + (t->cl && t->cl->proto_grad ? t->cl->proto.numel : 0);
	if ((rc = rm_dist_sum_create(&t->sum, ngrad, mb_rec_size(t), err)) < 0)
		goto fail;
	if (!(t->mb_recs = malloc(nacc * mb_rec_size(t)))) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory for batches");
		goto fail;
	}
	t->sched.kind = o->schedule;
	t->sched.lr = o->lr;
	t->sched.warmup = o->warmup;
	t->sched.total = t->total_steps;
	t->sched.min_ratio = o->min_lr_ratio;
	rm_rng_stream(&t->rng, o->seed, 0x747261696e /* "train" */, 0, 0);
	t->fingerprint = rm_pairs_fingerprint(data);
	t->order_epoch = UINT64_MAX;
	/* the stream's BOS when its sequences have one (Llama-3, Gemma),
	 * else the EOS as GPT-2's config has it; -1 (no EOS appended, no
	 * BOS) leaves both to the model's defaults */
	t->ids.eos = data->eos_id >= 0 ? (int)data->eos_id : -1;
	t->ids.bos = data->bos_id >= 0 ? (int)data->bos_id : t->ids.eos;
	t->ids.pad = -1;
	snprintf(t->ids.tokenizer, sizeof t->ids.tokenizer, "%s", data->tokenizer);
	snprintf(t->ids.tokenizer_hash, sizeof t->ids.tokenizer_hash, "%s", data->tokenizer_hash);
	snprintf(t->ids.tmpl, sizeof t->ids.tmpl, "%s", data->tmpl);
	snprintf(t->ids.tmpl_hash, sizeof t->ids.tmpl_hash, "%s", data->tmpl_hash);
	*out = t;
	return 0;
fail:
	rm_trainer_free(t);
	return rc;
}

int
rm_trainer_done(const struct rm_trainer *t)
{
	return t->step >= t->total_steps;
}

/* ---- one step ------------------------------------------------------------ */

/* Running sums for the step's statistics, in a fixed order. */
struct sums {
	double loss, correct, rc, rc2, rr, rr2, delta;
	size_t pairs, tokens;
};

static void
sums_add(struct sums *s, size_t k, const float *rc, const float *rr,
	 const float *target)
{
	for (size_t i = 0; i < k; i++) {
		s->correct += rm_pair_correct((double)rc[i] - rr[i], 0, target ? target[i] : 1);
		s->rc += rc[i];
		s->rc2 += (double)rc[i] * rc[i];
		s->rr += rr[i];
		s->rr2 += (double)rr[i] * rr[i];
		s->delta += (double)rc[i] - rr[i];
	}
	s->pairs += k;
}

static double
pop_std(double sum, double sum2, size_t n)
{
	double m = sum / (double)n, v = sum2 / (double)n - m * m;
	return v > 0 ? sqrt(v) : 0;
}

static void
sums_stats(const struct sums *s, struct rm_train_stats *st)
{
	size_t n = s->pairs ? s->pairs : 1;
	st->pairs = s->pairs;
	st->tokens = s->tokens;
	st->loss = s->loss / (double)n;
	st->accuracy = s->correct / (double)n;
	st->rc_mean = s->rc / (double)n;
	st->rr_mean = s->rr / (double)n;
	st->rc_std = pop_std(s->rc, s->rc2, n);
	st->rr_std = pop_std(s->rr, s->rr2, n);
	st->delta_mean = s->delta / (double)n;
}

/* "step 12: " + what + " in the batch of records with ids ...". */
static int
step_error(struct rm_trainer *t, size_t start, size_t len, int code,
	   struct rm_error *err, const char *what)
{
	char ids[512], w[sizeof err->msg];
	snprintf(w, sizeof w, "%s", what);  /* what may be err->msg */
	rm_ids_list(t->data, t->order + start, len, ids, sizeof ids);
	return rm_error_set(err, code, "step %" PRIu64 ": %s in the batch of records with %s",
			    t->step + 1, w, ids);
}

/* ---- contrastive learning (issue 5) -------------------------------------- */

/* Dropout keys of the second view: apart from rm_pairs_pack's keys
 * (record index << 16 | sequence, below 2^62) and MetaRM's (bit 62). */
#define CL_VIEW_KEY ((uint64_t)1 << 63)

static int
cl_create(struct rm_trainer *t, size_t mb_pairs, struct rm_error *err)
{
	const struct rm_train_options *o = &t->opt;
	size_t C = (size_t)t->model->cfg.n_embd;
	int rc = rm_cl_create(&t->cl, &o->cl, C, mb_pairs, err);
	if (rc < 0)
		return rc;
	rm_cl_init_prototypes(t->cl, o->seed);
	/* the prototypes are renormalised after each step: no decay */
	struct rm_adamw_config ac = o->adamw;
	ac.weight_decay = 0;
	if (t->cl->proto_mem &&
	    (rc = rm_adamw_init(&t->cl_adamw, &ac, t->cl->proto.numel, err)) < 0)
		return rc;
	t->cl_h = malloc(4 * mb_pairs * C * sizeof *t->cl_h);
	t->cl_dh = malloc(4 * mb_pairs * C * sizeof *t->cl_dh);
	if (!t->cl_h || !t->cl_dh)
		return rm_error_set(err, RM_ENOMEM, "out of memory for contrastive views");
	return 0;
}

/* Append the second view: the batch's n sequences again, other keys. */
static void
cl_second_view(struct rm_trainer *t, struct rm_batch *b)
{
	size_t n = b->n_seq, nt = t->b_offsets[n];
	memcpy(t->b_tokens + nt, t->b_tokens, nt * sizeof *t->b_tokens);
	for (size_t i = 0; i < n; i++) {
		t->b_offsets[n + i + 1] = nt + t->b_offsets[i + 1];
		t->b_keys[n + i] = t->b_keys[i] | CL_VIEW_KEY;
	}
	b->n_seq = 2 * n;
}

/*
 * The pairwise loss over both views of k pairs (rewards: view s's chosen,
 * rejected, then view t's) as their mean, with its gradient; then the
 * contrastive loss of the views' h_last, its gradient scaled by
 * weight * w (w: the micro-batch's share of the step) into t->cl_dh.
 */
static int
cl_losses(struct rm_trainer *t, size_t k, double w, double *pair_loss,
	  double *cl_loss, struct rm_error *err)
{
	float *r = t->b_rewards, *dr = t->b_drewards;
	double ls = rm_pairwise_loss(k, r, r + k, t->b_margin, t->b_target, dr, dr + k);
	double lt = rm_pairwise_loss(k, r + 2 * k, r + 3 * k, t->b_margin, t->b_target,
				     dr + 2 * k, dr + 3 * k);
	for (size_t i = 0; i < 4 * k; i++)
		dr[i] *= 0.5f;
	*pair_loss = 0.5 * (ls + lt);
	size_t C = (size_t)t->model->cfg.n_embd;
	int rc = rm_cl_forward(t->cl, k, t->cl_h, t->cl_h + 2 * k * C, cl_loss, err);
	if (rc < 0)
		return rc;
	memset(t->cl_dh, 0, 4 * k * C * sizeof *t->cl_dh);
	rm_cl_backward(t->cl, t->opt.cl.weight * w, t->cl_dh, t->cl_dh + 2 * k * C);
	return 0;
}

/* The prototypes' update after the model's: AdamW, then back to unit norm. */
static void
cl_update(struct rm_trainer *t, double lr)
{
	if (!t->cl || !t->cl->proto_mem)
		return;
	rm_adamw_step(&t->cl_adamw, t->cl->proto_mem, t->cl->proto_grad, &t->cl->proto, 1, lr);
	rm_cl_normalize_prototypes(t->cl);
}

/* ---- the micro-batches and their sum ------------------------------------------ */

/*
 * A step's micro-batches are the work units of lib/train/dist.h: rank
 * b mod N computes micro-batch b into zeroed gradients, and the step's
 * gradient is their sum in micro-batch order, the same at any rank count.
 * Each micro-batch leaves a record for the step's statistics: its loss,
 * contrastive loss, tokens, and per pair r_c, r_r and the target.
 */
struct mb_rec {
	double loss, cl_loss;
	uint64_t tokens;
	float r[];  /* [3k]: r_c, r_r, target */
};

static size_t
mb_rec_size(const struct rm_trainer *t)
{
	size_t n = sizeof(struct mb_rec) + 3 * (t->max_seqs / 2) * sizeof(float);
	return (n + 7) & ~(size_t)7;
}

static struct mb_rec *
mb_record(const struct rm_trainer *t, size_t b)
{
	return (struct mb_rec *)((char *)t->mb_recs + b * mb_rec_size(t));
}

struct step_ctx {
	struct rm_trainer *t;
	size_t npairs, nmb;  /* of the whole step */
	struct rm_dropout drop, *dp;
};

/* Micro-batch b of the step planned in t->mb_start, t->mb_len. */
static int
step_unit(void *ctx, size_t b, struct rm_error *err)
{
	struct step_ctx *c = ctx;
	struct rm_trainer *t = c->t;
	const struct rm_pairs *d = t->data;
	const struct rm_train_options *o = &t->opt;
	struct rm_model *m = t->model;
	double a = o->label_smoothing;
	const size_t *idx = t->order + t->mb_start[b];
	size_t k = t->mb_len[b];
	struct rm_batch batch;
	batch.n_seq = rm_pairs_pack(d, idx, k, t->b_tokens, t->b_offsets, t->b_keys, NULL);
	batch.tokens = t->b_tokens;
	batch.offsets = t->b_offsets;
	if (t->cl)
		cl_second_view(t, &batch);
	for (size_t i = 0; i < k; i++) {
		const struct rm_pairs_rec *r = &d->rec[idx[i]];
		t->b_margin[i] = (float)(o->margin_scale * r->margin);
		t->b_target[i] = (float)(r->target * (1 - a) + (1 - r->target) * a);
	}
	int rc = rm_model_forward(m, t->ws, &batch, c->dp, t->b_rewards,
				  t->cl ? t->cl_h : NULL, err);
	if (rc < 0)
		return step_error(t, t->mb_start[b], k, rc, err,
				  rc == RM_ENUM ? "non-finite reward" : err->msg);
	float *rc_ = t->b_rewards, *rr = t->b_rewards + k;
	double loss, cl_loss = 0;
	if (!t->cl) {
		loss = rm_pairwise_loss(k, rc_, rr, t->b_margin, t->b_target,
					t->b_drewards, t->b_drewards + k);
	} else if ((rc = cl_losses(t, k, (double)k / (double)c->npairs, &loss, &cl_loss,
				   err)) < 0) {
		return step_error(t, t->mb_start[b], k, rc, err, err->msg);
	}
	if (!isfinite(loss))
		return step_error(t, t->mb_start[b], k, RM_ENUM, err, "non-finite loss");
	/* the loss is the mean over the step's pairs, not the micro-batch's */
	float scale = (float)((double)k / (double)c->npairs);
	if (c->nmb > 1)
		for (size_t i = 0; i < batch.n_seq; i++)
			t->b_drewards[i] *= scale;
	struct mb_rec *rec = mb_record(t, b);
	rec->loss = loss;
	rec->cl_loss = cl_loss;
	rec->tokens = batch.offsets[batch.n_seq];
	memcpy(rec->r, rc_, k * sizeof(float));
	memcpy(rec->r + k, rr, k * sizeof(float));
	memcpy(rec->r + 2 * k, t->b_target, k * sizeof(float));
	if ((rc = rm_model_backward(m, t->ws, t->b_drewards, t->cl ? t->cl_dh : NULL,
				    err)) < 0)
		return step_error(t, t->mb_start[b], k, rc, err, err->msg);
	return 0;
}

/*
 * The one place where the gradients of a step are made complete: every
 * micro-batch computed (on its rank) and summed in a fixed order into
 * m->grads_mem and the prototypes' gradient, on every rank.
 */
static int
reduce_grads(struct rm_trainer *t, struct step_ctx *c, struct rm_error *err)
{
	struct rm_dist_job job = {0};
	job.units = c->nmb;
	job.compute = step_unit;
	job.ctx = c;
	job.seg[0].p = t->model->grads_mem;
	job.seg[0].n = t->model->n_params;
	job.nseg = 1;
	if (t->cl && t->cl->proto_grad) {
		job.seg[1].p = t->cl->proto_grad;
		job.seg[1].n = t->cl->proto.numel;
		job.nseg = 2;
	}
	job.rec = t->mb_recs;
	job.rec_size = mb_rec_size(t);
	return rm_dist_run(t->sum, &job, err);
}

int
rm_trainer_step(struct rm_trainer *t, struct rm_train_stats *st,
		struct rm_error *err)
{
	const struct rm_pairs *d = t->data;
	const struct rm_train_options *o = &t->opt;
	struct rm_model *m = t->model;
	if (rm_trainer_done(t))
		return rm_error_set(err, RM_EUSAGE, "training is already complete");

	/* Plan the step: up to accum micro-batches, within the epoch. */
	uint64_t epoch = t->epoch;
	size_t pos = t->pos;
	if (pos >= d->n) {
		epoch++;
		pos = 0;
	}
	ensure_order(t, epoch);
	size_t nmb = 0, start = pos, npairs = 0;
	while (nmb < (size_t)o->accum && pos < d->n) {
		size_t k = rm_pairs_fit(d, t->order + pos, d->n - pos, pair_budget(o),
					o->batch_size);
		if (k > t->max_seqs / 2)
			k = t->max_seqs / 2;
		t->mb_start[nmb] = pos;
		t->mb_len[nmb] = k;
		nmb++;
		pos += k;
		npairs += k;
	}

	struct sums s = {0};
	struct step_ctx sc = {t, npairs, nmb, {0}, NULL};
	if (o->dropout > 0 || t->cl) {  /* the views' dropout replaces --dropout */
		float p = t->cl ? o->cl.dropout : o->dropout;
		sc.drop.seed = o->seed;
		sc.drop.step = t->step;
		sc.drop.keys = t->b_keys;
		sc.drop.embd = sc.drop.attn = sc.drop.resid = p;
		sc.dp = &sc.drop;
	}
	int rc = reduce_grads(t, &sc, err);
	if (rc < 0)
		return rc;
	/* the statistics from every micro-batch's record, in order */
	double cl_sum = 0;
	for (size_t b = 0; b < nmb; b++) {
		const struct mb_rec *r = mb_record(t, b);
		size_t k = t->mb_len[b];
		s.loss += r->loss * (double)k;
		cl_sum += r->cl_loss * (double)k;
		s.tokens += (size_t)r->tokens;
		sums_add(&s, k, r->r, r->r + k, r->r + 2 * k);
	}
	double norm = o->clip > 0 ? rm_clip_grad_norm(m->grads_mem, m->n_params, o->clip)
				  : rm_grad_norm(m->grads_mem, m->n_params);
	if (t->cl && t->cl->proto_grad && !isfinite(rm_grad_norm(t->cl->proto_grad,
								 t->cl->proto.numel)))
		norm = NAN;
	if (!isfinite(norm))
		return step_error(t, start, npairs, RM_ENUM, err, "non-finite gradient");
	double lr = rm_lr_at(&t->sched, t->step);
	if (t->apply_to)  /* MetaRM: the gradient at theta', applied to theta */
		memcpy(m->params_mem, t->apply_to, m->n_params * sizeof *m->params_mem);
	rm_adamw_step(&t->adamw, m->params_mem, m->grads_mem, m->params, m->n_tensors, lr);
	cl_update(t, lr);
	t->step++;
	t->epoch = epoch;
	t->pos = pos;
	if (st) {
		memset(st, 0, sizeof *st);
		sums_stats(&s, st);
		st->step = t->step;
		st->epoch = (double)epoch + (double)pos / (double)d->n;
		st->micro_batches = nmb;
		st->lr = lr;
		st->grad_norm = norm;
		st->cl_loss = cl_sum / (double)(npairs ? npairs : 1);
	}
	return 0;
}

/* ---- evaluation ---------------------------------------------------------- */

int
rm_trainer_eval(struct rm_trainer *t, const struct rm_pairs *e,
		struct rm_train_stats *st, struct rm_error *err)
{
	memset(st, 0, sizeof *st);
	st->step = t->step;
	if (e->n == 0)
		return 0;
	if (e->kind != RM_PAIRS_PAIR)
		return rm_error_set(err, RM_EDATA, "evaluation needs pairs");
	/* each rank scores its share of the records; rewards do not depend
	 * on the batching, so the gathered set is the one-process one */
	int N = rm_dist_size();
	float *r = malloc(e->n_seqs * sizeof *r);
	float *rc = malloc(e->n * sizeof *rc), *rr = malloc(e->n * sizeof *rr);
	float *tg = malloc(e->n * sizeof *tg);
	size_t *start = malloc(((size_t)N + 1) * sizeof *start), lo, hi;
	int rc_ = 0;
	rm_dist_split(e->n, rm_dist_rank(), N, &lo, &hi);
	if (!r || !rc || !rr || !tg || !start)
		rc_ = rm_error_set(err, RM_ENOMEM, "out of memory for evaluation");
	else
		rc_ = rm_score_range(t->model, t->ws, t->ws_tokens, e, lo, hi - lo, r, err);
	if ((rc_ = rm_dist_agree(rc_, err)) < 0)
		goto out;
	for (int k = 0; k < N; k++) {
		size_t a, b;
		rm_dist_split(e->n, k, N, &a, &b);
		start[k] = a < e->n ? e->rec[a].seq : e->n_seqs;
	}
	start[N] = e->n_seqs;
	if ((rc_ = rm_dist_gather_floats(r, start, err)) < 0)
		goto out;
	for (size_t i = 0; i < e->n; i++) {
		rc[i] = r[e->rec[i].seq];
		rr[i] = r[e->rec[i].seq + 1];
		tg[i] = e->rec[i].target;
	}
	struct sums s = {0};
	s.loss = rm_pairwise_loss(e->n, rc, rr, NULL, tg, NULL, NULL) * (double)e->n;
	s.tokens = e->n_tokens;
	sums_add(&s, e->n, rc, rr, tg);
	sums_stats(&s, st);
	st->step = t->step;
out:
	free(r);
	free(rc);
	free(rr);
	free(tg);
	free(start);
	return rc_;
}

/* ---- save and resume ------------------------------------------------------ */

/*
 * Beside lib/train/checkpoint.h's files, training_run.json holds what a resume
 * must agree with: the options, the data's fingerprint and size, the step
 * count.  The AdamW moments, step, data position and RNG are in
 * training_state.safetensors (rm_checkpoint_save_state).
 */
#define RUN_FILE "training_run.json"
#define RUN_FORMAT "rmkit-training-run"

/* fsync a directory by path. */
static int
sync_path(const char *path, struct rm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rm_error_set(err, RM_EIO, "%s: %s", path, strerror(errno));
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	if (rc < 0 && e != EINVAL)
		return rm_error_set(err, RM_EIO, "%s: fsync: %s", path, strerror(e));
	return 0;
}

/* The files a checkpoint directory may hold; anything else is not ours. */
static const char *const ckpt_files[] = {
	"model.safetensors", "config.json", "training_state.safetensors", RUN_FILE,
	RM_CL_STATE_FILE, "metarm_state.json", /* issue 5: contrastive, MetaRM */
	NULL
};

/*
 * 1 when name is one of the checkpoint files, or the temporary file of one
 * (lib/stream/io.h writes "<file>.tmp.XXXXXX" beside it and renames it at the
 * end; a save killed midway leaves it behind).
 */
static int
ckpt_file(const char *name)
{
	for (int i = 0; ckpt_files[i]; i++) {
		size_t n = strlen(ckpt_files[i]);
		if (!strncmp(name, ckpt_files[i], n) &&
		    (!name[n] || (!strncmp(name + n, ".tmp.", 5) && strlen(name + n) == 11)))
			return 1;
	}
	return 0;
}

int
rm_train_dir_check(const char *dir, struct rm_error *err)
{
	/* dir.tmp and dir.old too: a save clears them, so the run is refused
	 * now rather than after its training when they are not ours */
	static const char *const side[] = {"", ".tmp", ".old"};
	char p[4200];
	int rc = 0;
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		if (snprintf(p, sizeof p, "%s%s", dir, side[i]) >= 4096)
			return rm_error_set(err, RM_EUSAGE, "%s: name too long", dir);
		rc = rm_dir_check(p, ckpt_file, err);
	}
	return rc;
}

static int
save_run(struct rm_trainer *t, const char *dir, struct rm_error *err)
{
	char *opts = rm_train_options_json(&t->opt), *text = NULL;
	cJSON *j = cJSON_CreateObject(), *o = opts ? cJSON_Parse(opts) : NULL;
	char fp[24];
	snprintf(fp, sizeof fp, "%016" PRIx64, t->fingerprint);
	int rc = RM_ENOMEM;
	if (j && o && cJSON_AddStringToObject(j, "format", RUN_FORMAT) &&
	    cJSON_AddNumberToObject(j, "step", (double)t->step) &&
	    cJSON_AddNumberToObject(j, "total_steps", (double)t->total_steps) &&
	    cJSON_AddNumberToObject(j, "data_records", (double)t->data->n) &&
	    cJSON_AddStringToObject(j, "data_fingerprint", fp) &&
	    cJSON_AddNumberToObject(j, "threads", t->threads)) {
		cJSON_AddItemToObject(j, "options", o);
		o = NULL;
		text = cJSON_Print(j);
	}
	if (text) {
		char path[4300];
		snprintf(path, sizeof path, "%s/%s", dir, RUN_FILE);
		size_t n = strlen(text);
		text[n] = '\n';  /* the NUL becomes the final newline */
		rc = rm_atomic_write_file(path, text, n + 1, err);
	} else {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	free(opts);
	cJSON_free(text);
	cJSON_Delete(o);
	cJSON_Delete(j);
	return rc;
}

static int save_dir(struct rm_trainer *t, const char *dir, struct rm_error *err);

int
rm_trainer_save(struct rm_trainer *t, const char *dir, struct rm_error *err)
{
	/* the ranks hold the same state: rank 0 writes it */
	int rc = rm_dist_rank() == 0 ? save_dir(t, dir, err) : 0;
	return rm_dist_agree(rc, err);
}

static int
save_dir(struct rm_trainer *t, const char *dir, struct rm_error *err)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", dir) >= 4096)
		return rm_error_set(err, RM_EUSAGE, "%s: name too long", dir);
	/* A stale dir.tmp is a save that died; clear it (a link or a
	 * directory holding other files is refused, not followed). */
	int rc = rm_dir_clear(tmp, ckpt_file, err);
	if (rc < 0)
		return rm_error_prefix(err, "stale temporary checkpoint");
	if (mkdir(tmp, 0777) < 0)
		return rm_error_set(err, RM_EIO, "%s: %s", tmp, strerror(errno));
	struct rm_train_state st = {0};
	st.step = t->step;
	st.data_pos = t->pos;
	st.epoch = t->epoch;
	st.rng = t->rng;
	if ((rc = rm_checkpoint_save_dtype(t->model, tmp, &t->ids,
					   t->opt.save_dtype ? t->opt.save_dtype : RM_DT_F32, err)) < 0 ||
	    (rc = rm_checkpoint_save_state(t->model, &t->adamw, &st, tmp, err)) < 0 ||
	    (rc = save_run(t, tmp, err)) < 0 ||
	    (t->cl && (rc = rm_cl_save_state(t->cl, &t->cl_adamw, tmp, err)) < 0) ||
	    (t->save_extra && (rc = t->save_extra(t->save_extra_ctx, tmp, err)) < 0) ||
	    (rc = sync_path(tmp, err)) < 0 ||
	    (rc = rm_dir_replace(dir, tmp, ckpt_file, err)) < 0) {
		struct rm_error e2;
		rm_dir_clear(tmp, ckpt_file, &e2);
	}
	return rc;
}

/* dir's training_run.json, parsed and checked for its format. */
static int
load_run(cJSON **out, const char *dir, struct rm_error *err)
{
	char path[4200], *text;
	size_t n;
	snprintf(path, sizeof path, "%s/%s", dir, RUN_FILE);
	int rc = rm_read_file(path, 1 << 20, &text, &n, err);
	if (rc < 0)
		return rc;
	cJSON *j = cJSON_Parse(text);
	free(text);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format");
	if (!cJSON_IsString(f) || strcmp(f->valuestring, RUN_FORMAT)) {
		cJSON_Delete(j);
		return rm_error_set(err, RM_EDATA, "%s: not an rmkit training run", path);
	}
	*out = j;
	return 0;
}

static int
run_options(const cJSON *j, struct rm_train_options *o, const char *dir,
	    struct rm_error *err)
{
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(j, "options");
	char *s = opts ? cJSON_PrintUnformatted(opts) : NULL;
	rm_train_options_default(o);
	int rc = s ? rm_train_options_parse(o, s, err)
		   : rm_error_set(err, RM_EDATA, "no options");
	cJSON_free(s);
	if (rc < 0)
		rm_error_prefix(err, "%s/%s", dir, RUN_FILE);
	return rc;
}

int
rm_train_state_options(const char *dir, struct rm_train_options *o,
		       struct rm_error *err)
{
	cJSON *j;
	int rc = load_run(&j, dir, err);
	if (rc < 0)
		return rc;
	rc = run_options(j, o, dir, err);
	cJSON_Delete(j);
	return rc;
}

static double
run_number(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int
rm_trainer_resume(struct rm_trainer *t, const char *dir, struct rm_error *err)
{
	cJSON *j = NULL;
	struct rm_model *m = t->model, *saved = NULL;
	int rc = load_run(&j, dir, err);
	if (rc < 0)
		return rc;
	struct rm_train_options so;
	if ((rc = run_options(j, &so, dir, err)) < 0)
		goto out;
	const char *d = rm_train_options_diff(&so, &t->opt);
	if (d) {
		rc = rm_error_set(err, RM_EUSAGE, "%s: option '%s' differs from the run being resumed",
				  dir, d);
		goto out;
	}
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(j, "data_fingerprint");
	char want[24];
	snprintf(want, sizeof want, "%016" PRIx64, t->fingerprint);
	if (!cJSON_IsString(fp) || strcmp(fp->valuestring, want) ||
	    run_number(j, "data_records") != (double)t->data->n) {
		rc = rm_error_set(err, RM_EDATA, "%s: the training data differs from the run being "
				  "resumed (%.0f records then, %zu now)", dir,
				  run_number(j, "data_records"), t->data->n);
		goto out;
	}
	struct rm_train_state st;
	if ((rc = rm_checkpoint_load_state(m, &t->adamw, &st, dir, err)) < 0)
		goto out;
	if (run_number(j, "total_steps") != (double)t->total_steps ||
	    run_number(j, "step") != (double)st.step || st.step > t->total_steps ||
	    st.data_pos > t->data->n || st.epoch > st.step ||
	    (!t->opt.steps && st.epoch > t->opt.epochs)) {
		rc = rm_error_set(err, RM_EDATA, "%s: inconsistent training state (step %" PRIu64
				  " of %.0f, %" PRIu64 " expected; epoch %" PRIu64 ", data "
				  "position %" PRIu64 " of %zu records)", dir, st.step,
				  run_number(j, "total_steps"), t->total_steps, st.epoch,
				  st.data_pos, t->data->n);
		goto out;
	}
	if ((rc = rm_checkpoint_load(&saved, dir, 0, NULL, err)) < 0)
		goto out;
	const struct rm_model_config *a = &saved->cfg, *b = &m->cfg;
	if (saved->n_params != m->n_params || a->n_layer != b->n_layer || a->n_head != b->n_head ||
	    a->n_embd != b->n_embd || a->n_positions != b->n_positions ||
	    a->vocab_size != b->vocab_size) {
		rc = rm_error_set(err, RM_EDATA, "%s: the saved model has another shape", dir);
		goto out;
	}
	if (t->cl && (rc = rm_cl_load_state(t->cl, &t->cl_adamw, dir, err)) < 0)
		goto out;
	memcpy(m->params_mem, saved->params_mem, m->n_params * sizeof(float));
	t->rng = st.rng;
	t->step = st.step;
	t->epoch = st.epoch;
	t->pos = (size_t)st.data_pos;
	t->order_epoch = UINT64_MAX;
out:
	rm_model_free(saved);
	cJSON_Delete(j);
	return rc;
}
