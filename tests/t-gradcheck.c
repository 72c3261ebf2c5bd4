/*
 * t-gradcheck.c - finite-difference checks of every backward pass.
 *
 * Each layer: a scalar L = sum(wout * out) with fixed random wout; the
 * analytic gradient of every input and parameter element is compared with
 * the central difference (L(x + e) - L(x - e)) / 2e, e = 1e-3, computed in
 * float with the plain-loop gemm (double accumulation).  Tolerance:
 * |fd - an| <= 2e-3 + 2e-2 |an| per element; the float forward limits the
 * difference quotient to about 1e-4 absolute noise here.
 *
 * Whole model (2 layers, width 16, 2 heads, vocab 50, sequences of lengths
 * 1..9; and the llama family: llama with GQA and llama3 rotary scaling,
 * qwen2 with q/k/v biases, qwen3 with q/k norm, all four biases and head_dim !=
 * n_embd / n_head, mistral): L = sum_s a_s r_s + sum_s b_s . h_last_s, so both d_reward and
 * d_h_last are exercised, with dropout off and on (the same masks in every
 * evaluation, since they depend only on seed, step and key).  For every
 * parameter tensor: the directional derivative along a random +-1
 * direction (e = 1e-3), |fd - an| <= 1.5e-3 + 2e-2 |an|, plus three single
 * elements, |fd - an| <= 4e-3 + 2e-2 |an| (L is about 10 and its float
 * evaluation is noisy at 1e-6, i.e. 1e-3 in the quotient; smaller e is
 * noisier, larger e meets the curvature of LayerNorm).  Run with the
 * reference gemm and again with BLAS.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/kernels.h"
#include "nn/kernels_llama.h"
#include "nn/model.h"
#include "base/rng.h"

#define EPS 1e-3f
#define ATOL 2e-3
#define RTOL 2e-2
/* Whole-model elements: the float forward of 2 layers adds noise of about
 * 1e-6 to L, 1e-3 in the difference quotient. */
#define MODEL_ATOL 4e-3
/* Directional: the same noise, 1e-3, is the whole tolerance for tensors
 * whose gradient is nearly 0 (a k_proj bias: a constant shift of keys
 * cancels in the softmax but for the rotary), so a little over it. */
#define DIR_ATOL 1.5e-3

static struct rm_rng rng;

static void
randn(float *x, size_t n, float s)
{
	for (size_t i = 0; i < n; i++)
		x[i] = s * rm_rng_normal(&rng);
}

static double
dot(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* A layer under test: forward computes out from the inputs in state. */
typedef void (*fwd_fn)(void *st, float *out);

/* Check the analytic gradient g of the scalar sum(wout * fwd(x)) w.r.t.
 * every element of x[0..n). */
static void
fd_check(const char *what, fwd_fn f, void *st, float *x, size_t n,
	 const float *g, const float *wout, float *out, size_t nout)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		float save = x[i];
		x[i] = save + EPS;
		f(st, out);
		double lp = dot(out, wout, nout);
		x[i] = save - EPS;
		f(st, out);
		double lm = dot(out, wout, nout);
		x[i] = save;
		double fd = (lp - lm) / (2.0 * EPS);
		double d = fabs(fd - g[i]) / (ATOL + RTOL * fabs(g[i]));
		if (d > worst)
			worst = d;
		if (d > 1) {
			char buf[128];
			snprintf(buf, sizeof buf, "%s[%zu]", what, i);
			CHECK_CLOSE(g[i], fd, ATOL, RTOL, buf);
		}
	}
	printf("%-28s %zu elements, worst error %.3f of tolerance\n", what, n, worst);
	CHECK(worst <= 1, "%s", what);
}

/* ---- layernorm ---------------------------------------------------------- */

struct ln_st {
	float *inp, *w, *b, *mean, *rstd;
	size_t N, C;
};

static void
ln_fwd(void *p, float *out)
{
	struct ln_st *s = p;
	rm_layernorm_forward(out, s->mean, s->rstd, s->inp, s->w, s->b, s->N, s->C, 1e-5f);
}

