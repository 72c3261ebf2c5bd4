/*
 * model.c - GPT-2 reward model: parameter table, init, packed forward and
 * backward over variable-length sequences.
 *
 * Activations (N = tokens in the batch, C = width, per layer when training):
 *   encoded [N,C]  ln1 [N,C] (+mean, rstd [N])  qkv [N,3C]  atty [N,C]
 *   att [NH * sum T_i^2]  res2 [N,C]  ln2 [N,C] (+mean, rstd)  fch [N,4C]
 *   fchg [N,4C]  res3 [N,C]; at the end xlast, lnf [n_seq,C].
 * In the last layer only each sequence's last token reaches the reward, so
 * after its attention (which reads every key and value) the layer runs on
 * one row per sequence, in the first n_seq rows of the same buffers.
 * An evaluation workspace keeps one layer's worth and reuses it.
 *
 * Batch invariance: every forward computation that feeds a sequence's
 * reward runs on that sequence alone (one rm_gemm per sequence for each
 * linear layer, attention per sequence and head, row-wise elementwise
 * layers), so no call shape depends on the rest of the batch.  Backward
 * uses whole-batch products (weight gradients sum over all tokens anyway).
 */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/model.h"
#include "base/pool.h"
#include "base/rng.h"

/* ---- configuration ------------------------------------------------------ */

void
rm_model_config_gpt2(struct rm_model_config *c)
{
	memset(c, 0, sizeof *c);
	c->n_layer = 12;
	c->n_head = 12;
	c->n_embd = 768;
	c->n_positions = 1024;
	c->vocab_size = 50257;
	c->layer_norm_epsilon = 1e-5f;
}

int
rm_model_config_check(const struct rm_model_config *c, struct rm_error *err)
{
	if (c->n_layer < 1 || c->n_layer > 1000)
		return rm_error_set(err, RM_EUSAGE, "n_layer %d out of range", c->n_layer);
	if (c->n_head < 1 || c->n_head > 1024)
		return rm_error_set(err, RM_EUSAGE, "n_head %d out of range", c->n_head);
	if (c->n_embd < 1 || c->n_embd > 65536)
		return rm_error_set(err, RM_EUSAGE, "n_embd %d out of range", c->n_embd);
	if (c->n_embd % c->n_head)
		return rm_error_set(err, RM_EUSAGE, "n_embd %d is not a multiple of n_head %d",
				    c->n_embd, c->n_head);
	if (c->n_positions < 1 || c->n_positions > (1 << 20))
		return rm_error_set(err, RM_EUSAGE, "n_positions %d out of range", c->n_positions);
	if (c->vocab_size < 1 || c->vocab_size > (1 << 24))
		return rm_error_set(err, RM_EUSAGE, "vocab_size %d out of range", c->vocab_size);
	if (!(c->layer_norm_epsilon > 0) || !(c->layer_norm_epsilon < 1))
		return rm_error_set(err, RM_EUSAGE, "layer_norm_epsilon %g out of range",
				    (double)c->layer_norm_epsilon);
	const float *p[3] = {&c->embd_pdrop, &c->attn_pdrop, &c->resid_pdrop};
	const char *pn[3] = {"embd_pdrop", "attn_pdrop", "resid_pdrop"};
	for (int i = 0; i < 3; i++)
		if (!(*p[i] >= 0 && *p[i] < 1))
			return rm_error_set(err, RM_EUSAGE, "%s %g not in [0, 1)", pn[i], (double)*p[i]);
	return 0;
}

/* ---- parameter table ---------------------------------------------------- */

static const char *const layer_names[RM_P_PER_LAYER] = {
	"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
	"attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
	"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
};

static void
add_param(struct rm_model *m, const char *name, int ndim, size_t d0, size_t d1)
{
	struct rm_param *p = &m->params[m->n_tensors++];
	snprintf(p->name, sizeof p->name, "%s", name);
	p->ndim = ndim;
	p->shape[0] = d0;
	p->shape[1] = ndim == 2 ? d1 : 0;
	p->numel = ndim == 2 ? d0 * d1 : d0;
	/* Keep every tensor 64-byte aligned inside the buffer. */
	p->offset = (m->n_params + 15) & ~(size_t)15;
	p->decay = ndim == 2;
	m->n_params = p->offset + p->numel;
}

