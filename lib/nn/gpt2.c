/*
 * gpt2.c - the GPT-2 family: parameter table, activations, forward and
 * backward (model_impl.h: how a family plugs in).
 *
 * Activations (N = tokens in the batch, C = width, per layer when training):
 *   encoded [N,C]  ln1 [N,C] (+mean, rstd [N])  qkv [N,3C]  atty [N,C]
 *   att [NH * sum T_i^2]  res2 [N,C]  ln2 [N,C] (+mean, rstd)  fch [N,4C]
 *   fchg [N,4C]  res3 [N,C]; at the end xlast, lnf [n_seq,C].
 * In the last layer only each sequence's last token reaches the reward, so
 * after its attention (which reads every key and value) the layer runs on
 * one row per sequence, in the first n_seq rows of the same buffers.
 * An evaluation workspace keeps one layer's worth and reuses it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/model.h"
#include "nn/model_impl.h"

static int
gpt2_check(const struct rm_model_config *c, struct rm_error *err)
{
	if (c->n_embd % c->n_head)
		return rm_error_set(err, RM_EUSAGE, "n_embd %d is not a multiple of n_head %d",
				    c->n_embd, c->n_head);
	return 0;
}

static size_t
gpt2_n_tensors(const struct rm_model_config *c)
{
	return 2 + (size_t)c->n_layer * RM_P_PER_LAYER + 3;
}

static const char *const layer_names[RM_P_PER_LAYER] = {
	"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
	"attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
	"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
};

static void
gpt2_build(struct rm_model *m)
{
	const struct rm_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_embd;
	float proj_std = (float)(0.02 / sqrt(2.0 * c->n_layer));
	m->n_slots = RM_P_PER_LAYER;
	rm_model_add_param(m, "transformer.wte.weight", 2, (size_t)c->vocab_size, C,
			   RM_INIT_NORMAL, 0.02f, 0);
	rm_model_add_param(m, "transformer.wpe.weight", 2, (size_t)c->n_positions, C,
			   RM_INIT_NORMAL, 0.02f, 0);
	for (int l = 0; l < c->n_layer; l++) {
		static const int nd[RM_P_PER_LAYER] = {1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 2, 1};
		size_t d0[RM_P_PER_LAYER] = {C, C, C, 3 * C, C, C, C, C, C, 4 * C, 4 * C, C};
		size_t d1[RM_P_PER_LAYER] = {0, 0, 3 * C, 0, C, 0, 0, 0, 4 * C, 0, C, 0};
		for (int k = 0; k < RM_P_PER_LAYER; k++) {
			char name[RM_PARAM_MAX_NAME + 1];
			snprintf(name, sizeof name, "transformer.h.%d.%s", l, layer_names[k]);
			int ln = k == RM_P_LN1_W || k == RM_P_LN2_W;
			int init = ln ? RM_INIT_ONES : nd[k] == 1 ? RM_INIT_ZEROS : RM_INIT_NORMAL;
			float std = k == RM_P_ATTPROJ_W || k == RM_P_FCPROJ_W ? proj_std : 0.02f;
			m->slots[(size_t)l * RM_P_PER_LAYER + (size_t)k] = m->n_tensors;
			rm_model_add_param(m, name, nd[k], d0[k], d1[k], init, std, 0);
		}
	}
	m->i_norm = m->n_tensors;
	rm_model_add_param(m, "transformer.ln_f.weight", 1, C, 0, RM_INIT_ONES, 0, 0);
	rm_model_add_param(m, "transformer.ln_f.bias", 1, C, 0, RM_INIT_ZEROS, 0, 0);
	rm_model_add_param(m, "score.weight", 2, 1, C, RM_INIT_NORMAL, 0.02f, 0);
}

static size_t
gpt2_layout(struct rm_workspace *ws, char *base, int *overflow)
{
	size_t used = 0;
	size_t C = (size_t)ws->cfg.n_embd;
	size_t Ltot = ws->train ? (size_t)ws->cfg.n_layer : 1;
	size_t N = ws->max_tokens;
	size_t nl = N * Ltot;
	rm_ws_layout_common(ws, base, &used, overflow);
#define F(ptr, n) ws->ptr = rm_ws_carve(base, &used, (n), sizeof(float), overflow)
	F(ln1, nl * C);
	F(ln1_mean, nl);
	F(ln1_rstd, nl);
	F(qkv, nl * 3 * C);
	F(atty, nl * C);
	F(res2, nl * C);
	F(ln2, nl * C);
	F(ln2_mean, nl);
	F(ln2_rstd, nl);
	F(fch, nl * 4 * C);
	F(fchg, nl * 4 * C);
	F(res3, nl * C);
	F(partial, (N / EW_ROWS + 1) * 2 * C);
	if (ws->train) {
		F(dbuf1, N * C);
		F(dbig, N * 4 * C);
	}
#undef F
	return used;
}

/* Fills ws->lnf: the final LayerNorm at each sequence's last token. */
static void
gpt2_forward(struct rm_model *m, struct rm_workspace *ws)
{
	const struct rm_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_embd, L = (size_t)c->n_layer, N = ws->N;
	size_t NH = (size_t)c->n_head;
	float pe = ws->p_embd, pa = ws->p_attn, pr = ws->p_resid;
	rm_encoder_forward(ws->encoded, ws->tok, ws->pos, rm_pm(m, RM_P_WTE),
			   rm_pm(m, RM_P_WPE), N, C);
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

		rm_ws_layernorm_fwd(ws, ln1, ln1m, ln1r, x, LP(m, l, RM_P_LN1_W),
			      LP(m, l, RM_P_LN1_B), N, C, c->layer_norm_epsilon);
		rm_ws_linear_rows(ws, qkv, ln1, LP(m, l, RM_P_QKV_W), LP(m, l, RM_P_QKV_B), C, 3 * C, 0);
		const float *skip = last ? rm_ws_gather_last(ws, x) : x;
		struct rm_att_job aj = {ws, qkv, atty, att, pa > 0 ? ATT(ws, ws->m_att, l) : NULL,
					pa > 0 ? 1.0f / (1.0f - pa) : 1.0f, last, 3 * C, 0, C, 2 * C,
					C / NH, NH, NULL, NULL};
		rm_ws_attention_forward(ws, &aj);
		rm_ws_linear_rows(ws, ws->tmp, atty, LP(m, l, RM_P_ATTPROJ_W), LP(m, l, RM_P_ATTPROJ_B),
			    C, C, last);
		rm_ws_residual_rows(ws, res2, skip, ws->tmp, mr1, rs, last);
		rm_ws_layernorm_fwd(ws, ln2, ln2m, ln2r, res2, LP(m, l, RM_P_LN2_W),
			      LP(m, l, RM_P_LN2_B), R, C, c->layer_norm_epsilon);
		rm_ws_linear_rows(ws, fch, ln2, LP(m, l, RM_P_FC_W), LP(m, l, RM_P_FC_B), C, 4 * C, last);
		rm_ws_gelu_fwd(ws, fchg, fch, R, 4 * C);
		rm_ws_linear_rows(ws, ws->tmp, fchg, LP(m, l, RM_P_FCPROJ_W), LP(m, l, RM_P_FCPROJ_B),
			    4 * C, C, last);
		rm_ws_residual_rows(ws, res3, res2, ws->tmp, mr2, rs, last);
		x = res3;
	}

	size_t lnf = rm_model_lnf_w_index(m);
	rm_layernorm_forward(ws->lnf, ws->lnf_mean, ws->lnf_rstd, x, rm_pm(m, lnf),
			     rm_pm(m, lnf + 1), S, C, c->layer_norm_epsilon);
}