static void
test_layernorm(size_t C)
{
	enum { N = 3, CMAX = 40 };
	float inp[N * CMAX], w[CMAX], b[CMAX], mean[N], rstd[N], out[N * CMAX], wout[N * CMAX];
	float din[N * CMAX] = {0}, dw[CMAX] = {0}, db[CMAX] = {0};
	randn(inp, N * C, 1.0f);
	randn(w, C, 1.0f);
	randn(b, C, 1.0f);
	randn(wout, N * C, 1.0f);
	struct ln_st s = {inp, w, b, mean, rstd, N, C};
	ln_fwd(&s, out);
	rm_layernorm_backward(din, dw, db, wout, inp, w, mean, rstd, N, C);
	char what[64];
	snprintf(what, sizeof what, "layernorm C=%zu dinp", C);
	fd_check(what, ln_fwd, &s, inp, N * C, din, wout, out, N * C);
	snprintf(what, sizeof what, "layernorm C=%zu dw", C);
	fd_check(what, ln_fwd, &s, w, C, dw, wout, out, N * C);
	snprintf(what, sizeof what, "layernorm C=%zu db", C);
	fd_check(what, ln_fwd, &s, b, C, db, wout, out, N * C);
}

/* ---- matmul -------------------------------------------------------------- */

struct mm_st {
	float *inp, *w, *b;
	size_t N, C, OC;
};

static void
mm_fwd(void *p, float *out)
{
	struct mm_st *s = p;
	rm_matmul_forward(out, s->inp, s->w, s->b, s->N, s->C, s->OC);
}

static void
test_matmul(void)
{
	enum { N = 4, C = 5, OC = 6 };
	float inp[N * C], w[C * OC], b[OC], out[N * OC], wout[N * OC];
	float din[N * C], dw[C * OC] = {0}, db[OC] = {0};
	randn(inp, N * C, 1);
	randn(w, C * OC, 1);
	randn(b, OC, 1);
	randn(wout, N * OC, 1);
	for (int i = 0; i < N * C; i++)
		din[i] = 0.5f; /* accumulate = 1 must add to this */
	struct mm_st s = {inp, w, b, N, C, OC};
	mm_fwd(&s, out);
	rm_matmul_backward(din, dw, db, wout, inp, w, N, C, OC, 1);
	for (int i = 0; i < N * C; i++)
		din[i] -= 0.5f;
	fd_check("matmul dinp", mm_fwd, &s, inp, N * C, din, wout, out, N * OC);
	fd_check("matmul dw", mm_fwd, &s, w, C * OC, dw, wout, out, N * OC);
	fd_check("matmul dbias", mm_fwd, &s, b, OC, db, wout, out, N * OC);
	/* accumulate = 0 overwrites */
	float din2[N * C];
	for (int i = 0; i < N * C; i++)
		din2[i] = NAN;
	rm_matmul_backward(din2, NULL, NULL, wout, inp, w, N, C, OC, 0);
	int same = 1;
	for (int i = 0; i < N * C; i++)
		same &= fabsf(din2[i] - din[i]) < 1e-5f;
	CHECK(same, "matmul_backward with accumulate 0 overwrites");
}


/* ---- llama-family kernels ----------------------------------------------- */

struct rms_st {
	float *inp, *w, *rstd;
	size_t N, C;
};

static void
rms_fwd(void *p, float *out)
{
	struct rms_st *s = p;
	rm_rmsnorm_forward(out, s->rstd, s->inp, s->w, s->N, s->C, 1e-5f);
}

static void
test_rmsnorm(size_t C)
{
	enum { N = 3, CMAX = 40 };
	float inp[N * CMAX], w[CMAX], rstd[N], out[N * CMAX], wout[N * CMAX];
	float din[N * CMAX], dw[CMAX];
	randn(inp, N * C, 1.0f);
	randn(w, C, 1.0f);
	randn(wout, N * C, 1.0f);
	for (size_t i = 0; i < N * C; i++)
		din[i] = 0.25f; /* backward accumulates */
	for (size_t i = 0; i < C; i++)
		dw[i] = -0.5f;
	struct rms_st s = {inp, w, rstd, N, C};
	rms_fwd(&s, out);
	rm_rmsnorm_backward(din, dw, wout, inp, w, rstd, N, C);
	for (size_t i = 0; i < N * C; i++)
		din[i] -= 0.25f;
	for (size_t i = 0; i < C; i++)
		dw[i] += 0.5f;
	char what[64];
	snprintf(what, sizeof what, "rmsnorm C=%zu dinp", C);
	fd_check(what, rms_fwd, &s, inp, N * C, din, wout, out, N * C);
	snprintf(what, sizeof what, "rmsnorm C=%zu dw", C);
	fd_check(what, rms_fwd, &s, w, C, dw, wout, out, N * C);
}

