/*
 * t-contrastive.c - SimCSE and SwAV losses: values by hand, Sinkhorn
 * codes, and finite-difference checks of every gradient.
 *
 * The losses are computed in double from float inputs, so a central
 * difference divides by the float step actually taken ((x + e) - (x - e)
 * as floats, exact in double) and sees the loss to about 1e-15: the
 * quotient is limited by the curvature only.  With e = 2e-4 on inputs of
 * size 1 that is below 1e-5 here; the analytic gradients come out in
 * float (relative rounding 6e-8).  Tolerance per element:
 * |fd - an| <= 1e-6 + 1e-5 |an|.
 *
 * Elements checked: every element of both views (h_s, h_t) for each of the
 * four kinds, SimCSE in both its symmetric and Eq. 9 forms, and every
 * prototype element for the SwAV kinds (codes frozen at the base point:
 * the loss backward differentiates holds them constant).  The L2
 * normalisation on its own is checked in double (e = 1e-6).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/contrastive.h"
#include "base/rng.h"
#include "testfs.h"

#define ATOL 1e-6
#define RTOL 1e-5

static struct rm_rng rng;

static void
randn(float *x, size_t n, float s)
{
	for (size_t i = 0; i < n; i++)
		x[i] = s * rm_rng_normal(&rng);
}

static double
loss_of(struct rm_cl *cl, size_t P, const float *hs, const float *ht)
{
	double l = NAN;
	struct rm_error err;
	int rc = rm_cl_forward(cl, P, hs, ht, &l, &err);
	CHECK(rc == 0, "forward: %s", err.msg);
	return l;
}

/* Central difference of the loss along element i of x, dividing by the
 * float step actually taken. */
static double
fd_elem(struct rm_cl *cl, size_t P, float *hs, float *ht, float *x, size_t i,
	float e)
{
	float save = x[i];
	float xp = save + e, xm = save - e;
	x[i] = xp;
	double lp = loss_of(cl, P, hs, ht);
	x[i] = xm;
	double lm = loss_of(cl, P, hs, ht);
	x[i] = save;
	return (lp - lm) / ((double)xp - (double)xm);
}

static double
fd_check(const char *what, struct rm_cl *cl, size_t P, float *hs, float *ht,
	 float *x, const float *g, size_t n)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		double fd = fd_elem(cl, P, hs, ht, x, i, 2e-4f);
		double d = fabs(fd - g[i]) / (ATOL + RTOL * fabs(g[i]));
		if (d > worst)
			worst = d;
		if (d > 1) {
			char buf[128];
			snprintf(buf, sizeof buf, "%s[%zu]", what, i);
			CHECK_CLOSE(g[i], fd, ATOL, RTOL, buf);
		}
	}
	printf("%-34s %4zu elements, worst error %.3f of tolerance\n", what, n,
	       worst);
	return worst;
}

static struct rm_cl *
make(enum rm_cl_kind kind, size_t C, size_t maxp, size_t K, int symmetric)
{
	struct rm_cl_config c;
	struct rm_cl *cl = NULL;
	struct rm_error err;
	rm_cl_config_default(&c, kind);
	if (K)
		c.prototypes = K;
	c.symmetric = symmetric;
	int rc = rm_cl_create(&cl, &c, C, maxp, &err);
	CHECK(rc == 0, "create: %s", err.msg);
	return cl;
}

