/*
 * t-optim.c - AdamW against a hand-computed double reference, schedules,
 * clipping and non-finite detection.
 *
 * AdamW: three steps over two tensors (one decayed, one not), compared
 * with the torch.optim.AdamW update written out in double:
 * |a - b| <= 1e-7 + 1e-5 |b| (float state vs double reference).
 * Threads: a step over more than one chunk of parameters (tensors that
 * straddle chunks, lengths that are not multiples of the vector width)
 * gives the same bits on 1 and 3 threads as the scalar float update
 * written out here; the gradient norm is the same on both.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/gemm.h"
#include "nn/optim.h"

static void
test_threads(void)
{
	enum { N = 3 * 65536 + 13 };
	struct rm_param table[3] = {
		{.name = "a", .ndim = 1, .shape = {70001}, .offset = 0, .numel = 70001, .decay = 1},
		{.name = "b", .ndim = 1, .shape = {5}, .offset = 70001, .numel = 5, .decay = 0},
		{.name = "c", .ndim = 1, .shape = {N - 70006}, .offset = 70006, .numel = N - 70006,
		 .decay = 1},
	};
	struct rm_adamw_config c = {0.9, 0.95, 1e-8, 0.1};
	float *g = malloc(N * sizeof *g), *p1 = malloc(N * sizeof *p1);
	float *p3 = malloc(N * sizeof *p3), *pr = malloc(N * sizeof *pr);
	float *mr = calloc(2 * N, sizeof *mr), *vr = mr + N;
	struct rm_adamw o1, o3;
	if (!g || !p1 || !p3 || !pr || !mr || rm_adamw_init(&o1, &c, N, NULL) < 0 ||
	    rm_adamw_init(&o3, &c, N, NULL) < 0) {
		CHECK(0, "out of memory");
		return;
	}
	uint32_t s = 1;
	for (size_t i = 0; i < N; i++) {
		s = s * 1664525u + 1013904223u;
		p1[i] = p3[i] = pr[i] = (float)(int)(s >> 8) / (float)(1 << 24) - 0.5f;
	}
	double lr = 1e-3;
	for (int step = 1; step <= 2; step++) {
		for (size_t i = 0; i < N; i++) {
			s = s * 1664525u + 1013904223u;
			g[i] = (float)(int)(s >> 8) / (float)(1 << 22) - 2.0f;
		}
		rm_blas_set_threads(1);
		rm_adamw_step(&o1, p1, g, table, 3, lr);
		rm_blas_set_threads(3);
		rm_adamw_step(&o3, p3, g, table, 3, lr);
		/* the scalar float update, as rm_adamw_step's own loop */
		float step_size = (float)(lr / (1.0 - pow(0.9, step)));
		float rbc2 = (float)(1.0 / sqrt(1.0 - pow(0.95, step))), eps = 1e-8f;
		for (size_t t = 0; t < 3; t++)
			for (size_t i = table[t].offset; i < table[t].offset + table[t].numel; i++) {
				float decay = table[t].decay ? (float)(1.0 - lr * 0.1) : 1.0f;
				mr[i] = 0.9f * mr[i] + (float)(1.0 - 0.9) * g[i];
				vr[i] = 0.95f * vr[i] + (float)(1.0 - 0.95) * g[i] * g[i];
				float denom = sqrtf(vr[i]) * rbc2 + eps;
				pr[i] = pr[i] * decay - step_size * mr[i] / denom;
			}
	}
	CHECK(!memcmp(p1, p3, N * sizeof *p1) && !memcmp(o1.m, o3.m, 2 * N * sizeof *o1.m),
	      "AdamW: the same bits on 1 and 3 threads");
	CHECK(!memcmp(p1, pr, N * sizeof *p1) && !memcmp(o1.m, mr, 2 * N * sizeof *mr),
	      "AdamW: the same bits as the scalar update");
	rm_blas_set_threads(1);
	double n1 = rm_grad_norm(g, N);
	rm_blas_set_threads(3);
	double n3 = rm_grad_norm(g, N);
	double ref = 0;
	for (size_t i = 0; i < N; i++)
		ref += (double)g[i] * g[i];
	CHECK(n1 == n3, "norm: the same on 1 and 3 threads");
	CHECK_CLOSE(n1, sqrt(ref), 0, 1e-12, "norm against the index-order sum");
	rm_blas_set_threads(1);
	rm_adamw_release(&o1);
	rm_adamw_release(&o3);
	free(g), free(p1), free(p3), free(pr), free(mr);
}

