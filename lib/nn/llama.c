/*
 * llama.c - the Llama family (Hugging Face llama, mistral, qwen2, qwen3):
 * parameter table, activations, forward and backward (model_impl.h: how a
 * family plugs in; kernels_llama.h: the layers it adds).
 *
 * Per layer, as transformers' LlamaDecoderLayer:
 *   h   = x + o_proj(attn(rope(qk_norm(q, k)), v))   q, k, v = proj(rms(x))
 *   out = h + down(silu(gate(rms(h))) * up(rms(h)))
 * with grouped-query attention (query head h reads kv head h / g, g =
 * n_head / n_kv_head), rotate-half rotary positions from 0 in each
 * sequence, optional q/k/v biases (qwen2), o bias (llama/qwen3
 * attention_bias) and per-head q/k RMSNorm (qwen3).  The final RMSNorm's
 * output at each sequence's last token feeds the shared score head.
 *
 * Activations (N tokens, C = hidden, Q = (n_head + 2 n_kv_head) head_dim,
 * A = n_head head_dim, I = intermediate; per layer when training):
 *   ln1 [N,C] (+rstd [N])  qkvr [N,Q] (projections, qk_norm only)
 *   qk_rstd [N, n_head + n_kv_head]  qkv [N,Q] (after norm and rotary)
 *   att [NH sum T^2]  atty [N,A]  res2 [N,C]  ln2 [N,C] (+rstd)
 *   fch = gate|up [N,2I]  fchg = silu(gate) up [N,I]  res3 [N,C].
 * The last layer runs on one row per sequence after its attention, as
 * GPT-2's does.  Weights keep nn.Linear's [out, in] orientation, and q, k,
 * v (and gate, up) are consecutive in the buffer, so each is one product.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/kernels_llama.h"
#include "nn/model.h"
#include "nn/model_impl.h"

static int
llama_check(const struct rm_model_config *c, struct rm_error *err)
{
	if (c->model_type < 0 || c->model_type >= RM_LLAMA_N)
		return rm_error_set(err, RM_EUSAGE, "llama model_type %d unknown", c->model_type);
	if (c->n_kv_head < 1 || c->n_kv_head > c->n_head || c->n_head % c->n_kv_head)
		return rm_error_set(err, RM_EUSAGE, "num_key_value_heads %d does not divide "
				    "num_attention_heads %d", c->n_kv_head, c->n_head);
	if (c->head_dim < 2 || c->head_dim > 4096 || c->head_dim % 2)
		return rm_error_set(err, RM_EUSAGE, "head_dim %d is not an even number in [2, 4096]",
				    c->head_dim);
	if (c->intermediate_size < 1 || c->intermediate_size > (1 << 20))
		return rm_error_set(err, RM_EUSAGE, "intermediate_size %d out of range",
				    c->intermediate_size);
	if ((double)c->n_head * c->head_dim > 65536)
		return rm_error_set(err, RM_EUSAGE, "num_attention_heads * head_dim too large");
	if (!(c->rope_theta > 0) || !(c->rope_theta < 1e30))
		return rm_error_set(err, RM_EUSAGE, "rope_theta %g out of range", c->rope_theta);
	if (c->rope_factor != 0 &&
	    (!(c->rope_factor > 0 && c->rope_factor < 1e6) || !(c->rope_low_freq_factor > 0) ||
	     !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
	     c->rope_original_max_positions < 1))
		return rm_error_set(err, RM_EUSAGE, "rope_scaling llama3 needs factor > 0, "
				    "0 < low_freq_factor < high_freq_factor and "
				    "original_max_position_embeddings > 0");
	/* what transformers' classes can express, so that a saved checkpoint
	 * loads there as it is */
	int t = c->model_type;
	if (c->qk_norm != (t == RM_QWEN3))
		return rm_error_set(err, RM_EUSAGE, "q/k norm is %s for model_type %s",
				    t == RM_QWEN3 ? "required" : "not available", rm_model_type_name(c));
	if (t == RM_QWEN2 ? !c->qkv_bias || c->o_bias :
	    t == RM_MISTRAL ? c->qkv_bias || c->o_bias : c->qkv_bias != c->o_bias)
		return rm_error_set(err, RM_EUSAGE, "attention biases (q/k/v %d, o %d) are not what "
				    "model_type %s has (%s)", c->qkv_bias, c->o_bias,
				    rm_model_type_name(c),
				    t == RM_QWEN2 ? "q/k/v only" : t == RM_MISTRAL ? "none" :
				    "attention_bias: all four or none");
	if (c->sliding_window < 0)
		return rm_error_set(err, RM_EUSAGE, "sliding_window %d out of range", c->sliding_window);
	return 0;
}