/* Every gradient of one configuration by finite differences. */
static void
test_grad(enum rm_cl_kind kind, size_t K, int symmetric)
{
	enum { P = 3, C = 5, N = 2 * P };
	struct rm_cl *cl = make(kind, C, 4, K, symmetric);
	if (!cl)
		return;
	rm_cl_init_prototypes(cl, 99);
	float hs[N * C], ht[N * C], dhs[N * C], dht[N * C];
	randn(hs, N * C, 1);
	/* the second view: the first plus dropout-like noise */
	for (int i = 0; i < N * C; i++)
		ht[i] = hs[i] + 0.3f * rm_rng_normal(&rng);
	double l = loss_of(cl, P, hs, ht);
	CHECK(isfinite(l) && l > 0, "loss %g", l);
	memset(dhs, 0, sizeof dhs);
	memset(dht, 0, sizeof dht);
	rm_cl_zero_grad(cl);
	rm_cl_backward(cl, 1.0, dhs, dht);
	size_t nk = cl->proto_grad ? cl->proto.numel : 0;
	float *dp = nk ? malloc(nk * sizeof(float)) : NULL;
	if (nk)
		memcpy(dp, cl->proto_grad, nk * sizeof(float));

	char what[96];
	const char *kn = rm_cl_kind_name(kind);
	const char *sym = kind <= RM_CL_SIMCSE_DIFF && !symmetric ? " eq9" : "";
	cl->freeze_codes = nk > 0;
	snprintf(what, sizeof what, "%s%s K=%zu d_hs", kn, sym, K);
	fd_check(what, cl, P, hs, ht, hs, dhs, N * C);
	snprintf(what, sizeof what, "%s%s K=%zu d_ht", kn, sym, K);
	fd_check(what, cl, P, hs, ht, ht, dht, N * C);
	if (nk) {
		snprintf(what, sizeof what, "%s K=%zu d_prototypes", kn, K);
		fd_check(what, cl, P, hs, ht, cl->proto_mem, dp, nk);
	}
	cl->freeze_codes = 0;

	/* backward accumulates and scales; NULL outputs are allowed:
	 * two halves make the whole */
	float acc[N * C] = {0};
	loss_of(cl, P, hs, ht);
	rm_cl_zero_grad(cl);
	rm_cl_backward(cl, 0.5, acc, NULL);
	rm_cl_backward(cl, 0.5, acc, NULL);
	int doubled = 1;
	for (int i = 0; i < N * C; i++)
		doubled &= fabsf(acc[i] - dhs[i]) <= 1e-7f + 1e-6f * fabsf(dhs[i]);
	for (size_t i = 0; i < nk; i++)
		doubled &= fabsf(cl->proto_grad[i] - dp[i]) <=
			   1e-7f + 1e-6f * fabsf(dp[i]);
	CHECK(doubled, "%s: backward accumulates", kn);
	/* same inputs, same bits */
	double l2 = loss_of(cl, P, hs, ht);
	CHECK(memcmp(&l, &l2, sizeof l) == 0, "%s: deterministic", kn);
	free(dp);
	rm_cl_free(cl);
}

/* Accumulation with an exact check: backward with scale 1 twice equals
 * twice the single result. */
static void
test_accumulate(void)
{
	enum { P = 2, C = 4, N = 2 * P };
	struct rm_cl *cl = make(RM_CL_SIMCSE_DIFF, C, P, 0, 1);
	float hs[N * C], ht[N * C], g1[N * C] = {0}, g2[N * C] = {0};
	randn(hs, N * C, 1);
	randn(ht, N * C, 1);
	loss_of(cl, P, hs, ht);
	rm_cl_backward(cl, 1.0, g1, NULL);
	rm_cl_backward(cl, 1.0, g2, NULL);
	rm_cl_backward(cl, 1.0, g2, NULL);
	int ok = 1;
	for (int i = 0; i < N * C; i++)
		ok &= fabsf(g2[i] - 2 * g1[i]) <= 1e-6f * (1 + fabsf(g1[i]));
	CHECK(ok, "backward += twice gives twice the gradient");
	rm_cl_free(cl);
}

/* l2norm alone, in double. */
static void
test_l2norm(void)
{
	enum { N = 3, C = 4 };
	double x[N * C], z[N * C], nrm[N], w[N * C], dx[N * C] = {0};
	for (int i = 0; i < N * C; i++) {
		x[i] = rm_rng_normal(&rng);
		w[i] = rm_rng_normal(&rng);
	}
	rm_l2norm_forward(z, nrm, x, N, C);
	rm_l2norm_backward(dx, w, z, nrm, N, C);
	double worst = 0;
	for (int i = 0; i < N * C; i++) {
		double s = x[i], e = 1e-6, lp = 0, lm = 0;
		x[i] = s + e;
		rm_l2norm_forward(z, nrm, x, N, C);
		for (int j = 0; j < N * C; j++)
			lp += w[j] * z[j];
		x[i] = s - e;
		rm_l2norm_forward(z, nrm, x, N, C);
		for (int j = 0; j < N * C; j++)
			lm += w[j] * z[j];
		x[i] = s;
		double fd = (lp - lm) / (2 * e);
		double d = fabs(fd - dx[i]) / (1e-8 + 1e-6 * fabs(dx[i]));
		worst = d > worst ? d : worst;
	}
	printf("%-34s %4d elements, worst error %.3f of tolerance\n",
	       "l2norm dx (double)", N * C, worst);
	CHECK(worst <= 1, "l2norm backward");
	/* a zero row stays finite (the floor) */
	double x0[2] = {0, 0}, z0[2], n0;
	rm_l2norm_forward(z0, &n0, x0, 1, 2);
	CHECK(z0[0] == 0 && z0[1] == 0 && n0 == 1e-8, "zero row");
}

