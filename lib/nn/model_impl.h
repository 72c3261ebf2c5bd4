/*
 * model_impl.h - what the model families share, internal to lib/nn
 * (model.c: the shared code; gpt2.c and llama.c: one family each).
 *
 * How to add a family (Gemma, say):
 *   1. model.h: a value in enum rm_family, the config fields it needs
 *      (zero must mean "absent" for the other families), and its per-layer
 *      slot enum if the layer has tensors of its own.
 *   2. lib/nn/NAME.c: a struct rm_family_ops: check (config fields),
 *      n_tensors, build (the parameter table, through rm_model_add_param,
 *      filling m->slots and m->i_norm), layout (its activations, through
 *      carve), forward (ws->lnf: final-norm output at each sequence's last
 *      token) and backward (from ws->dlnf, accumulate into grads_mem).  New
 *      numeric layers go in a kernels file with finite-difference tests
 *      (tests/t-gradcheck.c).  Shared here: the batch checks and copy,
 *      dropout masks, the score head, the row-wise thread pool, per-sequence
 *      linear layers, attention tasks, timing.
 *   3. model.c: the ops in family_ops[]; rm_model_type_name/parse.
 *   4. lib/train/checkpoint.c: config.json keys and tensor names in and
 *      out; tests/hf_NAME.py: an independent PyTorch reference.
 */
#ifndef RM_MODEL_IMPL_H
#define RM_MODEL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/pool.h"
#include "nn/model.h"

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

	/* activations; per layer strides below when train (the llama family
	 * uses ln1_rstd, ln2_rstd for RMSNorm, fch for gate|up and fchg for
	 * the SwiGLU output) */
	float *encoded, *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att, *res2;
	float *ln2, *ln2_mean, *ln2_rstd, *fch, *fchg, *res3, *tmp;
	float *xlast, *lnf, *lnf_mean, *lnf_rstd;
	uint8_t *m_embd, *m_att, *m_res1, *m_res2;
	/* llama family: q, k, v before q/k norm (qk_norm only), per-head
	 * rstd of the q/k norms, rotary tables [max_len, head_dim / 2] */
	float *qkvr, *qk_rstd, *rope_cos, *rope_sin;
	/* backward */
	float *dres, *dbuf1, *dbuf2, *dbig, *dlnf, *dxlast;
	float *dqkv, *dkv;  /* llama: [N, qkv width]; per-thread GQA scratch */
	float *scratch;  /* threads * 2 * max_len^2 */
	float *partial;  /* per row chunk: norm weight (and bias) gradients */
	double prof[RM_PROF_N];
};

/* One family's parts (see "How to add a family" above). */
struct rm_family_ops {
	int (*check)(const struct rm_model_config *c, struct rm_error *err);
	size_t (*n_tensors)(const struct rm_model_config *c);
	void (*build)(struct rm_model *m);
	size_t (*layout)(struct rm_workspace *ws, char *base, int *overflow);
	void (*forward)(struct rm_model *m, struct rm_workspace *ws);
	void (*backward)(struct rm_model *m, struct rm_workspace *ws);
};
extern const struct rm_family_ops rm_gpt2_ops, rm_llama_ops;

/* Append a table entry; pack: directly after the previous tensor (no
 * alignment gap), so consecutive tensors form one matrix. */
void rm_model_add_param(struct rm_model *m, const char *name, int ndim,
			size_t d0, size_t d1, int init, float std, int pack);

/* Carve n elements of size sz from a running byte count, 64-byte aligned.
 * With base == NULL only counts. */
void *rm_ws_carve(char *base, size_t *used, size_t n, size_t sz, int *overflow);
/* The buffers every family has (batch copy, encoded, xlast, lnf, masks of
 * the shared dropout sites, score-head gradients); then the family's own. */
void rm_ws_layout_common(struct rm_workspace *ws, char *base, size_t *used,
			 int *overflow);

double rm_ws_now(void);

/* Layer l's slice of a per-layer activation buffer (width per token). */
#define ACT(ws, base, l, width) \
	((base) + ((ws)->train ? (size_t)(l) * (ws)->max_tokens * (width) : 0))
#define ATT(ws, base, l) ((base) + ((ws)->train ? (size_t)(l) * (ws)->max_att : 0))

static inline float *
rm_pm(struct rm_model *m, size_t idx)
{
	return m->params_mem + m->params[idx].offset;
}

static inline float *
rm_gr(struct rm_model *m, size_t idx)
{
	return m->grads_mem + m->params[idx].offset;
}

#define LP(m, l, k) rm_pm((m), rm_model_layer_index((m), (l), (k)))
#define LG(m, l, k) rm_gr((m), rm_model_layer_index((m), (l), (k)))
/* optional tensors: NULL when absent */
#define LPO(m, l, k) (rm_model_layer_index((m), (l), (k)) == RM_NO_TENSOR ? NULL : LP(m, l, k))
#define LGO(m, l, k) (rm_model_layer_index((m), (l), (k)) == RM_NO_TENSOR ? NULL : LG(m, l, k))