static size_t
llama_n_tensors(const struct rm_model_config *c)
{
	return 1 + (size_t)c->n_layer * RM_L_PER_LAYER + 2;
}

static void
add(struct rm_model *m, int l, int slot, const char *name, int ndim, size_t d0, size_t d1,
    int init, int pack)
{
	char full[RM_PARAM_MAX_NAME + 1];
	snprintf(full, sizeof full, "model.layers.%d.%s", l, name);
	m->slots[(size_t)l * RM_L_PER_LAYER + (size_t)slot] = m->n_tensors;
	rm_model_add_param(m, full, ndim, d0, d1, init, 0.02f, pack);
}

static void
llama_build(struct rm_model *m)
{
	const struct rm_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_embd, hd = (size_t)c->head_dim, I = (size_t)c->intermediate_size;
	size_t qd = (size_t)c->n_head * hd, kd = (size_t)c->n_kv_head * hd;
	m->n_slots = RM_L_PER_LAYER;
	for (size_t i = 0; i < (size_t)c->n_layer * RM_L_PER_LAYER; i++)
		m->slots[i] = RM_NO_TENSOR;
	rm_model_add_param(m, "model.embed_tokens.weight", 2, (size_t)c->vocab_size, C,
			   RM_INIT_NORMAL, 0.02f, 0);
	for (int l = 0; l < c->n_layer; l++) {
		add(m, l, RM_L_LN1, "input_layernorm.weight", 1, C, 0, RM_INIT_ONES, 0);
		add(m, l, RM_L_Q, "self_attn.q_proj.weight", 2, qd, C, RM_INIT_NORMAL, 0);
		add(m, l, RM_L_K, "self_attn.k_proj.weight", 2, kd, C, RM_INIT_NORMAL, 1);
		add(m, l, RM_L_V, "self_attn.v_proj.weight", 2, kd, C, RM_INIT_NORMAL, 1);
		if (c->qkv_bias) {
			add(m, l, RM_L_QB, "self_attn.q_proj.bias", 1, qd, 0, RM_INIT_ZEROS, 0);
			add(m, l, RM_L_KB, "self_attn.k_proj.bias", 1, kd, 0, RM_INIT_ZEROS, 1);
			add(m, l, RM_L_VB, "self_attn.v_proj.bias", 1, kd, 0, RM_INIT_ZEROS, 1);
		}
		if (c->qk_norm) {
			add(m, l, RM_L_QN, "self_attn.q_norm.weight", 1, hd, 0, RM_INIT_ONES, 0);
			add(m, l, RM_L_KN, "self_attn.k_norm.weight", 1, hd, 0, RM_INIT_ONES, 0);
		}
		add(m, l, RM_L_O, "self_attn.o_proj.weight", 2, C, qd, RM_INIT_NORMAL, 0);
		if (c->o_bias)
			add(m, l, RM_L_OB, "self_attn.o_proj.bias", 1, C, 0, RM_INIT_ZEROS, 0);
		add(m, l, RM_L_LN2, "post_attention_layernorm.weight", 1, C, 0, RM_INIT_ONES, 0);
		add(m, l, RM_L_GATE, "mlp.gate_proj.weight", 2, I, C, RM_INIT_NORMAL, 0);
		add(m, l, RM_L_UP, "mlp.up_proj.weight", 2, I, C, RM_INIT_NORMAL, 1);
		add(m, l, RM_L_DOWN, "mlp.down_proj.weight", 2, C, I, RM_INIT_NORMAL, 0);
	}
	m->i_norm = m->n_tensors;
	rm_model_add_param(m, "model.norm.weight", 1, C, 0, RM_INIT_ONES, 0, 0);
	rm_model_add_param(m, "score.weight", 2, 1, C, RM_INIT_NORMAL, 0.02f, 0);
}