int
rm_model_create(struct rm_model **out, const struct rm_model_config *c,
		struct rm_error *err)
{
	*out = NULL;
	int rc = rm_model_config_check(c, err);
	if (rc < 0)
		return rc;
	struct rm_model *m = calloc(1, sizeof *m);
	size_t nt = 2 + (size_t)c->n_layer * RM_P_PER_LAYER + 3;
	if (!m || !(m->params = calloc(nt, sizeof *m->params))) {
		free(m);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	m->cfg = *c;
	size_t C = (size_t)c->n_embd;
	add_param(m, "transformer.wte.weight", 2, (size_t)c->vocab_size, C);
	add_param(m, "transformer.wpe.weight", 2, (size_t)c->n_positions, C);
	for (int l = 0; l < c->n_layer; l++) {
		static const int nd[RM_P_PER_LAYER] = {1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 1};
		size_t d0[RM_P_PER_LAYER] = {C, C, C, 3 * C, C, C, C, C, C, 4 * C, 4 * C, C};
		size_t d1[RM_P_PER_LAYER] = {0, 0, 3 * C, 0, C, 0, 0, 0, 4 * C, 0, C, 0};
		for (int k = 0; k < RM_P_PER_LAYER; k++) {
			char name[RM_PARAM_MAX_NAME + 1];
			snprintf(name, sizeof name, "transformer.h.%d.%s", l, layer_names[k]);
			add_param(m, name, nd[k], d0[k], d1[k]);
		}
	}
	add_param(m, "transformer.ln_f.weight", 1, C, 0);
	add_param(m, "transformer.ln_f.bias", 1, C, 0);
	add_param(m, "score.weight", 2, 1, C);
	m->params_mem = aligned_alloc(64, ((m->n_params * sizeof(float)) + 63) & ~(size_t)63);
	if (!m->params_mem) {
		size_t n = m->n_params;
		rm_model_free(m);
		return rm_error_set(err, RM_ENOMEM, "out of memory for %zu parameters", n);
	}
	memset(m->params_mem, 0, m->n_params * sizeof(float));
	*out = m;
	return 0;
}

void
rm_model_free(struct rm_model *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->params_mem);
	free(m->grads_mem);
	free(m);
}

int
rm_model_enable_grads(struct rm_model *m, struct rm_error *err)
{
	if (m->grads_mem)
		return 0;
	m->grads_mem = aligned_alloc(64, ((m->n_params * sizeof(float)) + 63) & ~(size_t)63);
	if (!m->grads_mem)
		return rm_error_set(err, RM_ENOMEM, "out of memory for gradients");
	rm_model_zero_grad(m);
	return 0;
}

void
rm_model_zero_grad(struct rm_model *m)
{
	if (m->grads_mem)
		memset(m->grads_mem, 0, m->n_params * sizeof(float));
}

const struct rm_param *
rm_model_find(const struct rm_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (!strcmp(m->params[i].name, name))
			return &m->params[i];
	return NULL;
}

size_t
rm_model_layer_index(const struct rm_model *m, int l, int k)
{
	(void)m;
	return 2 + (size_t)l * RM_P_PER_LAYER + (size_t)k;
}

size_t
rm_model_lnf_w_index(const struct rm_model *m)
{
	return 2 + (size_t)m->cfg.n_layer * RM_P_PER_LAYER;
}

size_t
rm_model_score_index(const struct rm_model *m)
{
	return m->n_tensors - 1;
}

static void
init_tensor(struct rm_model *m, size_t i, uint64_t seed)
{
	const struct rm_param *p = &m->params[i];
	float *w = m->params_mem + p->offset;
	const char *dot = strrchr(p->name, '.');
	int is_bias = dot && !strcmp(dot, ".bias");
	int is_ln = strstr(p->name, "ln_") != NULL;
	if (is_ln && !is_bias) {
		for (size_t j = 0; j < p->numel; j++)
			w[j] = 1.0f;
		return;
	}
	if (is_bias) {
		memset(w, 0, p->numel * sizeof *w);
		return;
	}
	double std = 0.02;
	if (strstr(p->name, "c_proj.weight"))
		std = 0.02 / sqrt(2.0 * m->cfg.n_layer);
	struct rm_rng r;
	rm_rng_stream(&r, seed, 0x696e6974 /* "init" */, i, 0);
	for (size_t j = 0; j < p->numel; j++)
		w[j] = (float)(std * rm_rng_normal(&r));
}

void
rm_model_init(struct rm_model *m, uint64_t seed)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		init_tensor(m, i, seed);
}

void
rm_model_init_score(struct rm_model *m, uint64_t seed)
{
	init_tensor(m, rm_model_score_index(m), seed);
}

/* ---- workspace ---------------------------------------------------------- */

#define EW_ROWS 32  /* rows per task of the row-wise layers */

struct rm_workspace {
	struct rm_model_config cfg;
	size_t max_tokens, max_len, max_att;
	int train, dropout, threads;
	struct rm_pool *pool;
	void *mem;
	size_t bytes;

	/* the batch of the last forward */
	size_t N, n_seq;
	int32_t *tok, *pos;
	size_t *off;      /* [max_tokens + 1] */
	size_t *att_off;  /* [max_tokens + 1], floats into one layer's att */
	int have_forward;
	float p_embd, p_attn, p_resid;  /* dropout of the last forward */

	/* activations; per layer strides below when train */
	float *encoded, *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att, *res2;
	float *ln2, *ln2_mean, *ln2_rstd, *fch, *fchg, *res3, *tmp;
	float *xlast, *lnf, *lnf_mean, *lnf_rstd;
	uint8_t *m_embd, *m_att, *m_res1, *m_res2;
	/* backward */
	float *dres, *dbuf1, *dbuf2, *dbig, *dlnf, *dxlast;
	float *scratch;  /* threads * 2 * max_len^2 */
	float *partial;  /* per row chunk: LayerNorm weight and bias gradients */
	double prof[RM_PROF_N];
};

