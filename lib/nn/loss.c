/*
 * loss.c - soft-target pairwise logistic loss.
 */
#include <math.h>

#include "nn/loss.h"

double
rm_softplus(double x)
{
	/* max(x, 0) + log1p(exp(-|x|)): exp never overflows, and for large
	 * |x| the log1p term underflows gracefully to 0. */
	return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}

double
rm_log_sigmoid(double x)
{
	return -rm_softplus(-x);
}

double
rm_sigmoid(double x)
{
	if (x >= 0)
		return 1.0 / (1.0 + exp(-x));
	double e = exp(x);
	return e / (1.0 + e);
}

double
rm_pair_loss(double delta, double margin, double target, double *dldz)
{
	double z = delta - margin;
	/* -[t log s(z) + (1-t) log s(-z)] = t softplus(-z) + (1-t) softplus(z);
	 * skip a zero-weight term so that t = 1 or t = 0 is exact. */
	double l = 0;
	if (target != 0)
		l += target * rm_softplus(-z);
	if (target != 1)
		l += (1 - target) * rm_softplus(z);
	if (dldz)
		*dldz = rm_sigmoid(z) - target;
	return l;
}

double
rm_pairwise_loss(size_t n, const float *rc, const float *rr,
		 const float *margin, const float *target, float *d_rc,
		 float *d_rr)
{
	if (n == 0)
		return 0;
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		double g;
		sum += rm_pair_loss((double)rc[i] - rr[i], margin ? margin[i] : 0,
				    target ? target[i] : 1, &g);
		g /= (double)n;
		if (d_rc)
			d_rc[i] = (float)g;
		if (d_rr)
			d_rr[i] = (float)-g;
	}
	return sum / (double)n;
}

double
rm_pair_correct(double delta, double margin, double target)
{
	double z = delta - margin;
	if (z == 0 || target == 0.5)
		return 0.5;
	return (z > 0) == (target > 0.5) ? 1.0 : 0.0;
}

double
rm_pair_accuracy(size_t n, const float *rc, const float *rr,
		 const float *margin, const float *target)
{
	if (n == 0)
		return 0;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += rm_pair_correct((double)rc[i] - rr[i], margin ? margin[i] : 0,
				     target ? target[i] : 1);
	return s / (double)n;
}