struct rope_st {
	float *inp, *c, *s;
	size_t nh, hd;
};

static void
rope_fwd(void *p, float *out)
{
	struct rope_st *s = p;
	memcpy(out, s->inp, s->nh * s->hd * sizeof(float));
	rm_rope_forward(out, s->nh, s->hd, s->c, s->s);
}

/* Rotary: the gradient at a few positions, plain and llama3-scaled
 * tables; position 0 is the identity. */
static void
test_rope(double factor)
{
	enum { NH = 3, HD = 8, T = 40 };
	float ct[T * HD / 2], st_[T * HD / 2], inp[NH * HD], out[NH * HD], wout[NH * HD];
	float din[NH * HD];
	rm_rope_tables(ct, st_, T, HD, 500.0, factor, 1.0, 4.0, 64);
	for (int i = 0; i < HD / 2; i++)
		CHECK(ct[i] == 1.0f && st_[i] == 0.0f, "rope at position 0 is the identity");
	size_t poss[] = {1, 7, 39};
	for (int k = 0; k < 3; k++) {
		randn(inp, NH * HD, 1);
		randn(wout, NH * HD, 1);
		struct rope_st s = {inp, ct + poss[k] * HD / 2, st_ + poss[k] * HD / 2, NH, HD};
		rope_fwd(&s, out);
		memcpy(din, wout, sizeof din);
		rm_rope_backward(din, NH, HD, s.c, s.s);
		char what[64];
		snprintf(what, sizeof what, "rope pos %zu factor %g", poss[k], factor);
		fd_check(what, rope_fwd, &s, inp, NH * HD, din, wout, out, NH * HD);
		/* a rotation keeps each pair's norm */
		rope_fwd(&s, out);
		double n0 = dot(inp, inp, NH * HD), n1 = dot(out, out, NH * HD);
		CHECK_CLOSE(n1, n0, 1e-5, 1e-5, "rope keeps the norm");
	}
	if (factor > 0) { /* llama3: the lowest frequencies divided by the factor */
		float c0[T * HD / 2], s0[T * HD / 2];
		rm_rope_tables(c0, s0, T, HD, 500.0, 0, 0, 0, 0);
		/* i = 0: wavelength 2 pi < 64 / 4, unchanged; i = 3: 500^(6/8) 2 pi
		 * = 665 > 64 / 1, divided by factor */
		CHECK(ct[HD / 2 + 0] == c0[HD / 2 + 0], "llama3 keeps high frequencies");
		double a = acos((double)c0[HD / 2 + 3]) / factor;
		CHECK_CLOSE(ct[HD / 2 + 3], cos(a), 1e-6, 0, "llama3 divides low frequencies");
	}
}

struct swiglu_st {
	float *gu;
	size_t N, I;
};

static void
swiglu_fwd(void *p, float *out)
{
	struct swiglu_st *s = p;
	rm_swiglu_forward(out, s->gu, s->N, s->I);
}

static void
test_swiglu(void)
{
	enum { N = 3, I = 7 };
	float gu[N * 2 * I], out[N * I], wout[N * I], dgu[N * 2 * I];
	randn(gu, N * 2 * I, 2.0f);
	randn(wout, N * I, 1);
	struct swiglu_st s = {gu, N, I};
	swiglu_fwd(&s, out);
	rm_swiglu_backward(dgu, gu, wout, N, I);
	fd_check("swiglu dgate|dup", swiglu_fwd, &s, gu, N * 2 * I, dgu, wout, out, N * I);
	/* silu(1) * 1 = 1 / (1 + e^-1) */
	float one[2] = {1.0f, 1.0f}, y;
	rm_swiglu_forward(&y, one, 1, 1);
	CHECK_CLOSE(y, 0.7310585786, 1e-6, 0, "silu(1)");
}

