/*
 * metrics.c - pair metrics accumulator.
 */
#include "train/metrics.h"

#include <math.h>

#include "nn/loss.h"

void
rm_pair_metrics_add(struct rm_pair_metrics *m, const struct rm_pair_input *in)
{
	double z = in->label ? in->delta : -in->delta;
	double p = rm_sigmoid(in->delta), y = in->label ? 1.0 : 0.0;
	int b = (int)(p * RM_ECE_BINS);

	if (b >= RM_ECE_BINS)
		b = RM_ECE_BINS - 1;
	m->n++;
	m->right += z > 0;
	m->tie += z == 0;
	m->margin += z;
	m->brier += (p - y) * (p - y);
	m->bin_n[b]++;
	m->bin_p[b] += p;
	m->bin_y[b] += y;
	if (in->has_rewards) {
		m->nrew++;
		m->c_sum += in->chosen;
		m->c_sq += in->chosen * in->chosen;
		m->r_sum += in->rejected;
		m->r_sq += in->rejected * in->rejected;
	}
	if (in->truth) {
		double zt = in->truth > 0 ? in->delta : -in->delta;
		m->truth_n++;
		m->truth_right += zt > 0;
		m->truth_tie += zt == 0;
	}
	if (in->decile >= 0 && in->decile < RM_DECILES) {
		m->dec_n[in->decile]++;
		m->dec_right[in->decile] += z > 0;
	}
}

static double
frac(size_t a, size_t n)
{
	return n ? (double)a / (double)n : NAN;
}

static double
pop_std(double sum, double sq, size_t n)
{
	double mean = sum / (double)n, v = sq / (double)n - mean * mean;

	return v > 0 ? sqrt(v) : 0;
}

void
rm_pair_metrics_get(const struct rm_pair_metrics *m, struct rm_pair_summary *s)
{
	double n = (double)m->n;

	s->n = m->n;
	s->accuracy = frac(m->right, m->n);
	s->ties = frac(m->tie, m->n);
	s->wrong = frac(m->n - m->right - m->tie, m->n);
	s->margin_mean = m->n ? m->margin / n : NAN;
	s->brier = m->n ? m->brier / n : NAN;
	s->ece = m->n ? 0 : NAN;
	for (int b = 0; b < RM_ECE_BINS; b++)
		if (m->bin_n[b])
			s->ece += (double)m->bin_n[b] / n *
			    fabs(m->bin_p[b] / (double)m->bin_n[b] -
				m->bin_y[b] / (double)m->bin_n[b]);
	s->has_rewards = m->n && m->nrew == m->n;
	s->chosen_mean = s->chosen_std = s->rejected_mean = s->rejected_std = NAN;
	if (s->has_rewards) {
		s->chosen_mean = m->c_sum / n;
		s->chosen_std = pop_std(m->c_sum, m->c_sq, m->n);
		s->rejected_mean = m->r_sum / n;
		s->rejected_std = pop_std(m->r_sum, m->r_sq, m->n);
	}
	s->truth_n = m->truth_n;
	s->truth_accuracy = frac(m->truth_right, m->truth_n);
	s->truth_ties = frac(m->truth_tie, m->truth_n);
	for (int d = 0; d < RM_DECILES; d++) {
		s->decile[d] = frac(m->dec_right[d], m->dec_n[d]);
		s->decile_n[d] = m->dec_n[d];
	}
}