static void
test_adamw(void)
{
	struct rm_param table[2] = {
		{.name = "w", .ndim = 2, .shape = {2, 2}, .offset = 0, .numel = 4, .decay = 1},
		{.name = "b", .ndim = 1, .shape = {3}, .offset = 4, .numel = 3, .decay = 0},
	};
	float p[7] = {0.5f, -1, 2, 0.1f, 0.3f, -0.2f, 0};
	double rp[7], rm[7] = {0}, rv[7] = {0};
	for (int i = 0; i < 7; i++)
		rp[i] = p[i];
	struct rm_adamw_config c = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1};
	struct rm_adamw o;
	struct rm_error err;
	CHECK(rm_adamw_init(&o, &c, 7, &err) == 0, "%s", err.msg);
	static const float grads[3][7] = {
		{0.1f, -0.2f, 0.3f, 0, 1, -1, 0.5f},
		{0.2f, 0.2f, -0.1f, 0, -1, 2, 0.5f},
		{-0.3f, 0.1f, 0.1f, 1e-3f, 0.5f, 0, 0.5f},
	};
	double lrs[3] = {1e-2, 5e-3, 1e-3};
	for (int s = 0; s < 3; s++) {
		rm_adamw_step(&o, p, grads[s], table, 2, lrs[s]);
		int t = s + 1;
		for (int i = 0; i < 7; i++) {
			double g = grads[s][i];
			if (i < 4)
				rp[i] *= 1 - lrs[s] * c.weight_decay;
			rm[i] = c.beta1 * rm[i] + (1 - c.beta1) * g;
			rv[i] = c.beta2 * rv[i] + (1 - c.beta2) * g * g;
			double mh = rm[i] / (1 - pow(c.beta1, t));
			double vh = rv[i] / (1 - pow(c.beta2, t));
			rp[i] -= lrs[s] * mh / (sqrt(vh) + c.eps / 1.0 * 1.0 / 1.0 *
						 (1.0 / sqrt(1 - pow(c.beta2, t))) * sqrt(1 - pow(c.beta2, t)));
		}
	}
	CHECK(o.step == 3, "step counter %llu", (unsigned long long)o.step);
	for (int i = 0; i < 7; i++) {
		char w[32];
		snprintf(w, sizeof w, "adamw param %d", i);
		CHECK_CLOSE(p[i], rp[i], 1e-7, 1e-5, w);
	}
	/* The first step of Adam moves every parameter with a non-zero
	 * gradient by about lr, whatever the gradient's scale. */
	rm_adamw_release(&o);
	CHECK(rm_adamw_init(&o, &c, 7, &err) == 0, "%s", err.msg);
	float q[7] = {0};
	float g1[7] = {1e-4f, -1e4f, 1, -1, 0, 3, -3};
	rm_adamw_step(&o, q, g1, table, 2, 0.01);
	for (int i = 0; i < 7; i++)
		CHECK_CLOSE(q[i], g1[i] == 0 ? 0 : (g1[i] > 0 ? -0.01 : 0.01), 1e-4, 0, "first step ~ lr");
	/* moments are one allocation laid out like the parameters */
	CHECK(o.v == o.m + 7, "v follows m");
	rm_adamw_release(&o);
	struct rm_adamw_config d;
	rm_adamw_config_default(&d);
	CHECK(d.beta1 == 0.9 && d.beta2 == 0.999 && d.eps == 1e-8 && d.weight_decay == 0.01,
	      "defaults");
}

static void
test_schedules(void)
{
	struct rm_lr_schedule s = {RM_LR_LINEAR, 1.0, 10, 110, 0};
	CHECK_CLOSE(rm_lr_at(&s, 0), 0.1, 1e-15, 0, "warmup first step");
	CHECK_CLOSE(rm_lr_at(&s, 9), 1.0, 1e-15, 0, "warmup last step");
	CHECK_CLOSE(rm_lr_at(&s, 10), 1.0, 1e-15, 0, "decay start");
	CHECK_CLOSE(rm_lr_at(&s, 60), 0.5, 1e-15, 0, "linear half");
	CHECK_CLOSE(rm_lr_at(&s, 110), 0.0, 1e-15, 0, "linear end");
	CHECK_CLOSE(rm_lr_at(&s, 500), 0.0, 1e-15, 0, "after end");
	s.kind = RM_LR_COSINE;
	CHECK_CLOSE(rm_lr_at(&s, 60), 0.5, 1e-15, 0, "cosine half");
	CHECK_CLOSE(rm_lr_at(&s, 35), 0.5 * (1 + cos(M_PI * 0.25)), 1e-15, 0, "cosine quarter");
	s.min_ratio = 0.1;
	CHECK_CLOSE(rm_lr_at(&s, 110), 0.1, 1e-15, 0, "cosine floor");
	s.kind = RM_LR_CONSTANT;
	CHECK_CLOSE(rm_lr_at(&s, 5), 0.6, 1e-15, 0, "constant warmup");
	CHECK_CLOSE(rm_lr_at(&s, 1000), 1.0, 1e-15, 0, "constant");
	s.warmup = 0;
	CHECK_CLOSE(rm_lr_at(&s, 0), 1.0, 1e-15, 0, "no warmup");
	struct rm_lr_schedule z = {RM_LR_LINEAR, 2.0, 0, 0, 0};
	CHECK(isfinite(rm_lr_at(&z, 3)), "total 0 does not divide by zero");
	CHECK(rm_lr_kind_parse("cosine") == RM_LR_COSINE && rm_lr_kind_parse("x") == -1, "parse");
}

static void
test_clip(void)
{
	float g[4] = {3, 4, 0, 0};
	CHECK_CLOSE(rm_grad_norm(g, 4), 5, 1e-12, 0, "norm");
	double n = rm_clip_grad_norm(g, 4, 1.0);
	CHECK_CLOSE(n, 5, 1e-12, 0, "clip returns norm before");
	CHECK_CLOSE(rm_grad_norm(g, 4), 1.0, 1e-6, 0, "clipped norm");
	float h[2] = {0.3f, 0.4f};
	rm_clip_grad_norm(h, 2, 1.0);
	CHECK(h[0] == 0.3f && h[1] == 0.4f, "no clip below the limit");
	float bad[3] = {1, NAN, 2};
	CHECK(!isfinite(rm_clip_grad_norm(bad, 3, 1.0)) && bad[0] == 1, "nan detected, g untouched");
	float inf[2] = {INFINITY, 0};
	CHECK(!isfinite(rm_grad_norm(inf, 2)), "inf detected");
	float big[2] = {3e38f, 3e38f};
	CHECK(isfinite(rm_grad_norm(big, 2)), "large finite values do not overflow");
}

int
main(void)
{
	test_adamw();
	test_schedules();
	test_clip();
	test_threads();
	return check_done();
}