static size_t
max3(size_t a, size_t b, size_t c)
{
	return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

static size_t
llama_layout(struct rm_workspace *ws, char *base, int *overflow)
{
	const struct rm_model_config *c = &ws->cfg;
	size_t used = 0;
	size_t C = (size_t)c->n_embd, hd = (size_t)c->head_dim, I = (size_t)c->intermediate_size;
	size_t NH = (size_t)c->n_head, KV = (size_t)c->n_kv_head;
	size_t Q = (NH + 2 * KV) * hd, A = NH * hd;
	size_t Ltot = ws->train ? (size_t)c->n_layer : 1;
	size_t N = ws->max_tokens;
	size_t nl = N * Ltot;
	rm_ws_layout_common(ws, base, &used, overflow);
#define F(ptr, n) ws->ptr = rm_ws_carve(base, &used, (n), sizeof(float), overflow)
	F(ln1, nl * C);
	F(ln1_rstd, nl);
	F(qkv, nl * Q);
	if (c->qk_norm) {
		F(qkvr, nl * Q);
		F(qk_rstd, nl * (NH + KV));
	}
	F(atty, nl * A);
	F(res2, nl * C);
	F(ln2, nl * C);
	F(ln2_rstd, nl);
	F(fch, nl * 2 * I);
	F(fchg, nl * I);
	F(res3, nl * C);
	F(rope_cos, ws->max_len * hd / 2);
	F(rope_sin, ws->max_len * hd / 2);
	F(partial, (N / EW_ROWS + 1) * (C > 2 * hd ? C : 2 * hd));
	if (ws->train) {
		F(dbuf1, N * max3(C, A, I));
		F(dbig, N * (2 * I > Q ? 2 * I : Q));
		F(dqkv, N * Q);
		if (NH > KV)
			F(dkv, (size_t)ws->threads * ws->max_len * Q);
	}
#undef F
	return used;
}

/* ---- q/k norm and rotary, row-wise ----------------------------------------- */

struct qk_job {
	struct rm_workspace *ws;
	float *qkv, *qkvr, *rstd, *dqkv, *dqkvr;
	const float *qn, *kn;
};

static void
qk_fwd_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	struct qk_job *j = ctx;
	struct rm_workspace *ws = j->ws;
	const struct rm_model_config *c = &ws->cfg;
	size_t hd = (size_t)c->head_dim, NH = (size_t)c->n_head, KV = (size_t)c->n_kv_head;
	size_t Q = (NH + 2 * KV) * hd, h2 = hd / 2;
	size_t r0 = t * EW_ROWS, r1 = r0 + EW_ROWS < ws->N ? r0 + EW_ROWS : ws->N;
	for (size_t r = r0; r < r1; r++) {
		float *y = j->qkv + r * Q;
		if (j->qkvr) {
			const float *x = j->qkvr + r * Q;
			float *rs = j->rstd + r * (NH + KV);
			rm_rmsnorm_forward(y, rs, x, j->qn, NH, hd, c->layer_norm_epsilon);
			rm_rmsnorm_forward(y + NH * hd, rs + NH, x + NH * hd, j->kn, KV, hd,
					   c->layer_norm_epsilon);
			memcpy(y + (NH + KV) * hd, x + (NH + KV) * hd, KV * hd * sizeof(float));
		}
		size_t p = (size_t)ws->pos[r];
		rm_rope_forward(y, NH + KV, hd, ws->rope_cos + p * h2, ws->rope_sin + p * h2);
	}
}

/* dqkv (after rotary) -> in place before rotary; with q/k norm, then
 * dqkvr = the gradient of the projections, and norm weight gradients
 * per chunk into ws->partial. */
