/*
 * contrastive.c - SimCSE and SwAV losses on two dropout views (see
 * contrastive.h for the math and the choices).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/contrastive.h"
#include "base/rng.h"
#include "stream/safetensors.h"

#define NORM_FLOOR 1e-8

/* ---- configuration ----------------------------------------------------- */

static const char *const kind_names[] = {"none", "simcse", "simcse-diff",
					 "swav", "swav-diff"};

const char *
rm_cl_kind_name(enum rm_cl_kind k)
{
	return (unsigned)k < sizeof kind_names / sizeof *kind_names ?
		       kind_names[k] : "?";
}

int
rm_cl_kind_parse(const char *name)
{
	for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
		if (!strcmp(name, kind_names[i]))
			return (int)i;
	return -1;
}

int
rm_cl_has_prototypes(enum rm_cl_kind k)
{
	return k == RM_CL_SWAV || k == RM_CL_SWAV_DIFF;
}

static int
is_diff(enum rm_cl_kind k)
{
	return k == RM_CL_SIMCSE_DIFF || k == RM_CL_SWAV_DIFF;
}

void
rm_cl_config_default(struct rm_cl_config *c, enum rm_cl_kind kind)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->symmetric = 1;
	c->sinkhorn_eps = 0.05;
	c->sinkhorn_iters = 3;
	c->dropout = 0.05f;
	switch (kind) {
	case RM_CL_NONE:
		break;
	case RM_CL_SIMCSE:
	case RM_CL_SIMCSE_DIFF:
		c->weight = 1.0;
		c->temp = 0.05;
		break;
	case RM_CL_SWAV:
		c->weight = 0.1;
		c->temp = 0.1;
		c->prototypes = 50;
		break;
	case RM_CL_SWAV_DIFF:
		c->weight = 0.5;
		c->temp = 0.1;
		c->prototypes = 20;
		break;
	}
}

int
rm_cl_config_check(const struct rm_cl_config *c, struct rm_error *err)
{
	if ((unsigned)c->kind > RM_CL_SWAV_DIFF)
		return rm_error_set(err, RM_EUSAGE, "contrastive: unknown kind %d",
				    (int)c->kind);
	if (c->kind == RM_CL_NONE)
		return 0;
	if (!(c->weight >= 0 && isfinite(c->weight)))
		return rm_error_set(err, RM_EUSAGE,
				    "contrastive weight must be finite and >= 0");
	if (!(c->temp > 0 && isfinite(c->temp)))
		return rm_error_set(err, RM_EUSAGE,
				    "contrastive temperature must be > 0");
	if (!(c->dropout > 0 && c->dropout < 1))
		return rm_error_set(err, RM_EUSAGE,
				    "contrastive dropout must be in (0, 1): two "
				    "views need different masks");
	if (rm_cl_has_prototypes(c->kind)) {
		if (c->prototypes < 1 || c->prototypes > 65536)
			return rm_error_set(err, RM_EUSAGE,
					    "prototypes must be in [1, 65536]");
		if (!(c->sinkhorn_eps > 0 && isfinite(c->sinkhorn_eps)))
			return rm_error_set(err, RM_EUSAGE,
					    "sinkhorn epsilon must be > 0");
		if (c->sinkhorn_iters < 1 || c->sinkhorn_iters > 1000)
			return rm_error_set(err, RM_EUSAGE,
					    "sinkhorn iterations must be in [1, 1000]");
	}
	return 0;
}

/* ---- object -------------------------------------------------------------- */