/* Loss values by hand. */
static void
test_values(void)
{
	/* One pair, per response, C = 2: chosen e1, rejected e2, both views
	 * equal.  S = I / tau, so each l_i = log(1 + exp(-1/tau)). */
	struct rm_cl *cl = make(RM_CL_SIMCSE, 2, 1, 0, 1);
	float h[4] = {3, 0, 0, 0.5f};
	double l = loss_of(cl, 1, h, h), tau = 0.05;
	CHECK_CLOSE(l, log1p(exp(-1 / tau)), 1e-15, 1e-12, "simcse orthogonal");
	/* Orthogonal views: S_ii = 0 and S_ij = 1/tau for i != j... use
	 * h_t = swapped rows: l_i = -0 + log(1 + exp(1/tau)). */
	float ht[4] = {0, 0.5f, 3, 0};
	l = loss_of(cl, 1, h, ht);
	CHECK_CLOSE(l, log1p(exp(1 / tau)), 1e-12, 1e-12, "simcse swapped");
	rm_cl_free(cl);

	/* simcse-diff on h equals simcse on the hand-made differences */
	enum { P = 3, C = 4, N = 2 * P };
	float hs[N * C], hv[N * C], ds[N * C], dv[N * C];
	randn(hs, N * C, 1);
	randn(hv, N * C, 1);
	for (int p = 0; p < P; p++)
		for (int i = 0; i < C; i++) {
			ds[p * C + i] = hs[p * C + i] - hs[(P + p) * C + i];
			ds[(P + p) * C + i] = -ds[p * C + i];
			dv[p * C + i] = hv[p * C + i] - hv[(P + p) * C + i];
			dv[(P + p) * C + i] = -dv[p * C + i];
		}
	struct rm_cl *a = make(RM_CL_SIMCSE_DIFF, C, P, 0, 1);
	struct rm_cl *b = make(RM_CL_SIMCSE, C, P, 0, 1);
	CHECK_CLOSE(loss_of(a, P, hs, hv), loss_of(b, P, ds, dv), 1e-12, 1e-6,
		    "diff instances");
	/* symmetric: swapping the views leaves the loss unchanged */
	CHECK_CLOSE(loss_of(b, P, hs, hv), loss_of(b, P, hv, hs), 1e-12, 1e-12,
		    "symmetric in the views");
	rm_cl_free(a);
	rm_cl_free(b);

	/* SwAV with one prototype: p = 1, loss 0 */
	cl = make(RM_CL_SWAV, C, P, 1, 1);
	CHECK(loss_of(cl, P, hs, hv) == 0, "swav K=1 gives 0");
	rm_cl_free(cl);
	/* SwAV by hand: codes and p recomputed here in the plain way */
	enum { K = 3 };
	cl = make(RM_CL_SWAV_DIFF, C, P, K, 1);
	rm_cl_init_prototypes(cl, 5);
	double want = 0, zs[N][C], zt[N][C], us[N][K], ut[N][K], qs[N * K], qt[N * K];
	for (int n = 0; n < N; n++) {
		double a2 = 0, b2 = 0;
		for (int i = 0; i < C; i++) {
			a2 += (double)ds[n * C + i] * ds[n * C + i];
			b2 += (double)dv[n * C + i] * dv[n * C + i];
		}
		for (int i = 0; i < C; i++) {
			zs[n][i] = ds[n * C + i] / sqrt(a2);
			zt[n][i] = dv[n * C + i] / sqrt(b2);
		}
		for (int k = 0; k < K; k++) {
			us[n][k] = ut[n][k] = 0;
			for (int i = 0; i < C; i++) {
				us[n][k] += zs[n][i] * cl->proto_mem[k * C + i];
				ut[n][k] += zt[n][i] * cl->proto_mem[k * C + i];
			}
		}
	}
	rm_sinkhorn(qs, &us[0][0], N, K, 0.05, 3);
	rm_sinkhorn(qt, &ut[0][0], N, K, 0.05, 3);
	for (int n = 0; n < N; n++) {
		double ss = 0, st = 0;
		for (int k = 0; k < K; k++) {
			ss += exp(us[n][k] / 0.1);
			st += exp(ut[n][k] / 0.1);
		}
		for (int k = 0; k < K; k++)
			want -= qs[n * K + k] * log(exp(ut[n][k] / 0.1) / st) +
				qt[n * K + k] * log(exp(us[n][k] / 0.1) / ss);
	}
	want /= N;
	/* (the library takes differences in double, this test in float) */
	CHECK_CLOSE(loss_of(cl, P, hs, hv), want, 1e-12, 1e-6, "swav-diff by hand");
	rm_cl_free(cl);
}