struct lin_st {
	float *inp, *w, *b;
	size_t N, C, OC;
};

static void
lin_fwd(void *p, float *out)
{
	struct lin_st *s = p;
	rm_linear_forward(out, s->inp, s->w, s->b, s->N, s->C, s->OC);
}

static void
test_linear(void)
{
	enum { N = 4, C = 5, OC = 6 };
	float inp[N * C], w[OC * C], b[OC], out[N * OC], wout[N * OC];
	float din[N * C], dw[OC * C] = {0}, db[OC] = {0};
	randn(inp, N * C, 1);
	randn(w, OC * C, 1);
	randn(b, OC, 1);
	randn(wout, N * OC, 1);
	struct lin_st s = {inp, w, b, N, C, OC};
	lin_fwd(&s, out);
	rm_linear_backward(din, dw, db, wout, inp, w, N, C, OC, 0);
	fd_check("linear [out,in] dinp", lin_fwd, &s, inp, N * C, din, wout, out, N * OC);
	fd_check("linear [out,in] dw", lin_fwd, &s, w, OC * C, dw, wout, out, N * OC);
	fd_check("linear [out,in] dbias", lin_fwd, &s, b, OC, db, wout, out, N * OC);
}

/* ---- gelu ---------------------------------------------------------------- */

struct gelu_st {
	float *inp;
	size_t n;
};

static void
gelu_fwd(void *p, float *out)
{
	struct gelu_st *s = p;
	rm_gelu_forward(out, s->inp, s->n);
}

static void
test_gelu(void)
{
	enum { n = 40 };
	float inp[n], out[n], wout[n], din[n];
	for (int i = 0; i < n; i++)
		inp[i] = -6.0f + 12.0f * (float)i / (n - 1) + 0.01f;
	randn(wout, n, 1);
	struct gelu_st s = {inp, n};
	gelu_fwd(&s, out);
	/* gelu_new(1) = 0.8411920 (Hugging Face NewGELUActivation) */
	float one = 1.0f, g1;
	rm_gelu_forward(&g1, &one, 1);
	CHECK_CLOSE(g1, 0.841192, 1e-6, 0, "gelu_new(1)");
	rm_gelu_backward(din, inp, wout, n);
	fd_check("gelu dinp", gelu_fwd, &s, inp, n, din, wout, out, n);
}

/* ---- attention ------------------------------------------------------------ */

struct att_st {
	float *qkv, *att, *scratch;
	const uint8_t *mask;
	float scale;
	size_t T, C, NH, q0;
};

static void
att_fwd(void *p, float *out)
{
	struct att_st *s = p;
	size_t hd = s->C / s->NH;
	for (size_t h = 0; h < s->NH; h++) {
		const float *q = s->qkv + h * hd;
		rm_attention_forward(out + h * hd, s->C, s->att + h * s->T * s->T, q,
				     q + s->C, q + 2 * s->C, 3 * s->C, s->T, s->q0, hd,
				     s->mask ? s->mask + h * s->T * s->T : NULL,
				     s->scale, s->scratch);
	}
}