int
rm_cl_create(struct rm_cl **out, const struct rm_cl_config *c, size_t C,
	     size_t max_pairs, struct rm_error *err)
{
	*out = NULL;
	int rc = rm_cl_config_check(c, err);
	if (rc)
		return rc;
	if (c->kind == RM_CL_NONE || C == 0 || max_pairs == 0)
		return rm_error_set(err, RM_EUSAGE,
				    "contrastive: need a kind, a width and pairs");
	size_t N = 2 * max_pairs, K = rm_cl_has_prototypes(c->kind) ? c->prototypes : 0;
	size_t nc, nn, nk, kc;
	const size_t lim = (size_t)1 << 34;
	if (rm_checked_size(N, C * sizeof(double), lim, &nc) ||
	    rm_checked_size(N, (N > K ? N : K) * sizeof(double), lim, &nn) ||
	    rm_checked_size(N, (K ? K : 1) * sizeof(double), lim, &nk) ||
	    rm_checked_size(K ? K : 1, C * sizeof(double), lim, &kc))
		return rm_error_set(err, RM_ENOMEM,
				    "contrastive: %zu pairs of width %zu is too large",
				    max_pairs, C);
	struct rm_cl *cl = calloc(1, sizeof *cl);
	if (!cl)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	cl->cfg = *c;
	cl->C = C;
	cl->max_pairs = max_pairs;
	int bad = 0;
#define ALLOC(p, bytes) bad |= !((p) = malloc(bytes))
	ALLOC(cl->zs, nc);
	ALLOC(cl->zt, nc);
	ALLOC(cl->dz, nc);
	ALLOC(cl->dx, nc);
	ALLOC(cl->dw, nc);
	ALLOC(cl->ns, N * sizeof(double));
	ALLOC(cl->nt, N * sizeof(double));
	ALLOC(cl->a, nn);
	ALLOC(cl->b, nn);
	ALLOC(cl->ga, nn);
	ALLOC(cl->gb, nn);
	if (K) {
		ALLOC(cl->qs, nk);
		ALLOC(cl->qt, nk);
		ALLOC(cl->cd, kc);
		bad |= !(cl->proto_mem = calloc(K * C, sizeof(float)));
		bad |= !(cl->proto_grad = calloc(K * C, sizeof(float)));
		snprintf(cl->proto.name, sizeof cl->proto.name, "%s", RM_CL_PROTO_NAME);
		cl->proto.ndim = 2;
		cl->proto.shape[0] = K;
		cl->proto.shape[1] = C;
		cl->proto.offset = 0;
		cl->proto.numel = K * C;
		cl->proto.decay = 0;
	}
#undef ALLOC
	if (bad) {
		rm_cl_free(cl);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	rm_cl_init_prototypes(cl, 0);
	*out = cl;
	return 0;
}

void
rm_cl_free(struct rm_cl *cl)
{
	if (!cl)
		return;
	free(cl->zs);
	free(cl->zt);
	free(cl->dz);
	free(cl->dx);
	free(cl->dw);
	free(cl->ns);
	free(cl->nt);
	free(cl->a);
	free(cl->b);
	free(cl->ga);
	free(cl->gb);
	free(cl->qs);
	free(cl->qt);
	free(cl->cd);
	free(cl->proto_mem);
	free(cl->proto_grad);
	free(cl);
}

void
rm_cl_init_prototypes(struct rm_cl *cl, uint64_t seed)
{
	if (!cl->proto_mem)
		return;
	struct rm_rng r;
	/* "protos" as a stream counter keeps this apart from other uses. */
	rm_rng_stream(&r, seed, 0x70726f746f73ULL, 0, 0);
	for (size_t i = 0; i < cl->proto.numel; i++)
		cl->proto_mem[i] = rm_rng_normal(&r);
	rm_cl_normalize_prototypes(cl);
}

void
rm_cl_normalize_prototypes(struct rm_cl *cl)
{
	if (!cl->proto_mem)
		return;
	size_t K = cl->proto.shape[0], C = cl->C;
	for (size_t k = 0; k < K; k++) {
		float *c = cl->proto_mem + k * C;
		double s = 0;
		for (size_t i = 0; i < C; i++)
			s += (double)c[i] * c[i];
		double n = sqrt(s);
		if (n < NORM_FLOOR)
			n = NORM_FLOOR;
		for (size_t i = 0; i < C; i++)
			c[i] = (float)(c[i] / n);
	}
}

void
rm_cl_zero_grad(struct rm_cl *cl)
{
	if (cl->proto_grad)
		memset(cl->proto_grad, 0, cl->proto.numel * sizeof(float));
}

/* ---- building blocks ------------------------------------------------------- */

void
rm_l2norm_forward(double *z, double *norm, const double *x, size_t N, size_t C)
{
	for (size_t n = 0; n < N; n++) {
		const double *xn = x + n * C;
		double s = 0;
		for (size_t i = 0; i < C; i++)
			s += xn[i] * xn[i];
		double d = sqrt(s);
		if (d < NORM_FLOOR)
			d = NORM_FLOOR;
		norm[n] = d;
		for (size_t i = 0; i < C; i++)
			z[n * C + i] = xn[i] / d;
	}
}

void
rm_l2norm_backward(double *dx, const double *dz, const double *z,
		   const double *norm, size_t N, size_t C)
{
	for (size_t n = 0; n < N; n++) {
		const double *zn = z + n * C, *dzn = dz + n * C;
		/* Where the floor applies the denominator is a constant. */
		double zd = 0;
		if (norm[n] > NORM_FLOOR)
			for (size_t i = 0; i < C; i++)
				zd += zn[i] * dzn[i];
		for (size_t i = 0; i < C; i++)
			dx[n * C + i] += (dzn[i] - zn[i] * zd) / norm[n];
	}
}

void
rm_sinkhorn(double *q, const double *u, size_t N, size_t K, double eps,
	    int iters)
{
	double mx = -INFINITY;
	for (size_t i = 0; i < N * K; i++)
		if (u[i] > mx)
			mx = u[i];
	double tot = 0;
	for (size_t i = 0; i < N * K; i++) {
		q[i] = exp((u[i] - mx) / eps);
		tot += q[i];
	}
	for (size_t i = 0; i < N * K; i++)
		q[i] /= tot;
	for (int it = 0; it < iters; it++) {
		/* each prototype's mass to 1/K */
		for (size_t k = 0; k < K; k++) {
			double s = 0;
			for (size_t n = 0; n < N; n++)
				s += q[n * K + k];
			double f = s > 0 ? 1.0 / (s * (double)K) : 0;
			for (size_t n = 0; n < N; n++)
				q[n * K + k] *= f;
		}
		/* each instance's mass to 1/N (then times N: rows sum to 1) */
		for (size_t n = 0; n < N; n++) {
			double s = 0;
			for (size_t k = 0; k < K; k++)
				s += q[n * K + k];
			double f = s > 0 ? 1.0 / s : 0;
			for (size_t k = 0; k < K; k++)
				q[n * K + k] *= f;
		}
	}
}

/* log-softmax of row x[0..n) / t into lp; returns nothing, lp may be
 * exponentiated by the caller. */
static void
log_softmax(double *lp, const double *x, size_t n, size_t stride, double t)
{
	double mx = -INFINITY;
	for (size_t i = 0; i < n; i++)
		if (x[i * stride] / t > mx)
			mx = x[i * stride] / t;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += exp(x[i * stride] / t - mx);
	double lse = mx + log(s);
	for (size_t i = 0; i < n; i++)
		lp[i * stride] = x[i * stride] / t - lse;
}

/* a [N, M] = x [N, C] y [M, C]^T */
static void
gemm_nt(double *a, const double *x, const double *y, size_t N, size_t M,
	size_t C)
{
	for (size_t n = 0; n < N; n++)
		for (size_t m = 0; m < M; m++) {
			double s = 0;
			for (size_t i = 0; i < C; i++)
				s += x[n * C + i] * y[m * C + i];
			a[n * M + m] = s;
		}
}

/* out [N, C] (+)= g [N, M] y [M, C]; g^T when trans (g is [M, N]). */
static void
gemm_acc(double *out, const double *g, int trans, const double *y, size_t N,
	 size_t M, size_t C, double scale)
{
	for (size_t n = 0; n < N; n++)
		for (size_t m = 0; m < M; m++) {
			double gv = scale * (trans ? g[m * N + n] : g[n * M + m]);
			if (gv == 0)
				continue;
			for (size_t i = 0; i < C; i++)
				out[n * C + i] += gv * y[m * C + i];
		}
}

/* ---- instances ------------------------------------------------------------- */

/* Instances of one view into x [N, C] (double) from h [2P, C]. */
static int
make_instances(double *x, const float *h, size_t P, size_t C, int diff)
{
	size_t N = 2 * P;
	for (size_t i = 0; i < N * C; i++)
		if (!isfinite(h[i]))
			return -1;
	if (!diff) {
		for (size_t i = 0; i < N * C; i++)
			x[i] = h[i];
		return 0;
	}
	for (size_t p = 0; p < P; p++)
		for (size_t i = 0; i < C; i++) {
			double d = (double)h[p * C + i] - h[(P + p) * C + i];
			x[p * C + i] = d;
			x[(P + p) * C + i] = -d;
		}
	return 0;
}

/* dh [2P, C] += scale * dL/dh from dx = dL/dx [N, C]. */
static void
instances_backward(float *dh, const double *dx, size_t P, size_t C, int diff,
		   double scale)
{
	if (!dh)
		return;
	size_t N = 2 * P;
	if (!diff) {
		for (size_t i = 0; i < N * C; i++)
			dh[i] += (float)(scale * dx[i]);
		return;
	}
	for (size_t p = 0; p < P; p++)
		for (size_t i = 0; i < C; i++) {
			double g = scale * (dx[p * C + i] - dx[(P + p) * C + i]);
			dh[p * C + i] += (float)g;
			dh[(P + p) * C + i] -= (float)g;
		}
}

/* ---- SimCSE ---------------------------------------------------------------- */

/* Loss from zs, zt; keeps a = row softmax, b = column softmax of S. */
static double
simcse_forward(struct rm_cl *cl)
{
	size_t N = cl->n, C = cl->C;
	double t = cl->cfg.temp;
	/* S = zs zt^T (without 1/tau) in b; log-softmaxes by row into a and
	 * by column into b (in place: each column is read before written). */
	gemm_nt(cl->b, cl->zs, cl->zt, N, N, C);
	double lst = 0, lts = 0;
	for (size_t i = 0; i < N; i++) {
		log_softmax(cl->a + i * N, cl->b + i * N, N, 1, t);
		lst -= cl->a[i * N + i];
	}
	for (size_t j = 0; j < N; j++) {
		log_softmax(cl->b + j, cl->b + j, N, N, t);
		lts -= cl->b[j * N + j];
	}
	for (size_t i = 0; i < N * N; i++) {
		cl->a[i] = exp(cl->a[i]);
		cl->b[i] = exp(cl->b[i]);
	}
	if (cl->cfg.symmetric)
		return (lst + lts) / (2.0 * (double)N);
	return lst / (double)N;
}

/* dL/dS (times tau) into ga; then dzs, dzt. */
static void
simcse_backward(struct rm_cl *cl, double *dzs, double *dzt)
{
	size_t N = cl->n, C = cl->C;
	double wst = cl->cfg.symmetric ? 0.5 / (double)N : 1.0 / (double)N;
	double wts = cl->cfg.symmetric ? 0.5 / (double)N : 0.0;
	for (size_t i = 0; i < N; i++)
		for (size_t j = 0; j < N; j++) {
			double dl = i == j ? 1.0 : 0.0;
			cl->ga[i * N + j] = wst * (cl->a[i * N + j] - dl) +
					    wts * (cl->b[i * N + j] - dl);
		}
	/* S = zs zt^T / tau */
	double it = 1.0 / cl->cfg.temp;
	memset(dzs, 0, N * C * sizeof(double));
	memset(dzt, 0, N * C * sizeof(double));
	gemm_acc(dzs, cl->ga, 0, cl->zt, N, N, C, it);
	gemm_acc(dzt, cl->ga, 1, cl->zs, N, N, C, it);
}

/* ---- SwAV ------------------------------------------------------------------ */

static double
swav_forward(struct rm_cl *cl)
{
	size_t N = cl->n, C = cl->C, K = cl->proto.shape[0];
	double t = cl->cfg.temp;
	for (size_t i = 0; i < K * C; i++)
		cl->cd[i] = cl->proto_mem[i];
	/* scores into a (view s) and b (view t), [N, K] */
	gemm_nt(cl->a, cl->zs, cl->cd, N, K, C);
	gemm_nt(cl->b, cl->zt, cl->cd, N, K, C);
	if (!cl->freeze_codes) {
		rm_sinkhorn(cl->qs, cl->a, N, K, cl->cfg.sinkhorn_eps,
			    cl->cfg.sinkhorn_iters);
		rm_sinkhorn(cl->qt, cl->b, N, K, cl->cfg.sinkhorn_eps,
			    cl->cfg.sinkhorn_iters);
	}
	double l = 0;
	for (size_t n = 0; n < N; n++) {
		double *ps = cl->a + n * K, *pt = cl->b + n * K;
		log_softmax(ps, ps, K, 1, t);
		log_softmax(pt, pt, K, 1, t);
		for (size_t k = 0; k < K; k++)
			l -= cl->qs[n * K + k] * pt[k] + cl->qt[n * K + k] * ps[k];
	}
	for (size_t i = 0; i < N * K; i++) {
		cl->a[i] = exp(cl->a[i]);
		cl->b[i] = exp(cl->b[i]);
	}
	return l / (double)N;
}

/* dL/du into ga (view s) and gb (view t); then dzs, dzt, and the
 * prototypes' gradient. */
static void
swav_backward(struct rm_cl *cl, double *dzs, double *dzt, double scale)
{
	size_t N = cl->n, C = cl->C, K = cl->proto.shape[0];
	double w = 1.0 / ((double)N * cl->cfg.temp);
	for (size_t n = 0; n < N; n++) {
		/* l = -sum_k q_k log p_k with p = softmax(u / tau):
		 * dl/du_k = (p_k sum_j q_j - q_k) / tau */
		double sqs = 0, sqt = 0;
		for (size_t k = 0; k < K; k++) {
			sqs += cl->qs[n * K + k];
			sqt += cl->qt[n * K + k];
		}
		for (size_t k = 0; k < K; k++) {
			size_t i = n * K + k;
			/* view s's p is scored against q_t, and t's against q_s */
			cl->ga[i] = w * (cl->a[i] * sqt - cl->qt[i]);
			cl->gb[i] = w * (cl->b[i] * sqs - cl->qs[i]);
		}
	}
	memset(dzs, 0, N * C * sizeof(double));
	memset(dzt, 0, N * C * sizeof(double));
	gemm_acc(dzs, cl->ga, 0, cl->cd, N, K, C, 1.0);
	gemm_acc(dzt, cl->gb, 0, cl->cd, N, K, C, 1.0);
	/* dC [K, C] = du_s^T zs + du_t^T zt */
	for (size_t k = 0; k < K; k++)
		for (size_t i = 0; i < C; i++) {
			double g = 0;
			for (size_t n = 0; n < N; n++)
				g += cl->ga[n * K + k] * cl->zs[n * C + i] +
				     cl->gb[n * K + k] * cl->zt[n * C + i];
			cl->proto_grad[k * C + i] += (float)(scale * g);
		}
}

/* ---- the loss -------------------------------------------------------------- */

int
rm_cl_forward(struct rm_cl *cl, size_t n_pairs, const float *hs,
	      const float *ht, double *loss, struct rm_error *err)
{
	if (n_pairs == 0 || n_pairs > cl->max_pairs)
		return rm_error_set(err, RM_EUSAGE,
				    "contrastive: %zu pairs (room for 1 to %zu)",
				    n_pairs, cl->max_pairs);
	size_t C = cl->C, N = 2 * n_pairs;
	int diff = is_diff(cl->cfg.kind);
	if (cl->freeze_codes && cl->n != N)
		return rm_error_set(err, RM_EUSAGE,
				    "contrastive: frozen codes of another batch");
	/* x in dx (scratch), normalised into zs / zt */
	if (make_instances(cl->dx, hs, n_pairs, C, diff))
		return rm_error_set(err, RM_ENUM,
				    "contrastive: non-finite representation");
	rm_l2norm_forward(cl->zs, cl->ns, cl->dx, N, C);
	if (make_instances(cl->dx, ht, n_pairs, C, diff))
		return rm_error_set(err, RM_ENUM,
				    "contrastive: non-finite representation");
	rm_l2norm_forward(cl->zt, cl->nt, cl->dx, N, C);
	cl->n_pairs = n_pairs;
	cl->n = N;
	double l = rm_cl_has_prototypes(cl->cfg.kind) ? swav_forward(cl) :
							  simcse_forward(cl);
	if (!isfinite(l))
		return rm_error_set(err, RM_ENUM, "contrastive: loss is not finite");
	*loss = l;
	return 0;
}

void
rm_cl_backward(struct rm_cl *cl, double scale, float *d_hs, float *d_ht)
{
	size_t N = cl->n, C = cl->C, P = cl->n_pairs;
	int diff = is_diff(cl->cfg.kind);
	/* dz of both views, then through the normalisation into dw */
	double *dzs = cl->dz, *dzt = cl->dx;
	if (rm_cl_has_prototypes(cl->cfg.kind))
		swav_backward(cl, dzs, dzt, scale);
	else
		simcse_backward(cl, dzs, dzt);
	memset(cl->dw, 0, N * C * sizeof(double));
	rm_l2norm_backward(cl->dw, dzs, cl->zs, cl->ns, N, C);
	instances_backward(d_hs, cl->dw, P, C, diff, scale);
	memset(cl->dw, 0, N * C * sizeof(double));
	rm_l2norm_backward(cl->dw, dzt, cl->zt, cl->nt, N, C);
	instances_backward(d_ht, cl->dw, P, C, diff, scale);
}

/* ---- state ------------------------------------------------------------------ */

static void
proto_tensor(struct rm_tensor *t, const char *prefix, const struct rm_cl *cl,
	     const float *data)
{
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s%s", prefix, RM_CL_PROTO_NAME);
	t->dtype = RM_DT_F32;
	t->ndim = 2;
	t->dims[0] = cl->proto.shape[0];
	t->dims[1] = cl->proto.shape[1];
	t->data = data;
	t->nbytes = cl->proto.numel * sizeof(float);
}

int
rm_cl_save_state(const struct rm_cl *cl, const struct rm_adamw *o,
		 const char *dir, struct rm_error *err)
{
	if (!cl->proto_mem)
		return 0;
	struct rm_tensor ts[3];
	size_t n = 0;
	proto_tensor(&ts[n++], "", cl, cl->proto_mem);
	char step[32] = "0";
	if (o) {
		proto_tensor(&ts[n++], "exp_avg.", cl, o->m);
		proto_tensor(&ts[n++], "exp_avg_sq.", cl, o->v);
		snprintf(step, sizeof step, "%" PRIu64, o->step);
	}
	const char *meta[] = {"format", "rmkit-contrastive-state", "kind",
			      rm_cl_kind_name(cl->cfg.kind), "adamw_step", step, NULL};
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, RM_CL_STATE_FILE);
	return rm_st_save(path, ts, n, meta, err);
}

