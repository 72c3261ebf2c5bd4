/*
 * stats.h - the small statistics the strength tools share: mean and
 * population standard deviation, quantiles, rank order and equal rank
 * groups.
 *
 * Quantiles interpolate linearly between order statistics (the "type 7"
 * rule of R and numpy's default): q = 0 is the minimum, q = 1 the maximum.
 * Rank order sorts ascending by value and breaks ties by position, so it
 * is deterministic.  Ownership: all functions work on caller arrays.
 */
#ifndef RM_STATS_H
#define RM_STATS_H

#include <stddef.h>

/* Mean and population std (divide by n) of x[0..n); both 0 when n == 0. */
void rm_mean_std(const double *x, size_t n, double *mean, double *std);

/* Quantile q in [0, 1] of sorted[0..n) (ascending, n > 0). */
double rm_quantile_sorted(const double *sorted, size_t n, double q);

/* Sort x[0..n) ascending in place. */
void rm_sort_doubles(double *x, size_t n);

/*
 * rm_rank_order - fill idx[0..n) with 0..n-1 ordered by x ascending, ties
 * by position.  Returns 0, or RM_ENOMEM.
 */
int rm_rank_order(const double *x, size_t n, size_t *idx);

/*
 * rm_rank_group - the group (0..g-1) of rank r among n items split into g
 * equal rank groups: group j holds ranks [j*n/g, (j+1)*n/g) (integer
 * division), so group sizes differ by at most one.
 */
size_t rm_rank_group(size_t r, size_t n, size_t g);

#endif