static double
tnow(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void
rm_workspace_profile(const struct rm_workspace *ws, double out[RM_PROF_N])
{
	memcpy(out, ws->prof, sizeof ws->prof);
}

void
rm_workspace_profile_reset(struct rm_workspace *ws)
{
	memset(ws->prof, 0, sizeof ws->prof);
}

/* Carve n elements of size sz from a running byte count, 64-byte aligned.
 * With base == NULL only counts. */
static void *
carve(char *base, size_t *used, size_t n, size_t sz, int *overflow)
{
	size_t bytes;
	if (rm_checked_size(n, sz, SIZE_MAX / 4, &bytes) < 0 ||
	    *used > SIZE_MAX / 4) {
		*overflow = 1;
		return NULL;
	}
	size_t at = (*used + 63) & ~(size_t)63;
	*used = at + bytes;
	return base ? base + at : NULL;
}

static size_t
layout(struct rm_workspace *ws, char *base, int *overflow)
{
	size_t used = 0;
	size_t C = (size_t)ws->cfg.n_embd;
	size_t Ltot = ws->train ? (size_t)ws->cfg.n_layer : 1;
	size_t N = ws->max_tokens;
	size_t nl = N * Ltot;
#define F(ptr, n) ws->ptr = carve(base, &used, (n), sizeof(float), overflow)
#define B(ptr, n) ws->ptr = carve(base, &used, (n), 1, overflow)
	ws->tok = carve(base, &used, N, sizeof(int32_t), overflow);
	ws->pos = carve(base, &used, N, sizeof(int32_t), overflow);
	ws->off = carve(base, &used, N + 1, sizeof(size_t), overflow);
	ws->att_off = carve(base, &used, N + 1, sizeof(size_t), overflow);
	F(encoded, N * C);
	F(ln1, nl * C);
	F(ln1_mean, nl);
	F(ln1_rstd, nl);
	F(qkv, nl * 3 * C);
	F(atty, nl * C);
	/* evaluation keeps no probabilities: each thread's own [T, T] block */
	F(att, ws->train ? ws->max_att * Ltot
			 : (size_t)ws->threads * ws->max_len * ws->max_len);
	F(res2, nl * C);
	F(ln2, nl * C);
	F(ln2_mean, nl);
	F(ln2_rstd, nl);
	F(fch, nl * 4 * C);
	F(fchg, nl * 4 * C);
	F(res3, nl * C);
	F(tmp, N * C);
	F(xlast, N * C);
	F(lnf, N * C);
	F(lnf_mean, N);
	F(lnf_rstd, N);
	F(scratch, (size_t)ws->threads * 2 * ws->max_len * ws->max_len);
	F(partial, (N / EW_ROWS + 1) * 2 * C);
	if (ws->dropout) {
		B(m_embd, N * C);
		B(m_att, ws->max_att * Ltot);
		B(m_res1, nl * C);
		B(m_res2, nl * C);
	}
	if (ws->train) {
		F(dres, N * C);
		F(dbuf1, N * C);
		F(dbuf2, N * C);
		F(dbig, N * 4 * C);
		F(dlnf, N * C);
		F(dxlast, N * C);
	}
#undef F
#undef B
	return used;
}

int
rm_workspace_create(struct rm_workspace **out, const struct rm_model *m,
		    const struct rm_workspace_options *o, struct rm_error *err)
{
	*out = NULL;
	if (o->max_tokens < 1)
		return rm_error_set(err, RM_EUSAGE, "workspace token budget must be at least 1");
	if (o->threads < 1 || o->threads > 1024)
		return rm_error_set(err, RM_EUSAGE, "thread count %d out of range", o->threads);
	if (o->max_tokens > (size_t)1 << 30)
		return rm_error_set(err, RM_EUSAGE, "token budget %zu too large", o->max_tokens);
	if (o->dropout && !o->train)
		return rm_error_set(err, RM_EUSAGE, "dropout needs a training workspace");
	struct rm_workspace *ws = calloc(1, sizeof *ws);
	if (!ws)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	ws->cfg = m->cfg;
	ws->max_tokens = o->max_tokens;
	ws->max_len = o->max_seq_len ? o->max_seq_len : (size_t)m->cfg.n_positions;
	if (ws->max_len > (size_t)m->cfg.n_positions)
		ws->max_len = (size_t)m->cfg.n_positions;
	if (ws->max_len > ws->max_tokens)
		ws->max_len = ws->max_tokens;
	/* sum of T_i^2 with sum T_i <= max_tokens and T_i <= max_len */
	ws->max_att = (size_t)m->cfg.n_head * ws->max_tokens * ws->max_len;
	ws->train = o->train != 0;
	ws->dropout = o->dropout != 0;
	ws->threads = o->threads;
	int overflow = 0;
	size_t bytes = layout(ws, NULL, &overflow);
	if (overflow) {
		free(ws);
		return rm_error_set(err, RM_ENOMEM, "workspace for %zu tokens is too large",
				    o->max_tokens);
	}
	ws->mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (!ws->mem) {
		free(ws);
		return rm_error_set(err, RM_ENOMEM, "out of memory for a %zu-byte workspace", bytes);
	}
	ws->bytes = bytes;
	layout(ws, ws->mem, &overflow);
	int rc = rm_pool_create(&ws->pool, o->threads, err);
	if (rc < 0) {
		free(ws->mem);
		free(ws);
		return rc;
	}
	rm_blas_set_threads(o->threads);
	*out = ws;
	return 0;
}

void
rm_workspace_free(struct rm_workspace *ws)
{
	if (!ws)
		return;
	rm_pool_free(ws->pool);
	free(ws->mem);
	free(ws);
}

size_t
rm_workspace_bytes(const struct rm_workspace *ws)
{
	return ws->bytes;
}

/* ---- helpers ------------------------------------------------------------- */

/* Layer l's slice of a per-layer activation buffer (width per token). */
#define ACT(ws, base, l, width) \
	((base) + ((ws)->train ? (size_t)(l) * (ws)->max_tokens * (width) : 0))
#define ATT(ws, base, l) ((base) + ((ws)->train ? (size_t)(l) * (ws)->max_att : 0))

static float *
param(struct rm_model *m, size_t idx)
{
	return m->params_mem + m->params[idx].offset;
}

static float *
grad(struct rm_model *m, size_t idx)
{
	return m->grads_mem + m->params[idx].offset;
}

#define LP(m, l, k) param((m), rm_model_layer_index((m), (l), (k)))
#define LG(m, l, k) grad((m), rm_model_layer_index((m), (l), (k)))

/* Dropout mask sites: 0 embeddings, then three per layer. */
enum { SITE_ATT = 1, SITE_RES1 = 2, SITE_RES2 = 3 };
#define SITE(l, k) (1 + 3 * (uint64_t)(l) + (uint64_t)(k) - 1)

static void
fill_mask(uint8_t *mask, size_t n, float p, uint64_t seed, uint64_t step,
	  uint64_t key, uint64_t site)
{
	struct rm_rng r;
	rm_rng_stream(&r, seed, step, key, site);
	/* keep when u >= p, u uniform on 24 bits: P(keep) = 1 - p up to 2^-24 */
	uint32_t thr = (uint32_t)ceil((double)p * 16777216.0);
	for (size_t i = 0; i < n; i++)
		mask[i] = (uint32_t)(rm_rng_next(&r) >> 40) >= thr;
}

struct mask_job {
	struct rm_workspace *ws;
	const struct rm_dropout *d;
};

static void
mask_task(void *ctx, size_t s, int thread)
{
	(void)thread;
	struct mask_job *j = ctx;
	struct rm_workspace *ws = j->ws;
	const struct rm_dropout *d = j->d;
	size_t C = (size_t)ws->cfg.n_embd, NH = (size_t)ws->cfg.n_head;
	size_t t0 = ws->off[s], T = ws->off[s + 1] - t0;
	uint64_t key = d->keys ? d->keys[s] : s;
	if (d->embd > 0)
		fill_mask(ws->m_embd + t0 * C, T * C, d->embd, d->seed, d->step, key, 0);
	for (int l = 0; l < ws->cfg.n_layer; l++) {
		if (d->attn > 0)
			fill_mask(ATT(ws, ws->m_att, l) + ws->att_off[s], NH * T * T,
				  d->attn, d->seed, d->step, key, SITE(l, SITE_ATT));
		if (d->resid > 0) {
			fill_mask(ACT(ws, ws->m_res1, l, C) + t0 * C, T * C, d->resid,
				  d->seed, d->step, key, SITE(l, SITE_RES1));
			fill_mask(ACT(ws, ws->m_res2, l, C) + t0 * C, T * C, d->resid,
				  d->seed, d->step, key, SITE(l, SITE_RES2));
		}
	}
}

struct att_job {
	struct rm_workspace *ws;
	float *qkv, *atty, *att;
	uint8_t *mask;
	float scale;
	int last;  /* only each sequence's last query; atty has one row per sequence */
	/* backward */
	float *dqkv;
	const float *datty;
};

static void
att_fwd_task(void *ctx, size_t t, int thread)
{
	struct att_job *j = ctx;
	struct rm_workspace *ws = j->ws;
	size_t C = (size_t)ws->cfg.n_embd, NH = (size_t)ws->cfg.n_head, hd = C / NH;
	size_t s = t / NH, h = t % NH;
	size_t t0 = ws->off[s], T = ws->off[s + 1] - t0;
	const float *q = j->qkv + t0 * 3 * C + h * hd;
	size_t ao = ws->att_off[s] + h * T * T;
	float *att = ws->train ? j->att + ao : j->att + (size_t)thread * ws->max_len * ws->max_len;
	rm_attention_forward(j->atty + (j->last ? s : t0) * C + h * hd, C, att, q,
			     q + C, q + 2 * C, 3 * C, T, j->last ? T - 1 : 0, hd,
			     j->mask ? j->mask + ao : NULL, j->scale,
			     ws->scratch + (size_t)thread * 2 * ws->max_len * ws->max_len);
}

static void
att_bwd_task(void *ctx, size_t t, int thread)
{
	struct att_job *j = ctx;
	struct rm_workspace *ws = j->ws;
	size_t C = (size_t)ws->cfg.n_embd, NH = (size_t)ws->cfg.n_head, hd = C / NH;
	size_t s = t / NH, h = t % NH;
	size_t t0 = ws->off[s], T = ws->off[s + 1] - t0;
	const float *q = j->qkv + t0 * 3 * C + h * hd;
	float *dq = j->dqkv + t0 * 3 * C + h * hd;
	size_t ao = ws->att_off[s] + h * T * T;
	rm_attention_backward(dq, dq + C, dq + 2 * C, 3 * C,
			      j->datty + (j->last ? s : t0) * C + h * hd, C, j->att + ao, q,
			      q + C, q + 2 * C, T, j->last ? T - 1 : 0, hd,
			      j->mask ? j->mask + ao : NULL, j->scale,
			      ws->scratch + (size_t)thread * 2 * ws->max_len * ws->max_len);
}

/* Run attention tasks with OpenBLAS single-threaded inside our workers. */
static void
run_attention(struct rm_workspace *ws, rm_pool_fn fn, struct att_job *j)
{
	size_t ntasks = ws->n_seq * (size_t)ws->cfg.n_head;
	double t = tnow();
	if (ws->threads > 1)
		rm_blas_set_threads(1);
	rm_pool_run(ws->pool, ntasks, fn, j);
	if (ws->threads > 1)
		rm_blas_set_threads(ws->threads);
	ws->prof[fn == att_fwd_task ? RM_PROF_FWD_ATTN : RM_PROF_BWD_ATTN] += tnow() - t;
}

/*
 * The last layer only feeds the reward through each sequence's last token:
 * after its attention (which still reads every key and value) it runs on
 * one row per sequence ("last" mode, row s = sequence s).  Elsewhere rows
 * are tokens.
 */

/* Linear layer, one call per sequence (batch invariance). */
static void
linear_rows(struct rm_workspace *ws, float *out, const float *inp,
	    const float *w, const float *b, size_t C, size_t OC, int last)
{
	double t = tnow();
	for (size_t s = 0; s < ws->n_seq; s++) {
		size_t t0 = last ? s : ws->off[s];
		size_t T = last ? 1 : ws->off[s + 1] - ws->off[s];
		rm_matmul_forward(out + t0 * OC, inp + t0 * C, w, b, T, C, OC);
	}
	ws->prof[RM_PROF_FWD_LINEAR] += tnow() - t;
}

/* rm_matmul_backward over the whole batch, timed. */
static void
linear_backward(struct rm_workspace *ws, float *dinp, float *dw, float *dbias,
		const float *dout, const float *inp, const float *w, size_t N,
		size_t C, size_t OC)
{
	double t = tnow();
	rm_matmul_backward(dinp, dw, dbias, dout, inp, w, N, C, OC, 0);
	ws->prof[RM_PROF_BWD_LINEAR] += tnow() - t;
}

/* out = a + drop(b); mask is a token-indexed [N, C] mask or NULL. */
static void
residual_rows(struct rm_workspace *ws, float *out, const float *a,
	      const float *b, const uint8_t *mask, float scale, int last)
{
	size_t C = (size_t)ws->cfg.n_embd;
	if (!last) {
		rm_residual_forward(out, a, b, mask, scale, ws->N * C);
		return;
	}
	for (size_t s = 0; s < ws->n_seq; s++)
		rm_residual_forward(out + s * C, a + s * C, b + s * C,
				    mask ? mask + (ws->off[s + 1] - 1) * C : NULL, scale, C);
}

/* The gradient through a dropout: d itself without a mask, else out. */
static const float *
dropout_rows(struct rm_workspace *ws, float *out, const float *d,
	     const uint8_t *mask, float scale, int last)
{
	size_t C = (size_t)ws->cfg.n_embd;
	if (!mask)
		return d;
	if (!last)
		rm_dropout_apply(out, d, mask, scale, ws->N * C);
	else
		for (size_t s = 0; s < ws->n_seq; s++)
			rm_dropout_apply(out + s * C, d + s * C, mask + (ws->off[s + 1] - 1) * C,
					 scale, C);
	return out;
}

/*
 * Row-wise layers (LayerNorm, GELU) on the worker threads, in chunks of
 * EW_ROWS rows.  The chunks do not depend on the thread count; LayerNorm's
 * weight and bias gradients are summed per chunk and the chunk sums added
 * in chunk order, so results are the same for every thread count.
 */
enum { EW_LN_FWD, EW_LN_BWD, EW_GELU_FWD, EW_GELU_BWD };

struct ew_job {
	int op;
	size_t rows, width;
	float *out, *mean, *rstd, *partial;
	const float *a, *b, *w, *bias;
	float eps;
};

static void
ew_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	struct ew_job *j = ctx;
	size_t r0 = t * EW_ROWS, n = j->rows - r0 < EW_ROWS ? j->rows - r0 : EW_ROWS;
	size_t W = j->width;
	float *p;
	switch (j->op) {
	case EW_LN_FWD:
		rm_layernorm_forward(j->out + r0 * W, j->mean + r0, j->rstd + r0, j->a + r0 * W,
				     j->w, j->bias, n, W, j->eps);
		break;
	case EW_LN_BWD:
		p = j->partial + t * 2 * W;
		memset(p, 0, 2 * W * sizeof *p);
		rm_layernorm_backward(j->out + r0 * W, p, p + W, j->a + r0 * W, j->b + r0 * W,
				      j->w, j->mean + r0, j->rstd + r0, n, W);
		break;
	case EW_GELU_FWD:
		rm_gelu_forward(j->out + r0 * W, j->a + r0 * W, n * W);
		break;
	case EW_GELU_BWD:
		rm_gelu_backward(j->out + r0 * W, j->a + r0 * W, j->b + r0 * W, n * W);
		break;
	}
}