int
rm_cl_load_state(struct rm_cl *cl, struct rm_adamw *o, const char *dir,
		 struct rm_error *err)
{
	if (!cl->proto_mem)
		return 0;
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, RM_CL_STATE_FILE);
	struct rm_st *st;
	int rc = rm_st_load(&st, path, err);
	if (rc < 0)
		return rc;
	const char *kind = rm_st_metadata(st, "kind");
	if (!kind || strcmp(kind, rm_cl_kind_name(cl->cfg.kind))) {
		rc = rm_error_set(err, RM_EDATA, "%s: state of '%s', not '%s'", path,
				  kind ? kind : "?", rm_cl_kind_name(cl->cfg.kind));
		goto out;
	}
	const char *names[3] = {"", "exp_avg.", "exp_avg_sq."};
	float *dst[3] = {cl->proto_mem, o ? o->m : NULL, o ? o->v : NULL};
	for (int i = 0; i < 3 && !rc; i++) {
		if (!dst[i])
			continue;
		char name[128];
		snprintf(name, sizeof name, "%s%s", names[i], RM_CL_PROTO_NAME);
		const struct rm_tensor *t = rm_st_find(st, name);
		if (!t || t->ndim != 2 || t->dims[0] != cl->proto.shape[0] ||
		    t->dims[1] != cl->proto.shape[1]) {
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is %s, [%zu, %zu] "
					  "expected", path, name, t ? "of another shape" : "missing",
					  cl->proto.shape[0], cl->proto.shape[1]);
			break;
		}
		rc = rm_st_to_f32(t, dst[i], cl->proto.numel, err);
	}
	if (!rc && o) {
		const char *v = rm_st_metadata(st, "adamw_step");
		char *end;
		o->step = v ? strtoull(v, &end, 10) : 0;
		if (!v || *end)
			rc = rm_error_set(err, RM_EDATA, "%s: no adamw_step", path);
	}
out:
	rm_st_free(st);
	return rc;
}
