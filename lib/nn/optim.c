/*
 * optim.c - AdamW with decoupled weight decay, schedules, clipping.
 */
#include <math.h>
#include <stdlib.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <string.h>

#include "nn/gemm.h"
#include "nn/optim.h"

void
rm_adamw_config_default(struct rm_adamw_config *c)
{
	c->beta1 = 0.9;
	c->beta2 = 0.999;
	c->eps = 1e-8;
	c->weight_decay = 0.01;
}

int
rm_adamw_init(struct rm_adamw *o, const struct rm_adamw_config *c, size_t n,
	      struct rm_error *err)
{
	size_t bytes;
	memset(o, 0, sizeof *o);
	o->cfg = *c;
	if (rm_checked_size(2 * sizeof(float), n, SIZE_MAX / 2, &bytes) < 0)
		return rm_error_set(err, RM_ENOMEM, "optimizer state for %zu parameters is too large", n);
	o->m = calloc(1, bytes ? bytes : 1);
	if (!o->m)
		return rm_error_set(err, RM_ENOMEM, "out of memory for optimizer state (%zu bytes)", bytes);
	o->v = o->m + n;
	o->n = n;
	return 0;
}

void
rm_adamw_release(struct rm_adamw *o)
{
	free(o->m);
	o->m = o->v = NULL;
	o->n = 0;
}

/*
 * The memory-bound passes over every parameter run in chunks of CHUNK
 * floats on the product threads (rm_gemm_parallel): each chunk writes
 * only its own elements, so the result is the same on any thread count.
 * The AdamW loop has an AVX2 version with the same operations in the same
 * order (sqrt and division are correctly rounded in every lane, no fused
 * multiply-adds: the same bits as the scalar loop); the norm's and the
 * clipping's loops are compiled for AVX2 too.
 */
#define CHUNK ((size_t)1 << 16)

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ELEMENT_FN __attribute__((target_clones("avx2", "default")))
#else
#define ELEMENT_FN
#endif

struct adamw_job {
	const struct rm_param *table;
	size_t ntensors;
	float *w, *m, *v;
	const float *g;
	float step_size, rbc2, eps, fb1, fb2, fa1, fa2, decay;
};

#if defined(__x86_64__) && defined(__GNUC__)
/* The loop below on 8 lanes, operation for operation; returns how many
 * elements it did. */
__attribute__((target("avx2"))) static size_t
adamw_avx2(float *w, float *m, float *v, const float *g, size_t n, const struct adamw_job *j,
	   float decay)
{
	__m256 b1 = _mm256_set1_ps(j->fb1), b2 = _mm256_set1_ps(j->fb2);
	__m256 a1 = _mm256_set1_ps(j->fa1), a2 = _mm256_set1_ps(j->fa2);
	__m256 rbc2 = _mm256_set1_ps(j->rbc2), eps = _mm256_set1_ps(j->eps);
	__m256 step = _mm256_set1_ps(j->step_size), dec = _mm256_set1_ps(decay);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 gi = _mm256_loadu_ps(g + i);
		__m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
					  _mm256_mul_ps(a1, gi));
		__m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
					  _mm256_mul_ps(_mm256_mul_ps(a2, gi), gi));
		_mm256_storeu_ps(m + i, mi);
		_mm256_storeu_ps(v + i, vi);
		__m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), rbc2), eps);
		_mm256_storeu_ps(w + i, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(w + i), dec),
						      _mm256_div_ps(_mm256_mul_ps(step, mi), den)));
	}
	return i;
}
#endif

static void
adamw_elems(float *w, float *m, float *v, const float *g, size_t n, const struct adamw_job *j,
	    float decay)
{
	float step_size = j->step_size, rbc2 = j->rbc2, eps = j->eps;
	float fb1 = j->fb1, fb2 = j->fb2, fa1 = j->fa1, fa2 = j->fa2;
	size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("avx2"))
		i = adamw_avx2(w, m, v, g, n, j, decay);
#endif
	for (; i < n; i++) {
		float gi = g[i];
		float mi = fb1 * m[i] + fa1 * gi;
		float vi = fb2 * v[i] + fa2 * gi * gi;
		m[i] = mi;
		v[i] = vi;
		float denom = sqrtf(vi) * rbc2 + eps;
		w[i] = w[i] * decay - step_size * mi / denom;
	}
}

/* chunk t: the parameters [t * CHUNK, (t + 1) * CHUNK) of every tensor
 * that has some */
static void
adamw_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	const struct adamw_job *j = ctx;
	size_t lo = t * CHUNK, hi = lo + CHUNK;
	for (size_t k = 0; k < j->ntensors; k++) {
		const struct rm_param *p = &j->table[k];
		size_t a = p->offset > lo ? p->offset : lo;
		size_t b = p->offset + p->numel < hi ? p->offset + p->numel : hi;
		if (a < b)
			adamw_elems(j->w + a, j->m + a, j->v + a, j->g + a, b - a, j,
				    p->decay ? j->decay : 1.0f);
	}
}