static void
ew_run(struct rm_workspace *ws, struct ew_job *j)
{
	rm_pool_run(ws->pool, (j->rows + EW_ROWS - 1) / EW_ROWS, ew_task, j);
}

static void
layernorm_fwd(struct rm_workspace *ws, float *out, float *mean, float *rstd,
	      const float *inp, const float *w, const float *b, size_t N, size_t C,
	      float eps)
{
	struct ew_job j = {.op = EW_LN_FWD, .rows = N, .width = C, .out = out, .mean = mean,
			   .rstd = rstd, .a = inp, .w = w, .bias = b, .eps = eps};
	ew_run(ws, &j);
}

/* dinp += ..., dw += ..., db += ... */
static void
layernorm_bwd(struct rm_workspace *ws, float *dinp, float *dw, float *db,
	      const float *dout, const float *inp, const float *w, const float *mean,
	      const float *rstd, size_t N, size_t C)
{
	struct ew_job j = {.op = EW_LN_BWD, .rows = N, .width = C, .out = dinp,
			   .mean = (float *)mean, .rstd = (float *)rstd, .partial = ws->partial,
			   .a = dout, .b = inp, .w = w};
	ew_run(ws, &j);
	size_t nt = (N + EW_ROWS - 1) / EW_ROWS;
	for (size_t t = 0; t < nt; t++) {
		const float *p = ws->partial + t * 2 * C;
		for (size_t c = 0; c < C; c++) {
			dw[c] += p[c];
			db[c] += p[C + c];
		}
	}
}

