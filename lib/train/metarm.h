/*
 * metarm.h - MetaRM (PAPER.md section 4, DESIGN.md section 1.4): training
 * a reward model on its preference pairs while keeping it able to tell
 * apart responses sampled from the current policy.
 *
 * The difference loss of one prompt with k responses s_1..s_k is
 *
 *   J = (2 / k^2) sum_{i<j} sigma(|r_i - r_j|)            (PAPER.md Eq. 11)
 *   dJ/dr_i = (2 / k^2) sum_{j != i} sigma'(|r_i - r_j|) sign(r_i - r_j)
 *
 * with sigma' = sigma (1 - sigma) and sign(0) = 0 (J is flat in the
 * difference there, at its minimum).  A meta batch's J is the mean over its
 * groups.
 *
 * One MetaRM step (Algorithm 1, first order):
 *   1. J(X_s) and its gradient g_J at theta, on m groups of the meta set;
 *   2. theta' = theta + eta g_J  (plain gradient ascent, eta = meta_lr);
 *   3. the pairwise loss on n preference pairs at theta', and its gradient
 *      g_L with respect to theta' (the trainer's ordinary step);
 *   4. theta <- AdamW(theta, g_L): the gradient taken at theta' is applied
 *      to theta; no second-order term.
 * Step 3-4 is the trainer's own step (lib/train/train.h: data order, batching,
 * margins and targets, clipping, schedule, checkpoints), so a MetaRM run
 * is an rm-train run with one look-ahead in front of each step.  The meta
 * set has its own order, reshuffled per pass from (seed, "meta", pass),
 * and its own position, saved with the training state.
 *
 * Ownership: struct rm_metarm borrows the trainer and the group set
 * (both must outlive it) and owns its buffers: a copy of theta, the
 * packed group batch and the meta order, all allocated by
 * rm_metarm_create; a step does not allocate.
 */
#ifndef RM_METARM_H
#define RM_METARM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "train/pairs.h"
#include "train/train.h"

/*
 * rm_metarm_group_j - J of one group's rewards r[k]; when d_r is not NULL,
 * d_r[i] += scale * dJ/dr_i.  *abs_diff_sum (if not NULL) gets the sum of
 * |r_i - r_j| over its k(k-1)/2 pairs.  k < 2 gives 0.
 */
double rm_metarm_group_j(size_t k, const float *r, double scale, float *d_r,
			 double *abs_diff_sum);

struct rm_metarm_options {
	double meta_lr;       /* eta: the ascent step (5e-6) */
	size_t meta_batch;    /* m: groups per step (16) */
	int shuffle;          /* reshuffle the meta set per pass (1) */
};

void rm_metarm_options_default(struct rm_metarm_options *o);
int rm_metarm_options_check(const struct rm_metarm_options *o,
			    struct rm_error *err);

/* Statistics of one meta step on the meta batch, at theta. */
struct rm_metarm_stats {
	double j;              /* mean J over the groups */
	double abs_diff;       /* mean |r_i - r_j| over every pair of every group */
	double j_grad_norm;    /* |g_J| */
	size_t groups, responses, tokens;
	uint64_t meta_pass;    /* passes over the meta set done (position's) */
};

struct rm_metarm {
	struct rm_metarm_options opt;
	struct rm_trainer *tr;         /* borrowed */
	const struct rm_pairs *groups; /* borrowed, kind RM_PAIRS_GROUP */
	uint64_t pass;                 /* meta-set pass of the position */
	size_t pos;                    /* groups of that pass used */

	/* private */
	size_t *order;
	uint64_t order_pass;
	float *theta;                  /* [n_params] saved parameters */
	int32_t *b_tokens;
	size_t *b_offsets;
	uint64_t *b_keys;
	float *b_rewards, *b_drewards;
	size_t max_seqs, max_groups;   /* of one micro-batch */
	size_t *ustart, *ulen;         /* [meta_batch] the micro-batches */
	void *recs;                    /* [meta_batch] their records */
	uint64_t fingerprint;          /* of the group set */
};

/* The meta position's file in a checkpoint directory. */
#define RM_METARM_STATE_FILE "metarm_state.json"

/*
 * rm_metarm_create - MetaRM over trainer tr (which holds the model, the
 * preference pairs and the optimizer) and the group set.  Fails naming
 * the record when a group does not fit the trainer's token budget, holds
 * a token outside the vocabulary, or has fewer than 2 responses.  Sets
 * the trainer's save_extra hook so that rm_trainer_save also writes the
 * meta position (metarm_state.json); rm_metarm_free unsets it.  The
 * trainer's workspace must take the groups' batches (give {groups,
 * o->meta_batch} to rm_trainer_create's also), or the first step fails
 * saying so.
 */
int rm_metarm_create(struct rm_metarm **out, struct rm_trainer *tr,
		     const struct rm_pairs *groups,
		     const struct rm_metarm_options *o, struct rm_error *err);
void rm_metarm_free(struct rm_metarm *mr);

/*
 * rm_metarm_resume - the meta position saved in dir (after
 * rm_trainer_resume on the same dir); fails when the MetaRM options or the
 * group set differ from the saved run's.
 */
int rm_metarm_resume(struct rm_metarm *mr, const char *dir,
		     struct rm_error *err);

/*
 * rm_metarm_step - one MetaRM step (see above): ms gets the meta batch's
 * J statistics, st the trainer's step statistics (either may be NULL).
 * On failure the parameters are those before the step.
 */
int rm_metarm_step(struct rm_metarm *mr, struct rm_metarm_stats *ms,
		   struct rm_train_stats *st, struct rm_error *err);

/*
 * rm_metarm_j - J statistics of the groups idx[0..m) of set p (a group set
 * within the budgets mr was made for) at the current parameters, without
 * dropout; with grads set, d(mean J)/dtheta replaces the model's
 * gradients.  The groups' micro-batches are summed in their order by
 * lib/train/dist.h, so under MPI they are shared by the ranks and give
 * the one-process result.
 */
int rm_metarm_j(struct rm_metarm *mr, const struct rm_pairs *p,
		const size_t *idx, size_t m, int grads,
		struct rm_metarm_stats *ms, struct rm_error *err);

/*
 * rm_metarm_eval - J statistics of a whole group set at the current
 * parameters, no dropout, no parameter change.
 */
int rm_metarm_eval(struct rm_metarm *mr, const struct rm_pairs *groups,
		   struct rm_metarm_stats *ms, struct rm_error *err);

#endif
