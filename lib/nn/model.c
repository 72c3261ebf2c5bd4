/*
 * model.c - what the reward-model families share: configuration, the
 * parameter table, initialisation, the workspace, the batch checks and
 * dropout masks, the score head, and the threaded helpers the families'
 * forward and backward passes are built from (model_impl.h says how a
 * family is added; gpt2.c and llama.c are the two there are).
 *
 * Batch invariance: every forward computation that feeds a sequence's
 * reward runs on that sequence alone (attention per sequence and head,
 * row-wise elementwise layers; linear layers in one rm_gemm per sequence,
 * or one for the whole batch where rm_gemm_row_invariant() says a row's
 * result cannot depend on the other rows), so no result depends on the
 * rest of the batch.  Backward
 * uses whole-batch products (weight gradients sum over all tokens anyway).
 */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/kernels_llama.h"
#include "nn/model.h"
#include "nn/model_impl.h"
#include "base/pool.h"
#include "base/rng.h"

static const struct rm_family_ops *const family_ops[] = {
	[RM_FAMILY_GPT2] = &rm_gpt2_ops,
	[RM_FAMILY_LLAMA] = &rm_llama_ops,
};
#define N_FAMILIES (sizeof family_ops / sizeof *family_ops)

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

void
rm_model_config_llama(struct rm_model_config *c)
{
	memset(c, 0, sizeof *c);
	c->family = RM_FAMILY_LLAMA;
	c->model_type = RM_LLAMA;
	c->n_layer = 30;
	c->n_head = 9;
	c->n_kv_head = 3;
	c->n_embd = 576;
	c->head_dim = 64;
	c->intermediate_size = 1536;
	c->n_positions = 8192;
	c->vocab_size = 49152;
	c->layer_norm_epsilon = 1e-5f;
	c->rope_theta = 100000;
	c->tie_word_embeddings = 1;
}

static const char *const type_names[RM_LLAMA_N] = {"llama", "mistral", "qwen2", "qwen3"};

const char *
rm_model_type_name(const struct rm_model_config *c)
{
	if (c->family == RM_FAMILY_GPT2)
		return "gpt2";
	return c->model_type >= 0 && c->model_type < RM_LLAMA_N ? type_names[c->model_type] : "?";
}

int
rm_model_type_parse(const char *name, struct rm_model_config *c)
{
	if (!strcmp(name, "gpt2")) {
		c->family = RM_FAMILY_GPT2;
		c->model_type = 0;
		return 0;
	}
	for (int i = 0; i < RM_LLAMA_N; i++)
		if (!strcmp(name, type_names[i])) {
			c->family = RM_FAMILY_LLAMA;
			c->model_type = i;
			return 0;
		}
	return -1;
}

int
rm_model_config_check(const struct rm_model_config *c, struct rm_error *err)
{
	if (c->family < 0 || (size_t)c->family >= N_FAMILIES)
		return rm_error_set(err, RM_EUSAGE, "model family %d unknown", c->family);
	if (c->n_layer < 1 || c->n_layer > 1000)
		return rm_error_set(err, RM_EUSAGE, "n_layer %d out of range", c->n_layer);
	if (c->n_head < 1 || c->n_head > 1024)
		return rm_error_set(err, RM_EUSAGE, "n_head %d out of range", c->n_head);
	if (c->n_embd < 1 || c->n_embd > 65536)
		return rm_error_set(err, RM_EUSAGE, "n_embd %d out of range", c->n_embd);
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
	return family_ops[c->family]->check(c, err);
}

/* ---- parameter table ---------------------------------------------------- */