static void
test_sinkhorn(void)
{
	enum { N = 6, K = 4 };
	double u[N * K], q[N * K], q2[N * K];
	for (int i = 0; i < N * K; i++)
		u[i] = 2 * rm_rng_uniform_double(&rng) - 1;
	rm_sinkhorn(q, u, N, K, 0.05, 3);
	int rows = 1;
	for (int n = 0; n < N; n++) {
		double s = 0;
		for (int k = 0; k < K; k++)
			s += q[n * K + k];
		rows &= fabs(s - 1) < 1e-12;
	}
	CHECK(rows, "codes: each instance's row sums to 1");
	/* 5000 iterations: every prototype gets N / K of the mass */
	rm_sinkhorn(q, u, N, K, 0.05, 5000);
	double worst = 0;
	for (int k = 0; k < K; k++) {
		double s = 0;
		for (int n = 0; n < N; n++)
			s += q[n * K + k];
		worst = fmax(worst, fabs(s - (double)N / K));
	}
	CHECK(worst < 1e-6, "equipartition after 5000 iterations: off by %g", worst);
	/* a constant shift of the scores changes nothing */
	for (int i = 0; i < N * K; i++)
		u[i] += 7;
	rm_sinkhorn(q2, u, N, K, 0.05, 5000);
	worst = 0;
	for (int i = 0; i < N * K; i++)
		worst = fmax(worst, fabs(q[i] - q2[i]));
	CHECK(worst < 1e-12, "shift invariance: %g", worst);
	/* scores spread over [-1, 1] at eps 0.05 stay finite (exp(40) range) */
	for (int i = 0; i < N * K; i++)
		u[i] = i % 2 ? 1 : -1;
	rm_sinkhorn(q, u, N, K, 0.05, 3);
	int fin = 1;
	for (int i = 0; i < N * K; i++)
		fin &= isfinite(q[i]);
	CHECK(fin, "extreme scores stay finite");
}