/*
 * Attention over the packed batch: one task per (sequence, head) forward,
 * per (sequence, kv head) backward.  Q, K, V live in rows of width ld:
 * head h's query at column qcol + h hd, its key at kcol + (h / g) hd and
 * its value at vcol + (h / g) hd, g = n_head / n_kv_head.  Outputs: atty
 * rows of width n_head hd (one per sequence when last).
 */
struct rm_att_job {
	struct rm_workspace *ws;
	float *qkv, *atty, *att;
	uint8_t *mask;
	float scale;
	int last;  /* only each sequence's last query; atty has one row per sequence */
	size_t ld, qcol, kcol, vcol, hd, nkv;
	/* backward */
	float *dqkv;
	const float *datty;
};
void rm_ws_attention_forward(struct rm_workspace *ws, struct rm_att_job *j);
void rm_ws_attention_backward(struct rm_workspace *ws, struct rm_att_job *j);

/* Linear layer in Conv1D orientation (w [C, OC]), one call per sequence
 * (batch invariance); last: one row per sequence. */
void rm_ws_linear_rows(struct rm_workspace *ws, float *out, const float *inp,
		       const float *w, const float *b, size_t C, size_t OC, int last);
/* The same for nn.Linear weights (w [OC, C]). */
void rm_ws_linear_rows_t(struct rm_workspace *ws, float *out, const float *inp,
			 const float *w, const float *b, size_t C, size_t OC, int last);
/* Backward of the two over N rows (dinp overwritten; dw, dbias +=). */
void rm_ws_linear_backward(struct rm_workspace *ws, float *dinp, float *dw,
			   float *dbias, const float *dout, const float *inp,
			   const float *w, size_t N, size_t C, size_t OC);
void rm_ws_linear_backward_t(struct rm_workspace *ws, float *dinp, float *dw,
			     float *dbias, const float *dout, const float *inp,
			     const float *w, size_t N, size_t C, size_t OC);

/* The last layer's skip path: x's row at each sequence's last token, in
 * ws->xlast (x may be the buffer the layer writes); and its gradient,
 * d [n_seq, C] scattered into dres [N, C] (zero elsewhere), returns dres. */
const float *rm_ws_gather_last(struct rm_workspace *ws, const float *x);
float *rm_ws_scatter_last(struct rm_workspace *ws, float *dres, const float *d);

/* out = a + drop(b) over [N or n_seq, C]. */
void rm_ws_residual_rows(struct rm_workspace *ws, float *out, const float *a,
			 const float *b, const uint8_t *mask, float scale, int last);
/* The gradient through a residual dropout: d itself without a mask, else out. */
const float *rm_ws_dropout_rows(struct rm_workspace *ws, float *out, const float *d,
				const uint8_t *mask, float scale, int last);

/*
 * Row-wise layers on the worker threads in chunks of EW_ROWS rows; the
 * chunks do not depend on the thread count, and weight gradients are
 * summed per chunk and the chunk sums added in order, so results are the
 * same for every thread count.
 */
void rm_ws_layernorm_fwd(struct rm_workspace *ws, float *out, float *mean, float *rstd,
			 const float *inp, const float *w, const float *b, size_t N,
			 size_t C, float eps);
void rm_ws_layernorm_bwd(struct rm_workspace *ws, float *dinp, float *dw, float *db,
			 const float *dout, const float *inp, const float *w,
			 const float *mean, const float *rstd, size_t N, size_t C);
void rm_ws_gelu_fwd(struct rm_workspace *ws, float *out, const float *inp, size_t rows,
		    size_t width);
void rm_ws_gelu_bwd(struct rm_workspace *ws, float *dinp, const float *inp,
		    const float *dout, size_t rows, size_t width);
/* RMSNorm over rows of width C (row stride ld); dinp +=, dw +=. */
void rm_ws_rmsnorm_fwd(struct rm_workspace *ws, float *out, float *rstd, const float *inp,
		       const float *w, size_t N, size_t C, float eps);
void rm_ws_rmsnorm_bwd(struct rm_workspace *ws, float *dinp, float *dw, const float *dout,
		       const float *inp, const float *w, const float *rstd, size_t N,
		       size_t C);
/* SwiGLU: out[N, I] = silu(gu[:, :I]) * gu[:, I:]; backward writes dgu. */
void rm_ws_swiglu_fwd(struct rm_workspace *ws, float *out, const float *gu, size_t N,
		      size_t I);
void rm_ws_swiglu_bwd(struct rm_workspace *ws, float *dgu, const float *gu,
		      const float *dout, size_t N, size_t I);
/* Run fn(ctx, chunk) over ceil(N / EW_ROWS) chunks of EW_ROWS rows. */
void rm_ws_rows_run(struct rm_workspace *ws, size_t N, rm_pool_fn fn, void *ctx);

#endif
