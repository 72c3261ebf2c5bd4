/*
 * t-loss.c - the pairwise loss against a long-double scalar reference.
 *
 * Variants t = 1, 0, 0.8 (smoothed), 0.5, with and without margin, and
 * extreme z = +-100, +-700, +-1e4 (finite, no inf or nan).  Loss and
 * gradient: |a - b| <= 1e-12 + 1e-12 |b| (the reference is the same
 * formula in long double, evaluated naively where that is safe and with
 * log1pl otherwise).
 */
#include <stdlib.h>

#include "check.h"
#include "nn/loss.h"

/* -[t log s(z) + (1-t) log s(-z)] in long double. */
static long double
ref_loss(long double z, long double t)
{
	/* log s(z) = -log(1 + e^-z); for z < 0 write it as z - log(1 + e^z) */
	long double ls = z >= 0 ? -log1pl(expl(-z)) : z - log1pl(expl(z));
	long double lsn = -z >= 0 ? -log1pl(expl(z)) : -z - log1pl(expl(-z));
	return -(t * ls + (1 - t) * lsn);
}

static long double
ref_grad(long double z, long double t)
{
	return 1.0L / (1.0L + expl(-z)) - t;
}

int
main(void)
{
	static const double zs[] = {0, 1e-8, -1e-8, 0.5, -0.5, 3, -3, 20, -20, 40, -40,
				    100, -100, 700, -700, 1e4, -1e4};
	static const double ts[] = {1, 0, 0.8, 0.5, 0.2};
	static const double ms[] = {0, 0.7, -1.3};
	for (size_t i = 0; i < sizeof zs / sizeof *zs; i++)
		for (size_t j = 0; j < sizeof ts / sizeof *ts; j++)
			for (size_t k = 0; k < sizeof ms / sizeof *ms; k++) {
				double delta = zs[i] + ms[k], g;
				double l = rm_pair_loss(delta, ms[k], ts[j], &g);
				long double z = (long double)delta - ms[k];
				char what[96];
				snprintf(what, sizeof what, "loss z=%g t=%g m=%g", (double)z, ts[j], ms[k]);
				CHECK(isfinite(l) && isfinite(g), "%s finite", what);
				CHECK_CLOSE(l, (double)ref_loss(z, ts[j]), 1e-12, 1e-12, what);
				snprintf(what, sizeof what, "grad z=%g t=%g m=%g", (double)z, ts[j], ms[k]);
				CHECK_CLOSE(g, (double)ref_grad(z, ts[j]), 1e-12, 1e-12, what);
			}
	/* known values: baseline at z = 0 is log 2; flipped is the mirror */
	CHECK_CLOSE(rm_pair_loss(0, 0, 1, NULL), log(2.0), 1e-15, 0, "log 2");
	CHECK_CLOSE(rm_pair_loss(2, 0, 0, NULL), rm_pair_loss(-2, 0, 1, NULL), 1e-15, 0, "flip = mirror");
	CHECK_CLOSE(rm_pair_loss(1, 1, 1, NULL), log(2.0), 1e-15, 0, "margin shifts z");
	CHECK(rm_pair_loss(100, 0, 1, NULL) < 1e-40 && rm_pair_loss(100, 0, 1, NULL) >= 0,
	      "tiny loss for a confident right answer");
	CHECK_CLOSE(rm_pair_loss(-100, 0, 1, NULL), 100, 1e-12, 0, "linear for a confident wrong answer");
	/* smoothed target: the minimum is at s(z) = t with value H(t) */
	double t = 0.8, zmin = log(t / (1 - t)), gmin;
	double h = -(t * log(t) + (1 - t) * log(1 - t));
	CHECK_CLOSE(rm_pair_loss(zmin, 0, t, &gmin), h, 1e-12, 0, "smoothed minimum = entropy");
	CHECK_CLOSE(gmin, 0, 1e-12, 0, "gradient 0 at the smoothed minimum");
	CHECK_CLOSE(rm_softplus(-800), 0, 1e-300, 0, "softplus underflow");
	CHECK_CLOSE(rm_softplus(800), 800, 0, 1e-15, "softplus large");
	CHECK_CLOSE(rm_log_sigmoid(-800), -800, 0, 1e-15, "log sigmoid large negative");
	CHECK(rm_sigmoid(-800) >= 0 && rm_sigmoid(800) == 1, "sigmoid extremes");

	/* batch mean and its gradients */
	float rc[4] = {1, 0, 3, -2}, rr[4] = {0, 1, 3, 5}, mg[4] = {0.5f, 0, 0, -1};
	float tg[4] = {1, 0, 0.8f, 1}, drc[4], drr[4];
	double L = rm_pairwise_loss(4, rc, rr, mg, tg, drc, drr);
	double Lref = 0;
	for (int i = 0; i < 4; i++) {
		double gi;
		Lref += rm_pair_loss((double)rc[i] - rr[i], mg[i], tg[i], &gi) / 4;
		CHECK_CLOSE(drc[i], gi / 4, 1e-7, 1e-6, "d_rc");
		CHECK_CLOSE(drr[i], -gi / 4, 1e-7, 1e-6, "d_rr");
	}
	CHECK_CLOSE(L, Lref, 1e-14, 1e-14, "batch mean");
	CHECK_CLOSE(rm_pairwise_loss(4, rc, rr, NULL, NULL, NULL, NULL),
		    (rm_pair_loss(1, 0, 1, NULL) + rm_pair_loss(-1, 0, 1, NULL) +
		     rm_pair_loss(0, 0, 1, NULL) + rm_pair_loss(-7, 0, 1, NULL)) / 4,
		    1e-14, 1e-14, "defaults t = 1, m = 0");
	CHECK(rm_pairwise_loss(0, NULL, NULL, NULL, NULL, NULL, NULL) == 0, "empty batch");

	/* accuracy: pair 0 right, 1 wrong, 2 tie, 3 right under flipped target */
	float ac[4] = {2, 0, 1, -1}, ar[4] = {1, 1, 1, 0}, at[4] = {1, 1, 1, 0};
	CHECK_CLOSE(rm_pair_accuracy(4, ac, ar, NULL, at), (1 + 0 + 0.5 + 1) / 4.0, 0, 0, "accuracy");
	float am[4] = {2, 0, 0, 0};
	CHECK_CLOSE(rm_pair_accuracy(4, ac, ar, am, at), (0 + 0 + 0.5 + 1) / 4.0, 0, 0,
		    "accuracy with margin");
	CHECK(rm_pair_correct(1, 0, 0.5) == 0.5, "undecided target");
	return check_done();
}