static void
qk_bwd_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	struct qk_job *j = ctx;
	struct rm_workspace *ws = j->ws;
	const struct rm_model_config *c = &ws->cfg;
	size_t hd = (size_t)c->head_dim, NH = (size_t)c->n_head, KV = (size_t)c->n_kv_head;
	size_t Q = (NH + 2 * KV) * hd, h2 = hd / 2;
	size_t r0 = t * EW_ROWS, r1 = r0 + EW_ROWS < ws->N ? r0 + EW_ROWS : ws->N;
	float *pq = ws->partial + t * 2 * hd, *pk = pq + hd;
	if (j->qkvr)
		memset(pq, 0, 2 * hd * sizeof *pq);
	for (size_t r = r0; r < r1; r++) {
		float *dy = j->dqkv + r * Q;
		size_t p = (size_t)ws->pos[r];
		rm_rope_backward(dy, NH + KV, hd, ws->rope_cos + p * h2, ws->rope_sin + p * h2);
		if (j->qkvr) {
			const float *x = j->qkvr + r * Q;
			const float *rs = j->rstd + r * (NH + KV);
			float *dx = j->dqkvr + r * Q;
			memset(dx, 0, (NH + KV) * hd * sizeof *dx);
			rm_rmsnorm_backward(dx, pq, dy, x, j->qn, rs, NH, hd);
			rm_rmsnorm_backward(dx + NH * hd, pk, dy + NH * hd, x + NH * hd, j->kn,
					    rs + NH, KV, hd);
			memcpy(dx + (NH + KV) * hd, dy + (NH + KV) * hd, KV * hd * sizeof *dx);
		}
	}
}

/* ---- forward ------------------------------------------------------------ */

static void
llama_forward(struct rm_model *m, struct rm_workspace *ws)
{
	const struct rm_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_embd, L = (size_t)c->n_layer, N = ws->N, S = ws->n_seq;
	size_t hd = (size_t)c->head_dim, NH = (size_t)c->n_head, KV = (size_t)c->n_kv_head;
	size_t I = (size_t)c->intermediate_size, Q = (NH + 2 * KV) * hd, A = NH * hd;
	float pe = ws->p_embd, pa = ws->p_attn, pr = ws->p_resid;
	float eps = c->layer_norm_epsilon;

	const float *wte = rm_pm(m, 0);
	for (size_t i = 0; i < N; i++)
		memcpy(ws->encoded + i * C, wte + (size_t)ws->tok[i] * C, C * sizeof(float));
	if (pe > 0)
		rm_dropout_apply(ws->encoded, ws->encoded, ws->m_embd, 1.0f / (1.0f - pe), N * C);

	float rs = 1.0f / (1.0f - pr);
	const float *x = ws->encoded;
	for (size_t l = 0; l < L; l++) {
		int last = l == L - 1;
		size_t R = last ? S : N; /* rows after the attention */
		float *ln1 = ACT(ws, ws->ln1, l, C), *ln1r = ACT(ws, ws->ln1_rstd, l, 1);
		float *qkv = ACT(ws, ws->qkv, l, Q), *att = ATT(ws, ws->att, l);
		float *qkvr = c->qk_norm ? ACT(ws, ws->qkvr, l, Q) : NULL;
		float *qkr = c->qk_norm ? ACT(ws, ws->qk_rstd, l, NH + KV) : NULL;
		float *atty = ACT(ws, ws->atty, l, A), *res2 = ACT(ws, ws->res2, l, C);
		float *ln2 = ACT(ws, ws->ln2, l, C), *ln2r = ACT(ws, ws->ln2_rstd, l, 1);
		float *gu = ACT(ws, ws->fch, l, 2 * I), *hsw = ACT(ws, ws->fchg, l, I);
		float *res3 = ACT(ws, ws->res3, l, C);
		const uint8_t *mr1 = pr > 0 ? ACT(ws, ws->m_res1, l, C) : NULL;
		const uint8_t *mr2 = pr > 0 ? ACT(ws, ws->m_res2, l, C) : NULL;

		rm_ws_rmsnorm_fwd(ws, ln1, ln1r, x, LP(m, l, RM_L_LN1), N, C, eps);
		rm_ws_linear_rows_t(ws, qkvr ? qkvr : qkv, ln1, LP(m, l, RM_L_Q), LPO(m, l, RM_L_QB),
				    C, Q, 0);
		struct qk_job qj = {ws, qkv, qkvr, qkr, NULL, NULL, LPO(m, l, RM_L_QN),
				    LPO(m, l, RM_L_KN)};
		rm_ws_rows_run(ws, N, qk_fwd_task, &qj);
		const float *skip = last ? rm_ws_gather_last(ws, x) : x;
		struct rm_att_job aj = {ws, qkv, atty, att, pa > 0 ? ATT(ws, ws->m_att, l) : NULL,
					pa > 0 ? 1.0f / (1.0f - pa) : 1.0f, last, Q, 0, A,
					A + KV * hd, hd, KV, NULL, NULL};
		rm_ws_attention_forward(ws, &aj);
		rm_ws_linear_rows_t(ws, ws->tmp, atty, LP(m, l, RM_L_O), LPO(m, l, RM_L_OB), A, C,
				    last);
		rm_ws_residual_rows(ws, res2, skip, ws->tmp, mr1, rs, last);
		rm_ws_rmsnorm_fwd(ws, ln2, ln2r, res2, LP(m, l, RM_L_LN2), R, C, eps);
		rm_ws_linear_rows_t(ws, gu, ln2, LP(m, l, RM_L_GATE), NULL, C, 2 * I, last);
		rm_ws_swiglu_fwd(ws, hsw, gu, R, I);
		rm_ws_linear_rows_t(ws, ws->tmp, hsw, LP(m, l, RM_L_DOWN), NULL, I, C, last);
		rm_ws_residual_rows(ws, res3, res2, ws->tmp, mr2, rs, last);
		x = res3;
	}
	rm_rmsnorm_forward(ws->lnf, ws->lnf_rstd, x, rm_pm(m, m->i_norm), S, C, eps);
}