static void
test_attention(int with_mask, size_t T, size_t C, size_t NH, size_t q0)
{
	size_t hd = C / NH;
	float *qkv = malloc(T * 3 * C * sizeof(float)), *att = malloc(NH * T * T * sizeof(float));
	float *scratch = malloc(2 * T * T * sizeof(float)), *out = malloc(T * C * sizeof(float));
	float *wout = malloc(T * C * sizeof(float)), *dqkv = malloc(T * 3 * C * sizeof(float));
	float *out2 = malloc(T * C * sizeof(float));
	uint8_t *mask = malloc(NH * T * T);
	randn(qkv, T * 3 * C, 1);
	randn(wout, T * C, 1);
	for (size_t i = 0; i < NH * T * T; i++)
		mask[i] = rm_rng_uniform(&rng) >= 0.3f;
	struct att_st s = {qkv, att, scratch, with_mask ? mask : NULL,
			   with_mask ? 1.0f / 0.7f : 1.0f, T, C, NH, q0};
	size_t nout = (T - q0) * C;
	att_fwd(&s, out);
	for (size_t h = 0; h < NH; h++) {
		const float *q = qkv + h * hd;
		float *dq = dqkv + h * hd;
		rm_attention_backward(dq, dq + C, dq + 2 * C, 3 * C, wout + h * hd, C,
				      att + h * T * T, q, q + C, q + 2 * C, T, q0, hd,
				      s.mask ? mask + h * T * T : NULL, s.scale, scratch);
	}
	char what[64];
	snprintf(what, sizeof what, "attention%s T=%zu q0=%zu dqkv", with_mask ? "+dropout" : "",
		 T, q0);
	fd_check(what, att_fwd, &s, qkv, T * 3 * C, dqkv, wout, out, nout);
	/* causality: output row t must not depend on later tokens */
	qkv[(T - 1) * 3 * C + C] += 1.0f;       /* key of the last token */
	qkv[(T - 1) * 3 * C + 2 * C + 1] += 1.0f; /* value of the last token */
	att_fwd(&s, out2);
	CHECK(!memcmp(out, out2, (T - 1 - q0) * C * sizeof(float)), "attention is causal");
	free(qkv), free(att), free(scratch), free(out), free(wout), free(dqkv), free(out2), free(mask);
}

/* ---- encoder ---------------------------------------------------------- */

struct enc_st {
	const int32_t *tok, *pos;
	float *wte, *wpe;
	size_t N, C;
};

static void
enc_fwd(void *p, float *out)
{
	struct enc_st *s = p;
	rm_encoder_forward(out, s->tok, s->pos, s->wte, s->wpe, s->N, s->C);
}

static void
test_encoder(void)
{
	enum { V = 4, P = 3, C = 3, N = 5 };
	int32_t tok[N] = {1, 3, 1, 0, 1}, pos[N] = {0, 1, 2, 0, 1};
	float wte[V * C], wpe[P * C], out[N * C], wout[N * C];
	float dwte[V * C] = {0}, dwpe[P * C] = {0};
	randn(wte, V * C, 1);
	randn(wpe, P * C, 1);
	randn(wout, N * C, 1);
	struct enc_st s = {tok, pos, wte, wpe, N, C};
	enc_fwd(&s, out);
	rm_encoder_backward(dwte, dwpe, wout, tok, pos, N, C);
	fd_check("encoder dwte", enc_fwd, &s, wte, V * C, dwte, wout, out, N * C);
	fd_check("encoder dwpe", enc_fwd, &s, wpe, P * C, dwpe, wout, out, N * C);
}

/* ---- residual and dropout ------------------------------------------------ */

struct res_st {
	float *a, *b;
	const uint8_t *mask;
	size_t n;
};

static void
res_fwd(void *p, float *out)
{
	struct res_st *s = p;
	rm_residual_forward(out, s->a, s->b, s->mask, 2.0f, s->n);
}

static void
test_residual(void)
{
	enum { n = 12 };
	float a[n], b[n], out[n], wout[n], db[n];
	uint8_t mask[n];
	randn(a, n, 1);
	randn(b, n, 1);
	randn(wout, n, 1);
	for (int i = 0; i < n; i++)
		mask[i] = i % 3 != 0;
	struct res_st s = {a, b, mask, n};
	res_fwd(&s, out);
	/* the model's backward for the branch is rm_dropout_apply */
	rm_dropout_apply(db, wout, mask, 2.0f, n);
	fd_check("residual+dropout dbranch", res_fwd, &s, b, n, db, wout, out, n);
	fd_check("residual dskip", res_fwd, &s, a, n, wout, wout, out, n);
}

/* ---- whole model ----------------------------------------------------------- */

struct model_st {
	struct rm_model *m;
	struct rm_workspace *ws;
	struct rm_batch b;
	struct rm_dropout drop;
	int use_drop;
	float *rewards, *h;
	const float *a, *bh;  /* loss weights */
	size_t nh;
};

