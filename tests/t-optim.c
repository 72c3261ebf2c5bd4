/*
 * t-optim.c - AdamW against a hand-computed double reference, schedules,
 * clipping and non-finite detection.
 *
 * AdamW: three steps over two tensors (one decayed, one not), compared
 * with the torch.optim.AdamW update written out in double:
 * |a - b| <= 1e-7 + 1e-5 |b| (float state vs double reference).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/optim.h"

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
	return check_done();
}
