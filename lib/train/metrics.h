/*
 * metrics.h - how well reward differences agree with preference labels:
 * accuracy with ties apart, mean margin, Brier score and expected
 * calibration error of sigma(delta), reward scale, accuracy against a
 * second (true) label and per strength decile.
 *
 * A struct rm_pair_metrics is a plain accumulator: zero it, feed it pairs
 * with rm_pair_metrics_add, read the results with rm_pair_metrics_get.
 */
#ifndef RM_METRICS_H
#define RM_METRICS_H

#include <stddef.h>

#define RM_ECE_BINS 10
#define RM_DECILES 10

struct rm_pair_metrics {
	size_t n, right, tie;
	double margin, brier;
	size_t bin_n[RM_ECE_BINS];
	double bin_p[RM_ECE_BINS], bin_y[RM_ECE_BINS];
	size_t nrew;                       /* pairs with both rewards */
	double c_sum, c_sq, r_sum, r_sq;
	size_t truth_n, truth_right, truth_tie;
	size_t dec_n[RM_DECILES], dec_right[RM_DECILES];
};

struct rm_pair_input {
	double delta;             /* r(chosen) - r(rejected) */
	int has_rewards;          /* chosen and rejected below are set */
	double chosen, rejected;
	int label;                /* 1: chosen preferred, 0: rejected */
	int truth;                /* 1 chosen truly better, -1 rejected, 0 unknown */
	int decile;               /* 0..9, or -1 when unknown */
};

void rm_pair_metrics_add(struct rm_pair_metrics *m, const struct rm_pair_input *in);

struct rm_pair_summary {
	size_t n;
	double accuracy, ties, wrong;   /* fractions of n: delta agrees, 0, disagrees */
	double margin_mean;             /* mean of delta oriented to the label */
	double brier;                   /* mean (sigma(delta) - label)^2 */
	double ece;                     /* sum over 10 bins of sigma(delta):
					   n_b/n |mean sigma - mean label| */
	int has_rewards;                /* every pair had both rewards */
	double chosen_mean, chosen_std, rejected_mean, rejected_std;
	size_t truth_n;
	double truth_accuracy, truth_ties;
	double decile[RM_DECILES];      /* accuracy per decile, NAN when empty */
	size_t decile_n[RM_DECILES];
};

void rm_pair_metrics_get(const struct rm_pair_metrics *m,
			 struct rm_pair_summary *s);

#endif
