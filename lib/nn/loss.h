/*
 * loss.h - the pairwise preference loss (DESIGN.md section 6).
 *
 * With delta = r_chosen - r_rejected, margin m and target t (probability
 * that chosen is preferred: 1 baseline, 0 flipped, 1 - alpha smoothed):
 *
 *   z = delta - m,   L = -[t log s(z) + (1 - t) log s(-z)],   dL/dz = s(z) - t
 *
 * where s is the logistic sigmoid.  Computed in double with a stable
 * log-sigmoid (log s(x) = -softplus(-x)), finite for every finite z.
 */
#ifndef RM_LOSS_H
#define RM_LOSS_H

#include <stddef.h>

/* log(1 + exp(x)) without overflow or cancellation. */
double rm_softplus(double x);
/* log s(x) = -softplus(-x). */
double rm_log_sigmoid(double x);
/* s(x) = 1 / (1 + exp(-x)) without overflow. */
double rm_sigmoid(double x);

/* Loss of one pair; *dldz (if not NULL) gets s(z) - t. */
double rm_pair_loss(double delta, double margin, double target, double *dldz);

/*
 * Mean loss over n pairs.  rc, rr: rewards of chosen and rejected; margin
 * and target may be NULL (0 and 1).  d_rc and d_rr (either may be NULL)
 * receive dMean/dr_c = (s(z) - t) / n and dMean/dr_r = -(s(z) - t) / n,
 * overwriting.  n == 0 gives 0.
 */
double rm_pairwise_loss(size_t n, const float *rc, const float *rr,
			const float *margin, const float *target, float *d_rc,
			float *d_rr);

/*
 * Correctness of one pair: 1 when the model's preference agrees with the
 * label (z > 0 with t > 0.5, or z < 0 with t < 0.5), 0 when it disagrees,
 * 0.5 on a tie (z == 0) or an undecided target (t == 0.5).  Use margin 0
 * for plain accuracy, the training margin for "(delta - m) > 0" accuracy.
 */
double rm_pair_correct(double delta, double margin, double target);
/* Mean of rm_pair_correct over n pairs (margin, target may be NULL). */
double rm_pair_accuracy(size_t n, const float *rc, const float *rr,
			const float *margin, const float *target);

#endif