void
rm_model_add_param(struct rm_model *m, const char *name, int ndim, size_t d0, size_t d1,
		   int init, float std, int pack)
{
	struct rm_param *p = &m->params[m->n_tensors++];
	snprintf(p->name, sizeof p->name, "%s", name);
	p->ndim = ndim;
	p->shape[0] = d0;
	p->shape[1] = ndim == 2 ? d1 : 0;
	p->numel = ndim == 2 ? d0 * d1 : d0;
	/* Keep every tensor 64-byte aligned inside the buffer, unless it
	 * continues the previous one. */
	p->offset = pack ? m->n_params : (m->n_params + 15) & ~(size_t)15;
	p->decay = ndim == 2;
	p->init = init;
	p->init_std = std;
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
	const struct rm_family_ops *ops = family_ops[c->family];
	struct rm_model *m = calloc(1, sizeof *m);
	size_t nt = ops->n_tensors(c);
	size_t ns = (size_t)c->n_layer * (c->family == RM_FAMILY_GPT2 ? RM_P_PER_LAYER : RM_L_PER_LAYER);
	if (!m || !(m->params = calloc(nt, sizeof *m->params)) ||
	    !(m->slots = calloc(ns, sizeof *m->slots))) {
		if (m)
			free(m->params);
		free(m);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	m->cfg = *c;
	ops->build(m);
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

size_t
rm_model_param_count(const struct rm_model_config *c, struct rm_error *err)
{
	if (rm_model_config_check(c, err) < 0)
		return 0;
	const struct rm_family_ops *ops = family_ops[c->family];
	struct rm_model m = {.cfg = *c};
	size_t ns = (size_t)c->n_layer * (c->family == RM_FAMILY_GPT2 ? RM_P_PER_LAYER : RM_L_PER_LAYER);
	m.params = calloc(ops->n_tensors(c), sizeof *m.params);
	m.slots = calloc(ns, sizeof *m.slots);
	if (!m.params || !m.slots) {
		free(m.params);
		free(m.slots);
		rm_error_set(err, RM_ENOMEM, "out of memory");
		return 0;
	}
	ops->build(&m);
	size_t n = 0;
	for (size_t i = 0; i < m.n_tensors; i++)
		n += m.params[i].numel;
	free(m.params);
	free(m.slots);
	return n;
}

void
rm_model_free(struct rm_model *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->slots);
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
	return m->slots[(size_t)l * (size_t)m->n_slots + (size_t)k];
}

size_t
rm_model_lnf_w_index(const struct rm_model *m)
{
	return m->i_norm;
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
	if (p->init == RM_INIT_ONES) {
		for (size_t j = 0; j < p->numel; j++)
			w[j] = 1.0f;
		return;
	}
	if (p->init == RM_INIT_ZEROS) {
		memset(w, 0, p->numel * sizeof *w);
		return;
	}
	double std = p->init_std;
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

double
rm_ws_now(void)
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

void *
rm_ws_carve(char *base, size_t *used, size_t n, size_t sz, int *overflow)
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

void
rm_ws_layout_common(struct rm_workspace *ws, char *base, size_t *used, int *overflow)
{
	size_t C = (size_t)ws->cfg.n_embd;
	size_t Ltot = ws->train ? (size_t)ws->cfg.n_layer : 1;
	size_t N = ws->max_tokens;
	size_t nl = N * Ltot;
#define F(ptr, n) ws->ptr = rm_ws_carve(base, used, (n), sizeof(float), overflow)
#define B(ptr, n) ws->ptr = rm_ws_carve(base, used, (n), 1, overflow)
	ws->tok = rm_ws_carve(base, used, N, sizeof(int32_t), overflow);
	ws->pos = rm_ws_carve(base, used, N, sizeof(int32_t), overflow);
	ws->off = rm_ws_carve(base, used, N + 1, sizeof(size_t), overflow);
	ws->att_off = rm_ws_carve(base, used, N + 1, sizeof(size_t), overflow);
	F(encoded, N * C);
	/* evaluation keeps no probabilities: each thread's own [T, T] block */
	F(att, ws->train ? ws->max_att * Ltot
			 : (size_t)ws->threads * ws->max_len * ws->max_len);
	F(tmp, N * C);
	F(xlast, N * C);
	F(lnf, N * C);
	F(lnf_mean, N);
	F(lnf_rstd, N);
	F(scratch, (size_t)ws->threads * 2 * ws->max_len * ws->max_len);
	if (ws->dropout) {
		B(m_embd, N * C);
		B(m_att, ws->max_att * Ltot);
		B(m_res1, nl * C);
		B(m_res2, nl * C);
	}
	if (ws->train) {
		F(dres, N * C);
		F(dbuf2, N * C);
		F(dlnf, N * C);
		F(dxlast, N * C);
	}
#undef F
#undef B
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
	const struct rm_family_ops *ops = family_ops[m->cfg.family];
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
	size_t bytes = ops->layout(ws, NULL, &overflow);
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
	ops->layout(ws, ws->mem, &overflow);
	int rc = rm_pool_create(&ws->pool, o->threads, err);
	if (rc < 0) {
		free(ws->mem);
		free(ws);
		return rc;
	}
	if (ws->rope_cos)
		rm_rope_tables(ws->rope_cos, ws->rope_sin, ws->max_len, (size_t)m->cfg.head_dim,
			       m->cfg.rope_theta, m->cfg.rope_factor, m->cfg.rope_low_freq_factor,
			       m->cfg.rope_high_freq_factor, m->cfg.rope_original_max_positions);
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

/* ---- dropout masks -------------------------------------------------------- */

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

/* ---- attention ------------------------------------------------------------- */

static void
att_fwd_task(void *ctx, size_t t, int thread)
{
	struct rm_att_job *j = ctx;
	struct rm_workspace *ws = j->ws;
	size_t NH = (size_t)ws->cfg.n_head, hd = j->hd, g = NH / j->nkv;
	size_t AW = NH * hd; /* atty width */
	size_t s = t / NH, h = t % NH;
	size_t t0 = ws->off[s], T = ws->off[s + 1] - t0;
	const float *row = j->qkv + t0 * j->ld;
	size_t ao = ws->att_off[s] + h * T * T;
	float *att = ws->train ? j->att + ao : j->att + (size_t)thread * ws->max_len * ws->max_len;
	/* q, k and v share the row stride ld; the kernel takes one pointer
	 * each and that stride */
	rm_attention_forward(j->atty + (j->last ? s : t0) * AW + h * hd, AW, att,
			     row + j->qcol + h * hd, row + j->kcol + (h / g) * hd,
			     row + j->vcol + (h / g) * hd, j->ld, T, j->last ? T - 1 : 0, hd,
			     j->mask ? j->mask + ao : NULL, j->scale,
			     ws->scratch + (size_t)thread * 2 * ws->max_len * ws->max_len);
}

/*
 * One task per (sequence, kv head): its g query heads in order.  The
 * kernel overwrites dk and dv, so the first head writes them in place and
 * the others write into this thread's scratch rows, which are added: the
 * sum runs in head order whatever the threads.
 */
static void
att_bwd_task(void *ctx, size_t t, int thread)
{
	struct rm_att_job *j = ctx;
	struct rm_workspace *ws = j->ws;
	size_t NH = (size_t)ws->cfg.n_head, hd = j->hd, g = NH / j->nkv;
	size_t AW = NH * hd, ld = j->ld;
	size_t s = t / j->nkv, kh = t % j->nkv;
	size_t t0 = ws->off[s], T = ws->off[s + 1] - t0;
	const float *row = j->qkv + t0 * ld;
	float *drow = j->dqkv + t0 * ld;
	float *tmp = g > 1 ? ws->dkv + (size_t)thread * ws->max_len * ld : NULL;
	for (size_t r = 0; r < g; r++) {
		size_t h = kh * g + r;
		size_t ao = ws->att_off[s] + h * T * T;
		float *dk = (r ? tmp : drow) + j->kcol + kh * hd;
		float *dv = (r ? tmp : drow) + j->vcol + kh * hd;
		rm_attention_backward(drow + j->qcol + h * hd, dk, dv, ld,
				      j->datty + (j->last ? s : t0) * AW + h * hd, AW,
				      j->att + ao, row + j->qcol + h * hd, row + j->kcol + kh * hd,
				      row + j->vcol + kh * hd, T, j->last ? T - 1 : 0, hd,
				      j->mask ? j->mask + ao : NULL, j->scale,
				      ws->scratch + (size_t)thread * 2 * ws->max_len * ws->max_len);
		if (r)
			for (size_t i = 0; i < T; i++) {
				float *a = drow + i * ld, *b = tmp + i * ld;
				for (size_t c = 0; c < hd; c++) {
					a[j->kcol + kh * hd + c] += b[j->kcol + kh * hd + c];
					a[j->vcol + kh * hd + c] += b[j->vcol + kh * hd + c];
				}
			}
	}
}

/* Run attention tasks with OpenBLAS single-threaded inside our workers. */
static void
run_attention(struct rm_workspace *ws, size_t ntasks, rm_pool_fn fn, struct rm_att_job *j,
	      int prof)
{
	double t = rm_ws_now();
	if (ws->threads > 1)
		rm_blas_set_threads(1);
	rm_pool_run(ws->pool, ntasks, fn, j);
	if (ws->threads > 1)
		rm_blas_set_threads(ws->threads);
	ws->prof[prof] += rm_ws_now() - t;
}

void
rm_ws_attention_forward(struct rm_workspace *ws, struct rm_att_job *j)
{
	run_attention(ws, ws->n_seq * (size_t)ws->cfg.n_head, att_fwd_task, j, RM_PROF_FWD_ATTN);
}

void
rm_ws_attention_backward(struct rm_workspace *ws, struct rm_att_job *j)
{
	run_attention(ws, ws->n_seq * j->nkv, att_bwd_task, j, RM_PROF_BWD_ATTN);
}

/* ---- linear layers, residuals --------------------------------------------- */

/*
 * The last layer only feeds the reward through each sequence's last token:
 * after its attention (which still reads every key and value) it runs on
 * one row per sequence ("last" mode, row s = sequence s).  Elsewhere rows
 * are tokens.
 */

/* Linear layers: one call for the whole batch where the product path is
 * row-invariant, else one call per sequence (batch invariance either way). */
void
rm_ws_linear_rows(struct rm_workspace *ws, float *out, const float *inp,
		  const float *w, const float *b, size_t C, size_t OC, int last)
{
	double t = rm_ws_now();
	if (rm_gemm_row_invariant()) {
		rm_matmul_forward(out, inp, w, b, last ? ws->n_seq : ws->N, C, OC);
		ws->prof[RM_PROF_FWD_LINEAR] += rm_ws_now() - t;
		return;
	}
	for (size_t s = 0; s < ws->n_seq; s++) {
		size_t t0 = last ? s : ws->off[s];
		size_t T = last ? 1 : ws->off[s + 1] - ws->off[s];
		rm_matmul_forward(out + t0 * OC, inp + t0 * C, w, b, T, C, OC);
	}
	ws->prof[RM_PROF_FWD_LINEAR] += rm_ws_now() - t;
}

void
rm_ws_linear_rows_t(struct rm_workspace *ws, float *out, const float *inp,
		    const float *w, const float *b, size_t C, size_t OC, int last)
{
	double t = rm_ws_now();
	if (rm_gemm_row_invariant()) {
		rm_linear_forward(out, inp, w, b, last ? ws->n_seq : ws->N, C, OC);
		ws->prof[RM_PROF_FWD_LINEAR] += rm_ws_now() - t;
		return;
	}
	for (size_t s = 0; s < ws->n_seq; s++) {
		size_t t0 = last ? s : ws->off[s];
		size_t T = last ? 1 : ws->off[s + 1] - ws->off[s];
		rm_linear_forward(out + t0 * OC, inp + t0 * C, w, b, T, C, OC);
	}
	ws->prof[RM_PROF_FWD_LINEAR] += rm_ws_now() - t;
}

void
rm_ws_linear_backward(struct rm_workspace *ws, float *dinp, float *dw, float *dbias,
		      const float *dout, const float *inp, const float *w, size_t N,
		      size_t C, size_t OC)
{
	double t = rm_ws_now();
	rm_matmul_backward(dinp, dw, dbias, dout, inp, w, N, C, OC, 0);
	ws->prof[RM_PROF_BWD_LINEAR] += rm_ws_now() - t;
}

void
rm_ws_linear_backward_t(struct rm_workspace *ws, float *dinp, float *dw, float *dbias,
			const float *dout, const float *inp, const float *w, size_t N,
			size_t C, size_t OC)
{
	double t = rm_ws_now();
	rm_linear_backward(dinp, dw, dbias, dout, inp, w, N, C, OC, 0);
	ws->prof[RM_PROF_BWD_LINEAR] += rm_ws_now() - t;
}

const float *
rm_ws_gather_last(struct rm_workspace *ws, const float *x)
{
	size_t C = (size_t)ws->cfg.n_embd;
	for (size_t s = 0; s < ws->n_seq; s++)
		memcpy(ws->xlast + s * C, x + (ws->off[s + 1] - 1) * C, C * sizeof(float));
	return ws->xlast;
}

float *
rm_ws_scatter_last(struct rm_workspace *ws, float *dres, const float *d)
{
	size_t C = (size_t)ws->cfg.n_embd;
	memset(dres, 0, ws->N * C * sizeof(float));
	for (size_t s = 0; s < ws->n_seq; s++)
		memcpy(dres + (ws->off[s + 1] - 1) * C, d + s * C, C * sizeof(float));
	return dres;
}

void
rm_ws_residual_rows(struct rm_workspace *ws, float *out, const float *a,
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

const float *
rm_ws_dropout_rows(struct rm_workspace *ws, float *out, const float *d,
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

/* ---- row-wise layers -------------------------------------------------------- */

enum { EW_LN_FWD, EW_LN_BWD, EW_GELU_FWD, EW_GELU_BWD, EW_RMS_FWD, EW_RMS_BWD,
       EW_SWIGLU_FWD, EW_SWIGLU_BWD };

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
	case EW_RMS_FWD:
		rm_rmsnorm_forward(j->out + r0 * W, j->rstd + r0, j->a + r0 * W, j->w, n, W, j->eps);
		break;
	case EW_RMS_BWD:
		p = j->partial + t * W;
		memset(p, 0, W * sizeof *p);
		rm_rmsnorm_backward(j->out + r0 * W, p, j->a + r0 * W, j->b + r0 * W, j->w,
				    j->rstd + r0, n, W);
		break;
	case EW_SWIGLU_FWD:
		rm_swiglu_forward(j->out + r0 * W, j->a + r0 * 2 * W, n, W);
		break;
	case EW_SWIGLU_BWD:
		rm_swiglu_backward(j->out + r0 * 2 * W, j->a + r0 * 2 * W, j->b + r0 * W, n, W);
		break;
	}
}

static void
ew_run(struct rm_workspace *ws, struct ew_job *j)
{
	rm_pool_run(ws->pool, (j->rows + EW_ROWS - 1) / EW_ROWS, ew_task, j);
}

void
rm_ws_rows_run(struct rm_workspace *ws, size_t N, rm_pool_fn fn, void *ctx)
{
	rm_pool_run(ws->pool, (N + EW_ROWS - 1) / EW_ROWS, fn, ctx);
}

void
rm_ws_layernorm_fwd(struct rm_workspace *ws, float *out, float *mean, float *rstd,
		    const float *inp, const float *w, const float *b, size_t N, size_t C,
		    float eps)
{
	struct ew_job j = {.op = EW_LN_FWD, .rows = N, .width = C, .out = out, .mean = mean,
			   .rstd = rstd, .a = inp, .w = w, .bias = b, .eps = eps};
	ew_run(ws, &j);
}

/* dinp += ..., dw += ..., db += ... */
void
rm_ws_layernorm_bwd(struct rm_workspace *ws, float *dinp, float *dw, float *db,
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

void
rm_ws_gelu_fwd(struct rm_workspace *ws, float *out, const float *inp, size_t rows, size_t width)
{
	struct ew_job j = {.op = EW_GELU_FWD, .rows = rows, .width = width, .out = out, .a = inp};
	ew_run(ws, &j);
}

void
rm_ws_gelu_bwd(struct rm_workspace *ws, float *dinp, const float *inp, const float *dout,
	       size_t rows, size_t width)
{
	struct ew_job j = {.op = EW_GELU_BWD, .rows = rows, .width = width, .out = dinp,
			   .a = inp, .b = dout};
	ew_run(ws, &j);
}

void
rm_ws_rmsnorm_fwd(struct rm_workspace *ws, float *out, float *rstd, const float *inp,
		  const float *w, size_t N, size_t C, float eps)
{
	struct ew_job j = {.op = EW_RMS_FWD, .rows = N, .width = C, .out = out, .rstd = rstd,
			   .a = inp, .w = w, .eps = eps};
	ew_run(ws, &j);
}

void
rm_ws_rmsnorm_bwd(struct rm_workspace *ws, float *dinp, float *dw, const float *dout,
		  const float *inp, const float *w, const float *rstd, size_t N, size_t C)
{
	struct ew_job j = {.op = EW_RMS_BWD, .rows = N, .width = C, .out = dinp,
			   .rstd = (float *)rstd, .partial = ws->partial, .a = dout, .b = inp,
			   .w = w};
	ew_run(ws, &j);
	size_t nt = (N + EW_ROWS - 1) / EW_ROWS;
	for (size_t t = 0; t < nt; t++) {
		const float *p = ws->partial + t * C;
		for (size_t c = 0; c < C; c++)
			dw[c] += p[c];
	}
}

void
rm_ws_swiglu_fwd(struct rm_workspace *ws, float *out, const float *gu, size_t N, size_t I)
{
	struct ew_job j = {.op = EW_SWIGLU_FWD, .rows = N, .width = I, .out = out, .a = gu};
	ew_run(ws, &j);
}

void
rm_ws_swiglu_bwd(struct rm_workspace *ws, float *dgu, const float *gu, const float *dout,
		 size_t N, size_t I)
{
	struct ew_job j = {.op = EW_SWIGLU_BWD, .rows = N, .width = I, .out = dgu, .a = gu,
			   .b = dout};
	ew_run(ws, &j);
}

/* ---- forward and backward ------------------------------------------------- */

int
rm_model_forward(struct rm_model *m, struct rm_workspace *ws,
		 const struct rm_batch *b, const struct rm_dropout *drop,
		 float *rewards, float *h_last, struct rm_error *err)
{
	double t_start = rm_ws_now();
	const struct rm_model_config *c = &m->cfg;
	if (c->family != ws->cfg.family || c->n_layer != ws->cfg.n_layer ||
	    c->n_embd != ws->cfg.n_embd || c->n_head != ws->cfg.n_head ||
	    c->n_kv_head != ws->cfg.n_kv_head || c->head_dim != ws->cfg.head_dim ||
	    c->intermediate_size != ws->cfg.intermediate_size || c->qk_norm != ws->cfg.qk_norm)
		return rm_error_set(err, RM_EUSAGE, "workspace was made for another model shape");
	ws->have_forward = 0;
	size_t C = (size_t)c->n_embd;
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
		if (c->sliding_window > 0 && T > (size_t)c->sliding_window)
			return rm_error_set(err, RM_EUSAGE, "sequence %zu has %zu tokens, more than the "
					    "model's sliding_window %d (not implemented)", s, T,
					    c->sliding_window);
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

	family_ops[c->family]->forward(m, ws);

	/* the score head on the final norm's output at the last tokens */
	size_t S = ws->n_seq;
	const float *score = rm_pm(m, rm_model_score_index(m));
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
	ws->prof[RM_PROF_FWD] += rm_ws_now() - t_start;
	if (bad)
		return rm_error_set(err, RM_ENUM, "non-finite reward in the forward pass");
	ws->have_forward = 1;
	return 0;
}

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
	double t_start = rm_ws_now();
	size_t C = (size_t)m->cfg.n_embd, S = ws->n_seq;

	/* reward = score . h: dscore += dr * h; dh = dr * score (+ d_h_last) */
	size_t si = rm_model_score_index(m);
	const float *score = rm_pm(m, si);
	float *dscore = rm_gr(m, si);
	for (size_t s = 0; s < S; s++) {
		const float *h = ws->lnf + s * C;
		float *dh = ws->dlnf + s * C;
		float dr = d_rewards[s];
		for (size_t i = 0; i < C; i++) {
			dscore[i] += dr * h[i];
			dh[i] = dr * score[i] + (d_h_last ? d_h_last[s * C + i] : 0.0f);
		}
	}
	family_ops[m->cfg.family]->backward(m, ws);
	ws->prof[RM_PROF_BWD] += rm_ws_now() - t_start;
	return 0;
}