static void
test_config(void)
{
	struct rm_cl_config c;
	struct rm_error err;
	rm_cl_config_default(&c, RM_CL_SIMCSE);
	CHECK(c.weight == 1 && c.temp == 0.05 && c.dropout == 0.05f, "simcse defaults");
	rm_cl_config_default(&c, RM_CL_SWAV_DIFF);
	CHECK(c.weight == 0.5 && c.prototypes == 20 && c.temp == 0.1, "swav-diff defaults");
	rm_cl_config_default(&c, RM_CL_SWAV);
	CHECK(c.weight == 0.1 && c.prototypes == 50 && c.sinkhorn_eps == 0.05 &&
	      c.sinkhorn_iters == 3, "swav defaults");
	for (int k = 0; k <= RM_CL_SWAV_DIFF; k++)
		CHECK(rm_cl_kind_parse(rm_cl_kind_name(k)) == k, "name %d", k);
	CHECK(rm_cl_kind_parse("simclr") == -1, "unknown kind");
	c.temp = 0;
	CHECK(rm_cl_config_check(&c, &err) == RM_EUSAGE, "temperature 0");
	rm_cl_config_default(&c, RM_CL_SIMCSE);
	c.dropout = 0;
	CHECK(rm_cl_config_check(&c, &err) == RM_EUSAGE, "dropout 0");

	struct rm_cl *cl = make(RM_CL_SWAV, 8, 2, 5, 1);
	float h[32] = {0};
	double l;
	CHECK(rm_cl_forward(cl, 3, h, h, &l, &err) == RM_EUSAGE, "too many pairs");
	CHECK(rm_cl_forward(cl, 0, h, h, &l, &err) == RM_EUSAGE, "no pairs");
	h[3] = NAN;
	CHECK(rm_cl_forward(cl, 2, h, h, &l, &err) == RM_ENUM, "nan input");
	/* prototypes: unit rows, reproducible from the seed */
	rm_cl_init_prototypes(cl, 3);
	float first[40];
	memcpy(first, cl->proto_mem, sizeof first);
	for (int i = 0; i < 40; i++)
		cl->proto_mem[i] *= 3;
	rm_cl_normalize_prototypes(cl);
	double worst = 0;
	for (int k = 0; k < 5; k++) {
		double s = 0;
		for (int i = 0; i < 8; i++)
			s += (double)cl->proto_mem[k * 8 + i] * cl->proto_mem[k * 8 + i];
		worst = fmax(worst, fabs(sqrt(s) - 1));
	}
	CHECK(worst < 1e-6, "normalised prototypes");
	rm_cl_init_prototypes(cl, 3);
	CHECK(!memcmp(first, cl->proto_mem, sizeof first), "prototype init reproducible");
	CHECK(!strcmp(cl->proto.name, RM_CL_PROTO_NAME) && cl->proto.numel == 40 &&
	      cl->proto.decay == 0, "prototype table");
	rm_cl_free(cl);
	rm_cl_free(NULL);
}

/* Prototypes and their moments survive a save and a load. */
static void
test_state(void)
{
	struct rm_cl *a = make(RM_CL_SWAV_DIFF, 6, 2, 0, 1);
	struct rm_cl *b = make(RM_CL_SWAV_DIFF, 6, 2, 0, 1);
	struct rm_cl *c = make(RM_CL_SWAV, 6, 2, 0, 1);
	struct rm_adamw oa, ob;
	struct rm_adamw_config ac;
	struct rm_error err;
	rm_adamw_config_default(&ac);
	CHECK(rm_adamw_init(&oa, &ac, a->proto.numel, &err) == 0, "%s", err.msg);
	CHECK(rm_adamw_init(&ob, &ac, b->proto.numel, &err) == 0, "%s", err.msg);
	rm_cl_init_prototypes(a, 17);
	for (size_t i = 0; i < 2 * a->proto.numel; i++)
		oa.m[i] = rm_rng_normal(&rng);
	oa.step = 12;
	const char *dir = testfs_dir;
	CHECK(rm_cl_save_state(a, &oa, dir, &err) == 0, "%s", err.msg);
	CHECK(rm_cl_load_state(b, &ob, dir, &err) == 0, "%s", err.msg);
	CHECK(!memcmp(a->proto_mem, b->proto_mem, a->proto.numel * sizeof(float)) &&
	      !memcmp(oa.m, ob.m, 2 * a->proto.numel * sizeof(float)) && ob.step == 12,
	      "state round trip");
	CHECK(rm_cl_load_state(c, NULL, dir, &err) == RM_EDATA, "kind checked");
	rm_adamw_release(&oa);
	rm_adamw_release(&ob);
	rm_cl_free(a);
	rm_cl_free(b);
	rm_cl_free(c);
}

int
main(void)
{
	rm_rng_seed(&rng, 4321);
	testfs_init("t-contrastive");
	test_state();
	test_config();
	test_l2norm();
	test_sinkhorn();
	test_values();
	test_accumulate();
	test_grad(RM_CL_SIMCSE, 0, 1);
	test_grad(RM_CL_SIMCSE, 0, 0);
	test_grad(RM_CL_SIMCSE_DIFF, 0, 1);
	test_grad(RM_CL_SIMCSE_DIFF, 0, 0);
	test_grad(RM_CL_SWAV, 4, 1);
	test_grad(RM_CL_SWAV, 9, 1);   /* more prototypes than instances */
	test_grad(RM_CL_SWAV_DIFF, 4, 1);
	int rc = check_done();
	testfs_done(rc);
	return rc;
}
