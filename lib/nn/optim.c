/*
 * optim.c - AdamW with decoupled weight decay, schedules, clipping.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
	for (size_t t = 0; t < ntensors; t++) {
		const struct rm_param *p = &table[t];
		float decay = p->decay ? (float)(1.0 - lr * o->cfg.weight_decay) : 1.0f;
		float *w = params + p->offset, *m = o->m + p->offset, *v = o->v + p->offset;
		const float *g = grads + p->offset;
		for (size_t i = 0; i < p->numel; i++) {
			float gi = g[i];
			m[i] = fb1 * m[i] + fa1 * gi;
			v[i] = fb2 * v[i] + fa2 * gi * gi;
			float denom = sqrtf(v[i]) * rbc2 + eps;
			w[i] = w[i] * decay - step_size * m[i] / denom;
		}
	}
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

double
rm_grad_norm(const float *g, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)g[i] * g[i];
	return sqrt(s);
}

double
rm_clip_grad_norm(float *g, size_t n, double max_norm)
{
	double norm = rm_grad_norm(g, n);
	if (!isfinite(norm) || !(norm > max_norm))
		return norm;
	float f = (float)(max_norm / (norm + 1e-6));
	for (size_t i = 0; i < n; i++)
		g[i] *= f;
	return norm;
}
