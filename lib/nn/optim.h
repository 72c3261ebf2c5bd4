/*
 * optim.h - AdamW, learning-rate schedules, gradient clipping.
 *
 * AdamW follows torch.optim.AdamW: decoupled decay p -= lr*wd*p, then the
 * bias-corrected Adam step.  Weight decay applies only to parameters whose
 * table entry has decay set: by the GPT-2 convention the two-dimensional
 * ones (matrices, embeddings, the score head), never biases or LayerNorm
 * gains.  The moments m and v are one allocation [2 * n] laid out like the
 * parameter buffer (m = mem, v = mem + n), so checkpoints can write them
 * by the same table.
 */
#ifndef RM_OPTIM_H
#define RM_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/param.h"

struct rm_adamw_config {
	double beta1, beta2, eps, weight_decay;
};

/* beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0.01 (PyTorch defaults). */
void rm_adamw_config_default(struct rm_adamw_config *c);

struct rm_adamw {
	struct rm_adamw_config cfg;
	size_t n;        /* number of parameters (floats) */
	float *m, *v;    /* first and second moments; v = m + n */
	uint64_t step;   /* steps taken so far */
};

/* Allocate zero moments for n parameters; rm_adamw_release frees them. */
int rm_adamw_init(struct rm_adamw *o, const struct rm_adamw_config *c, size_t n,
		  struct rm_error *err);
void rm_adamw_release(struct rm_adamw *o);

/*
 * One step with learning rate lr over the tensors of the table:
 * params -= update(grads).  Gradients are read, not cleared.  Increments
 * o->step first (bias correction uses the new count).
 */
void rm_adamw_step(struct rm_adamw *o, float *params, const float *grads,
		   const struct rm_param *table, size_t ntensors, double lr);

/* ---- learning-rate schedules ------------------------------------------ */

enum rm_lr_kind {
	RM_LR_CONSTANT = 0,
	RM_LR_LINEAR = 1,  /* warmup, then linear to min_ratio * lr at total */
	RM_LR_COSINE = 2,  /* warmup, then half cosine to min_ratio * lr */
};

struct rm_lr_schedule {
	enum rm_lr_kind kind;
	double lr;          /* peak */
	uint64_t warmup;    /* steps of linear warmup (0: none) */
	uint64_t total;     /* total steps (decay reaches the floor there) */
	double min_ratio;   /* floor as a fraction of lr, usually 0 */
};

/*
 * Learning rate for the step with 0-based index `step`.  Warmup gives
 * lr * (step + 1) / warmup for step < warmup (never 0, unlike Hugging
 * Face's, whose first step has lr 0); after warmup the decay progress is
 * (step - warmup) / (total - warmup), clamped to [0, 1].
 */
double rm_lr_at(const struct rm_lr_schedule *s, uint64_t step);
/* Parse "constant", "linear", "cosine"; returns -1 if unknown. */
int rm_lr_kind_parse(const char *name);

/* ---- gradient norm, clipping, non-finite detection --------------------- */

/* L2 norm of g[0..n), summed in double in an order that depends on n only
 * (fixed chunks, eight running sums in each), so it is the same on any
 * thread count; inf or nan when g holds a non-finite value.  This, the
 * clipping and rm_adamw_step run on the product threads
 * (rm_gemm_parallel, nn/gemm.h). */
double rm_grad_norm(const float *g, size_t n);
/*
 * Scale g so that its norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_: factor max_norm / (norm + 1e-6) when
 * norm > max_norm).  Returns the norm before clipping.  A non-finite norm
 * leaves g untouched: the caller should skip the step.
 */
double rm_clip_grad_norm(float *g, size_t n, double max_norm);

#endif