static double
model_loss(struct model_st *s)
{
	struct rm_error err;
	int rc = rm_model_forward(s->m, s->ws, &s->b, s->use_drop ? &s->drop : NULL,
				  s->rewards, s->h, &err);
	CHECK(rc == 0, "forward: %s", err.msg);
	return dot(s->rewards, s->a, s->b.n_seq) + dot(s->h, s->bh, s->nh);
}

static void
test_model(const char *what, const struct rm_model_config *cfgp, int use_drop, int reference)
{
	struct rm_model_config cfg = *cfgp;
	struct rm_model *m;
	struct rm_workspace *ws;
	struct rm_error err;
	CHECK(rm_model_create(&m, &cfg, &err) == 0, "%s", err.msg);
	CHECK(rm_model_enable_grads(m, &err) == 0, "%s", err.msg);
	rm_model_init(m, 7);
	/* Larger, less regular weights than GPT-2's init so that every
	 * nonlinearity (softmax, GELU, LayerNorm) is exercised. */
	for (size_t i = 0; i < m->n_params; i++)
		m->params_mem[i] += 0.15f * rm_rng_normal(&rng);
	struct rm_workspace_options o = {.max_tokens = 64, .max_seq_len = 12,
					 .train = 1, .dropout = 1, .threads = 2};
	CHECK(rm_workspace_create(&ws, m, &o, &err) == 0, "%s", err.msg);

	enum { S = 9 };
	size_t off[S + 1] = {0};
	int32_t tok[64];
	for (int s = 0; s < S; s++)
		off[s + 1] = off[s] + (size_t)(s + 1); /* lengths 1..9 */
	for (size_t i = 0; i < off[S]; i++)
		tok[i] = (int32_t)rm_rng_below(&rng, 50);
	float rewards[S], h[S * 16], a[S], bh[S * 16];
	randn(a, S, 1);
	randn(bh, S * 16, 1);
	struct model_st st = {m, ws, {S, tok, off},
			      {.seed = 11, .step = 3, .keys = NULL, .embd = 0.1f,
			       .attn = 0.2f, .resid = 0.15f},
			      use_drop, rewards, h, a, bh, S * 16};
	rm_gemm_set_reference(reference);
	model_loss(&st);
	rm_model_zero_grad(m);
	CHECK(rm_model_backward(m, ws, a, bh, &err) == 0, "%s", err.msg);
	float *g = malloc(m->n_params * sizeof(float));
	memcpy(g, m->grads_mem, m->n_params * sizeof(float));
	/* backward accumulates: a second call doubles the gradient */
	CHECK(rm_model_backward(m, ws, a, bh, &err) == 0, "%s", err.msg);
	int doubled = 1;
	for (size_t i = 0; i < m->n_params; i++)
		doubled &= fabsf(m->grads_mem[i] - 2 * g[i]) <= 1e-5f * fabsf(g[i]) + 1e-6f;
	CHECK(doubled, "backward accumulates into grads");

	double worst = 0, worst_el = 0;
	float *dir = malloc(m->n_params * sizeof(float));
	for (size_t t = 0; t < m->n_tensors; t++) {
		const struct rm_param *p = &m->params[t];
		float *w = m->params_mem + p->offset;
		/* directional derivative along a random +-1 direction */
		double an = 0;
		for (size_t i = 0; i < p->numel; i++) {
			dir[i] = rm_rng_uniform(&rng) < 0.5f ? -1.0f : 1.0f;
			an += (double)dir[i] * g[p->offset + i];
		}
		float e = EPS;
		for (size_t i = 0; i < p->numel; i++)
			w[i] += e * dir[i];
		double lp = model_loss(&st);
		for (size_t i = 0; i < p->numel; i++)
			w[i] -= 2 * e * dir[i];
		double lm = model_loss(&st);
		for (size_t i = 0; i < p->numel; i++)
			w[i] += e * dir[i];
		double fd = (lp - lm) / (2.0 * e);
		double d = fabs(fd - an) / (DIR_ATOL + RTOL * fabs(an));
		worst = d > worst ? d : worst;
		CHECK(d <= 1, "%s: directional %.9g vs fd %.9g (drop %d ref %d)",
		      p->name, an, fd, use_drop, reference);
		/* three single elements */
		for (int k = 0; k < 3; k++) {
			size_t i = (size_t)rm_rng_below(&rng, p->numel);
			float save = w[i];
			w[i] = save + EPS;
			lp = model_loss(&st);
			w[i] = save - EPS;
			lm = model_loss(&st);
			w[i] = save;
			fd = (lp - lm) / (2.0 * EPS);
			double ge = g[p->offset + i];
			d = fabs(fd - ge) / (MODEL_ATOL + RTOL * fabs(ge));
			worst_el = d > worst_el ? d : worst_el;
			CHECK(d <= 1, "%s[%zu]: %.9g vs fd %.9g (drop %d ref %d)", p->name,
			      i, ge, fd, use_drop, reference);
		}
	}
	printf("%s dropout=%d gemm=%s: %zu tensors, worst error %.3f (directional) "
	       "%.3f (elements) of tolerance\n", what, use_drop, reference ? "ref" : "blas",
	       m->n_tensors, worst, worst_el);
	rm_gemm_set_reference(0);
	free(dir);
	free(g);
	rm_workspace_free(ws);
	rm_model_free(m);
}