void
rm_adamw_step(struct rm_adamw *o, float *params, const float *grads,
	      const struct rm_param *table, size_t ntensors, double lr)
{
	o->step++;
	double b1 = o->cfg.beta1, b2 = o->cfg.beta2;
	double bc1 = 1.0 - pow(b1, (double)o->step);
	double bc2 = 1.0 - pow(b2, (double)o->step);
	float step_size = (float)(lr / bc1);
	float rbc2 = (float)(1.0 / sqrt(bc2));
	float eps = (float)o->cfg.eps;
	float fb1 = (float)b1, fb2 = (float)b2;
	float fa1 = (float)(1.0 - b1), fa2 = (float)(1.0 - b2);
	struct adamw_job j = {table, ntensors, params, o->m, o->v, grads, step_size, rbc2, eps,
			      fb1, fb2, fa1, fa2, (float)(1.0 - lr * o->cfg.weight_decay)};
	size_t end = 0;
	for (size_t t = 0; t < ntensors; t++)
		if (table[t].offset + table[t].numel > end)
			end = table[t].offset + table[t].numel;
	rm_gemm_parallel((end + CHUNK - 1) / CHUNK, adamw_task, &j);
}

double
rm_lr_at(const struct rm_lr_schedule *s, uint64_t step)
{
	if (s->warmup > 0 && step < s->warmup)
		return s->lr * (double)(step + 1) / (double)s->warmup;
	if (s->kind == RM_LR_CONSTANT)
		return s->lr;
	double prog = 1.0;
	if (s->total > s->warmup)
		prog = (double)(step - s->warmup) / (double)(s->total - s->warmup);
	if (prog > 1)
		prog = 1;
	if (prog < 0)
		prog = 0;
	double f = s->kind == RM_LR_COSINE ? 0.5 * (1.0 + cos(M_PI * prog)) : 1.0 - prog;
	return s->lr * (s->min_ratio + (1.0 - s->min_ratio) * f);
}

int
rm_lr_kind_parse(const char *name)
{
	if (!strcmp(name, "constant"))
		return RM_LR_CONSTANT;
	if (!strcmp(name, "linear"))
		return RM_LR_LINEAR;
	if (!strcmp(name, "cosine"))
		return RM_LR_COSINE;
	return -1;
}

typedef double vd4 __attribute__((vector_size(32)));

struct norm_job {
	float *g;
	size_t n, chunk;
	double *part;
	float f;
};

/* chunk t's sum of squares, in double, in index order */
ELEMENT_FN static void
norm_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	struct norm_job *j = ctx;
	size_t lo = t * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n, i = lo;
	const float *g = j->g;
	vd4 a0 = {0, 0, 0, 0}, a1 = a0;
	for (; i + 8 <= hi; i += 8) { /* eight running sums: lane l takes i = l mod 8 */
		vd4 x0 = {g[i], g[i + 1], g[i + 2], g[i + 3]};
		vd4 x1 = {g[i + 4], g[i + 5], g[i + 6], g[i + 7]};
		a0 += x0 * x0;
		a1 += x1 * x1;
	}
	double s = ((a0[0] + a1[0]) + (a0[1] + a1[1])) + ((a0[2] + a1[2]) + (a0[3] + a1[3]));
	for (; i < hi; i++)
		s += (double)g[i] * g[i];
	j->part[t] = s;
}

ELEMENT_FN static void
scale_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	struct norm_job *j = ctx;
	size_t lo = t * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
	float f = j->f, *g = j->g;
	for (size_t i = lo; i < hi; i++)
		g[i] *= f;
}

/* The sums of squares of at most NORM_PARTS chunks of n / NORM_PARTS or
 * more (at least CHUNK) floats, added in chunk order: the chunks depend on
 * n only. */
#define NORM_PARTS 1024

double
rm_grad_norm(const float *g, size_t n)
{
	double part[NORM_PARTS];
	size_t chunk = (n + NORM_PARTS - 1) / NORM_PARTS;
	chunk = chunk < CHUNK ? CHUNK : chunk;
	struct norm_job j = {(float *)g, n, chunk, part, 0};
	size_t nt = (n + chunk - 1) / chunk;
	rm_gemm_parallel(nt, norm_task, &j);
	double s = 0;
	for (size_t t = 0; t < nt; t++)
		s += part[t];
	return sqrt(s);
}

double
rm_clip_grad_norm(float *g, size_t n, double max_norm)
{
	double norm = rm_grad_norm(g, n);
	if (!isfinite(norm) || !(norm > max_norm))
		return norm;
	struct norm_job j = {g, n, CHUNK, NULL, (float)(max_norm / (norm + 1e-6))};
	rm_gemm_parallel((n + CHUNK - 1) / CHUNK, scale_task, &j);
	return norm;
}
