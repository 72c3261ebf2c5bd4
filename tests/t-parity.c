/*
 * t-parity.c - the C model against the PyTorch reference of
 * tests/gen_parity.py (tests/data/parity.safetensors).
 *
 * Checks rewards, h_last, the pairwise loss (targets 1, 0, 0.8 and margins)
 * and the gradient of every parameter, for the loss plus a term
 * lambda * sum(u * h_last) that drives the d_h_last input like a contrastive
 * loss would.  The reference is float64; the C model float32 (with BLAS and
 * with the plain-loop gemm).  Tolerance |c - ref| <= atol + 1e-4 |ref| with
 * atol = 1e-5 for rewards, h_last and the loss, and 1e-5 * max|grad| of the
 * tensor for gradients: float32 rounding through two layers gives relative
 * errors near 1e-6, so 1e-4 leaves two orders of margin while any real
 * mistake (a transposed weight, a missing term) is off by far more.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/kernels.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "stream/safetensors.h"

#define RTOL 1e-4
#define ATOL 1e-5

static struct rm_st *st;

static float *
get(const char *name, size_t n)
{
	const struct rm_tensor *t = rm_st_find(st, name);
	struct rm_error err;
	float *v = malloc((n ? n : 1) * sizeof(float));
	if (!t || rm_tensor_numel(t) != n || rm_st_to_f32(t, v, n, &err) < 0) {
		fprintf(stderr, "fixture: tensor '%s' missing or of the wrong size\n", name);
		exit(1);
	}
	return v;
}

static int
meta_int(const char *key)
{
	const char *v = rm_st_metadata(st, key);
	return v ? atoi(v) : -1;
}

static void
run(int reference)
{
	struct rm_error err;
	struct rm_model_config cfg = {0};
	cfg.n_layer = meta_int("n_layer");
	cfg.n_head = meta_int("n_head");
	cfg.n_embd = meta_int("n_embd");
	cfg.n_positions = meta_int("n_positions");
	cfg.vocab_size = meta_int("vocab_size");
	cfg.layer_norm_epsilon = (float)atof(rm_st_metadata(st, "layer_norm_epsilon"));
	double lambda = atof(rm_st_metadata(st, "lambda"));
	struct rm_model *m;
	if (rm_model_create(&m, &cfg, &err) < 0 || rm_model_enable_grads(m, &err) < 0) {
		CHECK(0, "%s", err.msg);
		return;
	}
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct rm_param *p = &m->params[i];
		float *v = get(p->name, p->numel);
		memcpy(m->params_mem + p->offset, v, p->numel * sizeof(float));
		free(v);
	}
	const struct rm_tensor *tt = rm_st_find(st, "tokens"), *ot = rm_st_find(st, "offsets");
	const struct rm_tensor *pt = rm_st_find(st, "pairs");
	size_t ntok = rm_tensor_numel(tt), nseq = rm_tensor_numel(ot) - 1;
	size_t npair = pt->dims[0], C = (size_t)cfg.n_embd;
	int32_t *tok = malloc(ntok * sizeof *tok);
	size_t *off = malloc((nseq + 1) * sizeof *off);
	memcpy(tok, tt->data, ntok * sizeof *tok);
	for (size_t i = 0; i <= nseq; i++) {
		int64_t o;
		memcpy(&o, (const char *)ot->data + 8 * i, 8);
		off[i] = (size_t)o;
	}
	float *target = get("target", npair), *margin = get("margin", npair);
	float *u = get("u", nseq * C), *er = get("expect.rewards", nseq);
	float *eh = get("expect.h_last", nseq * C), *el = get("expect.pair_loss", 1);

	struct rm_workspace *ws;
	struct rm_workspace_options o = {.max_tokens = ntok, .train = 1, .threads = 2};
	CHECK(rm_workspace_create(&ws, m, &o, &err) == 0, "%s", err.msg);
	rm_gemm_set_reference(reference);
	struct rm_batch b = {nseq, tok, off};
	float *r = malloc(nseq * sizeof *r), *h = malloc(nseq * C * sizeof *h);
	CHECK(rm_model_forward(m, ws, &b, NULL, r, h, &err) == 0, "%s", err.msg);
	for (size_t s = 0; s < nseq; s++)
		CHECK_CLOSE(r[s], er[s], ATOL, RTOL, "reward");
	for (size_t i = 0; i < nseq * C; i++)
		CHECK_CLOSE(h[i], eh[i], ATOL, RTOL, "h_last");

	float *rc = malloc(npair * sizeof *rc), *rr = malloc(npair * sizeof *rr);
	float *drc = malloc(npair * sizeof *drc), *drr = malloc(npair * sizeof *drr);
	for (size_t i = 0; i < npair; i++) {
		int64_t pc, pr;
		memcpy(&pc, (const char *)pt->data + 16 * i, 8);
		memcpy(&pr, (const char *)pt->data + 16 * i + 8, 8);
		rc[i] = r[pc];
		rr[i] = r[pr];
	}
	double loss = rm_pairwise_loss(npair, rc, rr, margin, target, drc, drr);
	CHECK_CLOSE(loss, el[0], ATOL, RTOL, "pair loss");
	float *dr = calloc(nseq, sizeof *dr), *dh = malloc(nseq * C * sizeof *dh);
	for (size_t i = 0; i < npair; i++) {
		int64_t pc, pr;
		memcpy(&pc, (const char *)pt->data + 16 * i, 8);
		memcpy(&pr, (const char *)pt->data + 16 * i + 8, 8);
		dr[pc] += drc[i];
		dr[pr] += drr[i];
	}
	for (size_t i = 0; i < nseq * C; i++)
		dh[i] = (float)(lambda * u[i]);
	CHECK(rm_model_backward(m, ws, dr, dh, &err) == 0, "%s", err.msg);
	double worst = 0;
	const char *worst_name = "";
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct rm_param *p = &m->params[i];
		char name[128];
		snprintf(name, sizeof name, "grad.%s", p->name);
		float *g = get(name, p->numel);
		const float *mine = m->grads_mem + p->offset;
		double gmax = 0;
		for (size_t j = 0; j < p->numel; j++)
			gmax = fabs(g[j]) > gmax ? fabs(g[j]) : gmax;
		double atol = ATOL * gmax + 1e-12;
		for (size_t j = 0; j < p->numel; j++) {
			double e = fabs(mine[j] - g[j]) / (atol + RTOL * fabs(g[j]));
			if (e > worst)
				worst = e, worst_name = p->name;
			if (e > 1) {
				char what[160];
				snprintf(what, sizeof what, "%s[%zu]", name, j);
				CHECK_CLOSE(mine[j], g[j], atol, RTOL, what);
				break;
			}
		}
		free(g);
	}
	printf("gemm %s: %zu rewards, loss %.7f vs %.7f, %zu gradient tensors, worst error "
	       "%.3f of tolerance (%s)\n", reference ? "ref" : "blas", nseq, loss, (double)el[0],
	       m->n_tensors, worst, worst_name);
	rm_gemm_set_reference(0);
	free(tok), free(off), free(target), free(margin), free(u), free(er), free(eh), free(el);
	free(r), free(h), free(rc), free(rr), free(drc), free(drr), free(dr), free(dh);
	rm_workspace_free(ws);
	rm_model_free(m);
}

int
main(void)
{
	struct rm_error err;
	const char *top = getenv("RM_TOP");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/data/parity.safetensors", top ? top : ".");
	if (rm_st_load(&st, path, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	run(0);
	run(1);
	rm_st_free(st);
	return check_done();
}