static void
gelu_fwd(struct rm_workspace *ws, float *out, const float *inp, size_t rows, size_t width)
{
	struct ew_job j = {.op = EW_GELU_FWD, .rows = rows, .width = width, .out = out, .a = inp};
	ew_run(ws, &j);
}

static void
gelu_bwd(struct rm_workspace *ws, float *dinp, const float *inp, const float *dout,
	 size_t rows, size_t width)
{
	struct ew_job j = {.op = EW_GELU_BWD, .rows = rows, .width = width, .out = dinp,
			   .a = inp, .b = dout};
	ew_run(ws, &j);
}

/* ---- forward ------------------------------------------------------------ */

int
rm_model_forward(struct rm_model *m, struct rm_workspace *ws,
		 const struct rm_batch *b, const struct rm_dropout *drop,
		 float *rewards, float *h_last, struct rm_error *err)
{
	double t_start = tnow();
	const struct rm_model_config *c = &m->cfg;
	if (c->n_layer != ws->cfg.n_layer || c->n_embd != ws->cfg.n_embd ||
	    c->n_head != ws->cfg.n_head)
		return rm_error_set(err, RM_EUSAGE, "workspace was made for another model shape");
	ws->have_forward = 0;
	size_t C = (size_t)c->n_embd, L = (size_t)c->n_layer;
	if (b->n_seq < 1)
		return rm_error_set(err, RM_EUSAGE, "empty batch");
	if (b->offsets[0] != 0)
		return rm_error_set(err, RM_EUSAGE, "batch offsets must start at 0");
	size_t N = b->offsets[b->n_seq];
	if (N > ws->max_tokens || b->n_seq > ws->max_tokens)
		return rm_error_set(err, RM_EUSAGE, "batch of %zu tokens exceeds the workspace budget of %zu",
				    N, ws->max_tokens);
	for (size_t s = 0; s < b->n_seq; s++) {
		if (b->offsets[s + 1] <= b->offsets[s])
			return rm_error_set(err, RM_EUSAGE, "sequence %zu is empty", s);
		size_t T = b->offsets[s + 1] - b->offsets[s];
		if (T > ws->max_len)
			return rm_error_set(err, RM_EUSAGE, "sequence %zu has %zu tokens, more than the limit %zu",
					    s, T, ws->max_len);
	}
	for (size_t i = 0; i < N; i++)
		if (b->tokens[i] < 0 || b->tokens[i] >= c->vocab_size)
			return rm_error_set(err, RM_EUSAGE, "token id %ld at position %zu is outside the vocabulary of %d",
					    (long)b->tokens[i], i, c->vocab_size);
	float pe = 0, pa = 0, pr = 0;
	if (drop) {
		pe = drop->embd, pa = drop->attn, pr = drop->resid;
		if (!(pe >= 0 && pe < 1 && pa >= 0 && pa < 1 && pr >= 0 && pr < 1))
			return rm_error_set(err, RM_EUSAGE, "dropout probabilities must be in [0, 1)");
		if ((pe > 0 || pa > 0 || pr > 0) && !ws->dropout)
			return rm_error_set(err, RM_EUSAGE, "dropout needs a workspace made with room for it");
	}

	/* Copy the batch so backward does not depend on the caller's arrays. */
	ws->N = N;
	ws->n_seq = b->n_seq;
	memcpy(ws->tok, b->tokens, N * sizeof *ws->tok);
	ws->att_off[0] = 0;
	for (size_t s = 0; s < b->n_seq; s++) {
		size_t t0 = b->offsets[s], T = b->offsets[s + 1] - t0;
		ws->off[s] = t0;
		for (size_t t = 0; t < T; t++)
			ws->pos[t0 + t] = (int32_t)t;
		ws->att_off[s + 1] = ws->att_off[s] + (size_t)c->n_head * T * T;
	}
	ws->off[b->n_seq] = N;
	ws->p_embd = pe, ws->p_attn = pa, ws->p_resid = pr;
	if (pe > 0 || pa > 0 || pr > 0) {
		struct mask_job mj = {ws, drop};
		rm_pool_run(ws->pool, ws->n_seq, mask_task, &mj);
	}

	rm_encoder_forward(ws->encoded, ws->tok, ws->pos, param(m, RM_P_WTE),
			   param(m, RM_P_WPE), N, C);
	if (pe > 0)
		rm_dropout_apply(ws->encoded, ws->encoded, ws->m_embd, 1.0f / (1.0f - pe), N * C);

	size_t S = ws->n_seq;
	float rs = 1.0f / (1.0f - pr);
	const float *x = ws->encoded;
	for (size_t l = 0; l < L; l++) {
		int last = l == L - 1;
		size_t R = last ? S : N; /* rows after the attention */
		float *ln1 = ACT(ws, ws->ln1, l, C), *ln1m = ACT(ws, ws->ln1_mean, l, 1);
		float *ln1r = ACT(ws, ws->ln1_rstd, l, 1), *qkv = ACT(ws, ws->qkv, l, 3 * C);
		float *atty = ACT(ws, ws->atty, l, C), *att = ATT(ws, ws->att, l);
		float *res2 = ACT(ws, ws->res2, l, C), *ln2 = ACT(ws, ws->ln2, l, C);
		float *ln2m = ACT(ws, ws->ln2_mean, l, 1), *ln2r = ACT(ws, ws->ln2_rstd, l, 1);
		float *fch = ACT(ws, ws->fch, l, 4 * C), *fchg = ACT(ws, ws->fchg, l, 4 * C);
		float *res3 = ACT(ws, ws->res3, l, C);
		const uint8_t *mr1 = pr > 0 ? ACT(ws, ws->m_res1, l, C) : NULL;
		const uint8_t *mr2 = pr > 0 ? ACT(ws, ws->m_res2, l, C) : NULL;

		layernorm_fwd(ws, ln1, ln1m, ln1r, x, LP(m, l, RM_P_LN1_W),
			      LP(m, l, RM_P_LN1_B), N, C, c->layer_norm_epsilon);
		linear_rows(ws, qkv, ln1, LP(m, l, RM_P_QKV_W), LP(m, l, RM_P_QKV_B), C, 3 * C, 0);
		const float *skip = x;
		if (last) { /* the residual stream at the last tokens (x may be res3's buffer) */
			for (size_t s = 0; s < S; s++)
				memcpy(ws->xlast + s * C, x + (ws->off[s + 1] - 1) * C, C * sizeof(float));
			skip = ws->xlast;
		}
		struct att_job aj = {ws, qkv, atty, att,
				     pa > 0 ? ATT(ws, ws->m_att, l) : NULL,
				     pa > 0 ? 1.0f / (1.0f - pa) : 1.0f, last, NULL, NULL};
		run_attention(ws, att_fwd_task, &aj);
		linear_rows(ws, ws->tmp, atty, LP(m, l, RM_P_ATTPROJ_W), LP(m, l, RM_P_ATTPROJ_B),
			    C, C, last);
		residual_rows(ws, res2, skip, ws->tmp, mr1, rs, last);
		layernorm_fwd(ws, ln2, ln2m, ln2r, res2, LP(m, l, RM_P_LN2_W),
			      LP(m, l, RM_P_LN2_B), R, C, c->layer_norm_epsilon);
		linear_rows(ws, fch, ln2, LP(m, l, RM_P_FC_W), LP(m, l, RM_P_FC_B), C, 4 * C, last);
		gelu_fwd(ws, fchg, fch, R, 4 * C);
		linear_rows(ws, ws->tmp, fchg, LP(m, l, RM_P_FCPROJ_W), LP(m, l, RM_P_FCPROJ_B),
			    4 * C, C, last);
		residual_rows(ws, res3, res2, ws->tmp, mr2, rs, last);
		x = res3;
	}

	/* Final LayerNorm (x has one row per sequence now) and the score head. */
	size_t lnf = rm_model_lnf_w_index(m);
	rm_layernorm_forward(ws->lnf, ws->lnf_mean, ws->lnf_rstd, x, param(m, lnf),
			     param(m, lnf + 1), S, C, c->layer_norm_epsilon);
	const float *score = param(m, rm_model_score_index(m));
	int bad = 0;
	for (size_t s = 0; s < S; s++) {
		const float *h = ws->lnf + s * C;
		double r = 0;
		for (size_t i = 0; i < C; i++)
			r += (double)score[i] * h[i];
		rewards[s] = (float)r;
		if (!isfinite(rewards[s]))
			bad = 1;
		if (h_last)
			memcpy(h_last + s * C, h, C * sizeof(float));
	}
	ws->prof[RM_PROF_FWD] += tnow() - t_start;
	if (bad)
		return rm_error_set(err, RM_ENUM, "non-finite reward in the forward pass");
	ws->have_forward = 1;
	return 0;
}