int
main(void)
{
	rm_rng_seed(&rng, 1234);
	rm_gemm_set_reference(1);
	test_layernorm(8);  /* scalar tail only */
	test_layernorm(37); /* 16-lane vectors and a tail */
	test_matmul();
	test_gelu();
	test_attention(0, 5, 6, 2, 0);
	test_attention(1, 5, 6, 2, 0);
	/* longer than one 64-row block of the blocked causal attention */
	test_attention(0, 150, 4, 2, 0);
	test_attention(1, 131, 4, 1, 0);
	/* only some queries: the last one (the model's last layer), a tail */
	test_attention(0, 7, 6, 2, 6);
	test_attention(1, 100, 4, 2, 99);
	test_attention(1, 140, 4, 1, 50);
	test_encoder();
	test_residual();
	test_rmsnorm(8);
	test_rmsnorm(37);
	test_rope(0);
	test_rope(8);
	test_swiglu();
	test_linear();
	rm_gemm_set_reference(0);
	struct rm_model_config gpt2 = {.n_layer = 2, .n_head = 2, .n_embd = 16,
				       .n_positions = 12, .vocab_size = 50,
				       .layer_norm_epsilon = 1e-5f};
	/* the llama family: GQA (4 query heads over 2 kv heads) with llama3
	 * rotary scaling; qwen2's biases; qwen3's q/k norm with head_dim 6
	 * != 16 / 4 and an o bias; mistral plain multi-head */
	struct rm_model_config llama = {.family = RM_FAMILY_LLAMA, .model_type = RM_LLAMA,
					.n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 16,
					.head_dim = 4, .intermediate_size = 24,
					.n_positions = 12, .vocab_size = 50,
					.layer_norm_epsilon = 1e-5f, .rope_theta = 100,
					.rope_factor = 4, .rope_low_freq_factor = 1,
					.rope_high_freq_factor = 4,
					.rope_original_max_positions = 8};
	struct rm_model_config qwen2 = llama, qwen3 = llama, mistral = llama;
	qwen2.model_type = RM_QWEN2, qwen2.qkv_bias = 1, qwen2.rope_factor = 0;
	qwen3.model_type = RM_QWEN3, qwen3.qk_norm = 1, qwen3.head_dim = 6, qwen3.o_bias = 1;
	qwen3.qkv_bias = 1; /* attention_bias: true */
	qwen3.n_kv_head = 1, qwen3.rope_factor = 0;
	mistral.model_type = RM_MISTRAL, mistral.n_kv_head = 4, mistral.rope_factor = 0;
	for (int ref = 1; ref >= 0; ref--)
		for (int drop = 0; drop < 2; drop++) {
			test_model("gpt2", &gpt2, drop, ref);
			test_model("llama", &llama, drop, ref);
			test_model("qwen2", &qwen2, drop, ref);
			test_model("qwen3", &qwen3, drop, ref);
			test_model("mistral", &mistral, drop, ref);
		}
	return check_done();
}
