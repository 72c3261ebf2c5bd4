/*
 * stats.c - mean, std, quantiles, rank order.
 */
#include "data/stats.h"

#include "base/error.h"

#include <math.h>
#include <stdlib.h>

void
rm_mean_std(const double *x, size_t n, double *mean, double *std)
{
	double m = 0, v = 0;

	if (n == 0) {
		*mean = *std = 0;
		return;
	}
	for (size_t i = 0; i < n; i++)
		m += x[i];
	m /= (double)n;
	/* two passes: exact for equal values, no cancellation */
	for (size_t i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m);
	*mean = m;
	*std = sqrt(v / (double)n);
}

double
rm_quantile_sorted(const double *sorted, size_t n, double q)
{
	double h = q * (double)(n - 1);
	size_t lo = (size_t)floor(h);

	if (lo >= n - 1)
		return sorted[n - 1];
	return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void
rm_sort_doubles(double *x, size_t n)
{
	qsort(x, n, sizeof *x, cmp_double);
}

struct keyed {
	double x;
	size_t i;
};

static int
cmp_keyed(const void *a, const void *b)
{
	const struct keyed *p = a, *q = b;

	if (p->x != q->x)
		return (p->x > q->x) - (p->x < q->x);
	return (p->i > q->i) - (p->i < q->i);
}

int
rm_rank_order(const double *x, size_t n, size_t *idx)
{
	struct keyed *k = malloc((n ? n : 1) * sizeof *k);

	if (k == NULL)
		return RM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		k[i].x = x[i];
		k[i].i = i;
	}
	qsort(k, n, sizeof *k, cmp_keyed);
	for (size_t i = 0; i < n; i++)
		idx[i] = k[i].i;
	free(k);
	return 0;
}

size_t
rm_rank_group(size_t r, size_t n, size_t g)
{
	/* the largest j with j*n/g <= r */
	size_t j = (size_t)(((unsigned long long)r * g + g - 1) / n);

	while (j > 0 && (unsigned long long)j * n / g > r)
		j--;
	while (j + 1 < g && (unsigned long long)(j + 1) * n / g <= r)
		j++;
	return j;
}