/* ---- backward ----------------------------------------------------------- */

int
rm_model_backward(struct rm_model *m, struct rm_workspace *ws,
		  const float *d_rewards, const float *d_h_last,
		  struct rm_error *err)
{
	if (!ws->train)
		return rm_error_set(err, RM_EUSAGE, "backward needs a training workspace");
	if (!ws->have_forward)
		return rm_error_set(err, RM_EUSAGE, "backward without a successful forward");
	if (!m->grads_mem)
		return rm_error_set(err, RM_EUSAGE, "backward needs gradients enabled on the model");
	double t_start = tnow();
	const struct rm_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_embd, L = (size_t)c->n_layer;
	size_t N = ws->N, S = ws->n_seq;
	float pe = ws->p_embd, pa = ws->p_attn, pr = ws->p_resid;

	/* reward = score . h: dscore += dr * h; dh = dr * score (+ d_h_last) */
	size_t si = rm_model_score_index(m), lnf = rm_model_lnf_w_index(m);
	const float *score = param(m, si);
	float *dscore = grad(m, si);
	for (size_t s = 0; s < S; s++) {
		const float *h = ws->lnf + s * C;
		float *dh = ws->dlnf + s * C;
		float dr = d_rewards[s];
		for (size_t i = 0; i < C; i++) {
			dscore[i] += dr * h[i];
			dh[i] = dr * score[i] + (d_h_last ? d_h_last[s * C + i] : 0.0f);
		}
	}
	/* d of the last layer's output rows (one per sequence) */
	float *dcur = ws->dxlast;
	memset(dcur, 0, S * C * sizeof(float));
	rm_layernorm_backward(dcur, grad(m, lnf), grad(m, lnf + 1), ws->dlnf,
			      ACT(ws, ws->res3, L - 1, C), param(m, lnf), ws->lnf_mean,
			      ws->lnf_rstd, S, C);