/* From ws->dlnf (dL/d of the final LayerNorm's output rows). */
static void
gpt2_backward(struct rm_model *m, struct rm_workspace *ws)
{
	const struct rm_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_embd, L = (size_t)c->n_layer, NH = (size_t)c->n_head;
	size_t N = ws->N, S = ws->n_seq;
	float pe = ws->p_embd, pa = ws->p_attn, pr = ws->p_resid;
	size_t lnf = rm_model_lnf_w_index(m);
	/* d of the last layer's output rows (one per sequence) */
	float *dcur = ws->dxlast;
	memset(dcur, 0, S * C * sizeof(float));
	rm_layernorm_backward(dcur, rm_gr(m, lnf), rm_gr(m, lnf + 1), ws->dlnf,
			      ACT(ws, ws->res3, L - 1, C), rm_pm(m, lnf), ws->lnf_mean,
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
		const float *dbranch = rm_ws_dropout_rows(ws, ws->dbuf2, dcur, mr2, rs, last);
		rm_ws_linear_backward(ws, ws->dbig, LG(m, l, RM_P_FCPROJ_W), LG(m, l, RM_P_FCPROJ_B),
				   dbranch, fchg, LP(m, l, RM_P_FCPROJ_W), R, 4 * C, C);
		rm_ws_gelu_bwd(ws, ws->dbig, fch, ws->dbig, R, 4 * C);
		rm_ws_linear_backward(ws, ws->dbuf1, LG(m, l, RM_P_FC_W), LG(m, l, RM_P_FC_B),
				   ws->dbig, ln2, LP(m, l, RM_P_FC_W), R, C, 4 * C);
		rm_ws_layernorm_bwd(ws, dcur, LG(m, l, RM_P_LN2_W), LG(m, l, RM_P_LN2_B),
			      ws->dbuf1, res2, LP(m, l, RM_P_LN2_W), ln2m, ln2r, R, C);

		/* attention branch: res2 = x + drop(attn(ln1(x)) Wo + bo) */
		dbranch = rm_ws_dropout_rows(ws, ws->dbuf2, dcur, mr1, rs, last);
		rm_ws_linear_backward(ws, ws->dbuf1, LG(m, l, RM_P_ATTPROJ_W), LG(m, l, RM_P_ATTPROJ_B),
				   dbranch, atty, LP(m, l, RM_P_ATTPROJ_W), R, C, C);
		struct rm_att_job aj = {ws, qkv, atty, att, pa > 0 ? ATT(ws, ws->m_att, l) : NULL,
					pa > 0 ? 1.0f / (1.0f - pa) : 1.0f, last, 3 * C, 0, C, 2 * C,
					C / NH, NH, ws->dbig, ws->dbuf1};
		rm_ws_attention_backward(ws, &aj);
		if (last) /* the skip path reaches x only at the last tokens */
			dcur = rm_ws_scatter_last(ws, dres, dcur);
		rm_ws_linear_backward(ws, ws->dbuf1, LG(m, l, RM_P_QKV_W), LG(m, l, RM_P_QKV_B),
				   ws->dbig, ln1, LP(m, l, RM_P_QKV_W), N, C, 3 * C);
		rm_ws_layernorm_bwd(ws, dres, LG(m, l, RM_P_LN1_W), LG(m, l, RM_P_LN1_B),
			      ws->dbuf1, x, LP(m, l, RM_P_LN1_W), ln1m, ln1r, N, C);
	}
	const float *demb = dres;
	if (pe > 0) {
		rm_dropout_apply(ws->dbuf1, dres, ws->m_embd, 1.0f / (1.0f - pe), N * C);
		demb = ws->dbuf1;
	}
	rm_encoder_backward(rm_gr(m, RM_P_WTE), rm_gr(m, RM_P_WPE), demb, ws->tok, ws->pos, N, C);
}

const struct rm_family_ops rm_gpt2_ops = {
	gpt2_check, gpt2_n_tensors, gpt2_build, gpt2_layout, gpt2_forward, gpt2_backward,
};