/* ---- backward ----------------------------------------------------------- */

static void
llama_backward(struct rm_model *m, struct rm_workspace *ws)
{
	const struct rm_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_embd, L = (size_t)c->n_layer, N = ws->N, S = ws->n_seq;
	size_t hd = (size_t)c->head_dim, NH = (size_t)c->n_head, KV = (size_t)c->n_kv_head;
	size_t I = (size_t)c->intermediate_size, Q = (NH + 2 * KV) * hd, A = NH * hd;
	float pe = ws->p_embd, pa = ws->p_attn, pr = ws->p_resid;

	float *dcur = ws->dxlast;
	memset(dcur, 0, S * C * sizeof(float));
	rm_rmsnorm_backward(dcur, rm_gr(m, m->i_norm), ws->dlnf, ACT(ws, ws->res3, L - 1, C),
			    rm_pm(m, m->i_norm), ws->lnf_rstd, S, C);

	float rs = 1.0f / (1.0f - pr);
	float *dres = ws->dres;
	for (size_t l = L; l-- > 0;) {
		int last = l == L - 1;
		size_t R = last ? S : N;
		const float *x = l == 0 ? ws->encoded : ACT(ws, ws->res3, l - 1, C);
		float *ln1 = ACT(ws, ws->ln1, l, C), *ln1r = ACT(ws, ws->ln1_rstd, l, 1);
		float *qkv = ACT(ws, ws->qkv, l, Q), *att = ATT(ws, ws->att, l);
		float *qkvr = c->qk_norm ? ACT(ws, ws->qkvr, l, Q) : NULL;
		float *qkr = c->qk_norm ? ACT(ws, ws->qk_rstd, l, NH + KV) : NULL;
		float *atty = ACT(ws, ws->atty, l, A), *res2 = ACT(ws, ws->res2, l, C);
		float *ln2 = ACT(ws, ws->ln2, l, C), *ln2r = ACT(ws, ws->ln2_rstd, l, 1);
		float *gu = ACT(ws, ws->fch, l, 2 * I), *hsw = ACT(ws, ws->fchg, l, I);
		const uint8_t *mr1 = pr > 0 ? ACT(ws, ws->m_res1, l, C) : NULL;
		const uint8_t *mr2 = pr > 0 ? ACT(ws, ws->m_res2, l, C) : NULL;

		/* MLP branch: res3 = res2 + drop(down(swiglu(gate|up(rms(res2))))) */
		const float *dbranch = rm_ws_dropout_rows(ws, ws->dbuf2, dcur, mr2, rs, last);
		rm_ws_linear_backward_t(ws, ws->dbuf1, LG(m, l, RM_L_DOWN), NULL, dbranch, hsw,
					LP(m, l, RM_L_DOWN), R, I, C);
		rm_ws_swiglu_bwd(ws, ws->dbig, gu, ws->dbuf1, R, I);
		rm_ws_linear_backward_t(ws, ws->dbuf1, LG(m, l, RM_L_GATE), NULL, ws->dbig, ln2,
					LP(m, l, RM_L_GATE), R, C, 2 * I);
		rm_ws_rmsnorm_bwd(ws, dcur, LG(m, l, RM_L_LN2), ws->dbuf1, res2, LP(m, l, RM_L_LN2),
				  ln2r, R, C);

		/* attention branch: res2 = x + drop(o_proj(attn(...))) */
		dbranch = rm_ws_dropout_rows(ws, ws->dbuf2, dcur, mr1, rs, last);
		rm_ws_linear_backward_t(ws, ws->dbuf1, LG(m, l, RM_L_O), LGO(m, l, RM_L_OB), dbranch,
					atty, LP(m, l, RM_L_O), R, A, C);
		struct rm_att_job aj = {ws, qkv, atty, att, pa > 0 ? ATT(ws, ws->m_att, l) : NULL,
					pa > 0 ? 1.0f / (1.0f - pa) : 1.0f, last, Q, 0, A,
					A + KV * hd, hd, KV, ws->dqkv, ws->dbuf1};
		rm_ws_attention_backward(ws, &aj);
		if (last) /* the skip path reaches x only at the last tokens */
			dcur = rm_ws_scatter_last(ws, dres, dcur);
		struct qk_job qj = {ws, qkv, qkvr, qkr, ws->dqkv, ws->dbig, LPO(m, l, RM_L_QN),
				    LPO(m, l, RM_L_KN)};
		rm_ws_rows_run(ws, N, qk_bwd_task, &qj);
		if (qkvr) { /* the chunks' norm weight gradients, in chunk order */
			float *gq = LG(m, l, RM_L_QN), *gk = LG(m, l, RM_L_KN);
			for (size_t t = 0; t < (N + EW_ROWS - 1) / EW_ROWS; t++) {
				const float *p = ws->partial + t * 2 * hd;
				for (size_t i = 0; i < hd; i++) {
					gq[i] += p[i];
					gk[i] += p[hd + i];
				}
			}
		}
		rm_ws_linear_backward_t(ws, ws->dbuf1, LG(m, l, RM_L_Q), LGO(m, l, RM_L_QB),
					qkvr ? ws->dbig : ws->dqkv, ln1, LP(m, l, RM_L_Q), N, C, Q);
		rm_ws_rmsnorm_bwd(ws, dres, LG(m, l, RM_L_LN1), ws->dbuf1, x, LP(m, l, RM_L_LN1),
				  ln1r, N, C);
	}
	const float *demb = dres;
	if (pe > 0) {
		rm_dropout_apply(ws->dbuf1, dres, ws->m_embd, 1.0f / (1.0f - pe), N * C);
		demb = ws->dbuf1;
	}
	float *dwte = rm_gr(m, 0);
	for (size_t i = 0; i < N; i++) {
		float *d = dwte + (size_t)ws->tok[i] * C;
		const float *g = demb + i * C;
		for (size_t k = 0; k < C; k++)
			d[k] += g[k];
	}
}

const struct rm_family_ops rm_llama_ops = {
	llama_check, llama_n_tensors, llama_build, llama_layout, llama_forward, llama_backward,
};