	float rs = 1.0f / (1.0f - pr);
	float *dres = ws->dres;
	for (size_t l = L; l-- > 0;) {
		int last = l == L - 1;
		size_t R = last ? S : N;
		const float *x = l == 0 ? ws->encoded : ACT(ws, ws->res3, l - 1, C);
		float *ln1 = ACT(ws, ws->ln1, l, C), *ln1m = ACT(ws, ws->ln1_mean, l, 1);
		float *ln1r = ACT(ws, ws->ln1_rstd, l, 1), *qkv = ACT(ws, ws->qkv, l, 3 * C);
		float *atty = ACT(ws, ws->atty, l, C), *att = ATT(ws, ws->att, l);
		float *res2 = ACT(ws, ws->res2, l, C), *ln2 = ACT(ws, ws->ln2, l, C);
		float *ln2m = ACT(ws, ws->ln2_mean, l, 1), *ln2r = ACT(ws, ws->ln2_rstd, l, 1);
		float *fch = ACT(ws, ws->fch, l, 4 * C), *fchg = ACT(ws, ws->fchg, l, 4 * C);
		const uint8_t *mr1 = pr > 0 ? ACT(ws, ws->m_res1, l, C) : NULL;
		const uint8_t *mr2 = pr > 0 ? ACT(ws, ws->m_res2, l, C) : NULL;

		/* MLP branch: res3 = res2 + drop(gelu(ln2(res2) Wfc + bfc) Wp + bp) */
		const float *dbranch = dropout_rows(ws, ws->dbuf2, dcur, mr2, rs, last);
		linear_backward(ws, ws->dbig, LG(m, l, RM_P_FCPROJ_W), LG(m, l, RM_P_FCPROJ_B),
				   dbranch, fchg, LP(m, l, RM_P_FCPROJ_W), R, 4 * C, C);
		gelu_bwd(ws, ws->dbig, fch, ws->dbig, R, 4 * C);
		linear_backward(ws, ws->dbuf1, LG(m, l, RM_P_FC_W), LG(m, l, RM_P_FC_B),
				   ws->dbig, ln2, LP(m, l, RM_P_FC_W), R, C, 4 * C);
		layernorm_bwd(ws, dcur, LG(m, l, RM_P_LN2_W), LG(m, l, RM_P_LN2_B),
			      ws->dbuf1, res2, LP(m, l, RM_P_LN2_W), ln2m, ln2r, R, C);

		/* attention branch: res2 = x + drop(attn(ln1(x)) Wo + bo) */
		dbranch = dropout_rows(ws, ws->dbuf2, dcur, mr1, rs, last);
		linear_backward(ws, ws->dbuf1, LG(m, l, RM_P_ATTPROJ_W), LG(m, l, RM_P_ATTPROJ_B),
				   dbranch, atty, LP(m, l, RM_P_ATTPROJ_W), R, C, C);
		struct att_job aj = {ws, qkv, atty, att,
				     pa > 0 ? ATT(ws, ws->m_att, l) : NULL,
				     pa > 0 ? 1.0f / (1.0f - pa) : 1.0f, last, ws->dbig, ws->dbuf1};
		run_attention(ws, att_bwd_task, &aj);
		if (last) { /* the skip path reaches x only at the last tokens */
			memset(dres, 0, N * C * sizeof(float));
			for (size_t s = 0; s < S; s++)
				memcpy(dres + (ws->off[s + 1] - 1) * C, dcur + s * C, C * sizeof(float));
			dcur = dres;
		}
		linear_backward(ws, ws->dbuf1, LG(m, l, RM_P_QKV_W), LG(m, l, RM_P_QKV_B),
				   ws->dbig, ln1, LP(m, l, RM_P_QKV_W), N, C, 3 * C);
		layernorm_bwd(ws, dres, LG(m, l, RM_P_LN1_W), LG(m, l, RM_P_LN1_B),
			      ws->dbuf1, x, LP(m, l, RM_P_LN1_W), ln1m, ln1r, N, C);
	}
	const float *demb = dres;
	if (pe > 0) {
		rm_dropout_apply(ws->dbuf1, dres, ws->m_embd, 1.0f / (1.0f - pe), N * C);
		demb = ws->dbuf1;
	}
	rm_encoder_backward(grad(m, RM_P_WTE), grad(m, RM_P_WPE), demb, ws->tok, ws->pos, N, C);
	ws->prof[RM_PROF_BWD] += tnow() - t_start;
	return 0;
}
