/*
 * score.h - rewards of every sequence of a set of records, with one model.
 *
 * The sequences go through the model in batches of at most the
 * workspace's token budget, records whole and in order.  The model makes
 * a sequence's reward independent of the rest of its batch, so the
 * rewards do not depend on the budget (for a given thread count).
 *
 * Scoring allocates its batch arrays per call (it is not the training hot
 * path).  The model and workspace are borrowed.
 */
#ifndef RM_SCORE_H
#define RM_SCORE_H

#include <stddef.h>

#include "base/error.h"
#include "nn/model.h"
#include "train/pairs.h"

/*
 * rm_score_set - rewards[p->n_seqs] in the set's sequence order (for a
 * pair record i: rewards[rec[i].seq] chosen, rewards[rec[i].seq + 1]
 * rejected).  max_tokens is the batch budget, at most the workspace's.
 * Fails naming the first record that does not fit the budget, or the
 * records of a batch whose forward pass failed.
 */
int rm_score_set(struct rm_model *m, struct rm_workspace *ws,
		 size_t max_tokens, const struct rm_pairs *p, float *rewards,
		 struct rm_error *err);

/*
 * rm_score_range - rm_score_set of the records first..first+count only
 * (their rewards at their places in rewards[p->n_seqs]; the rest of the
 * array untouched): each rank's share of a data-parallel evaluation.
 */
int rm_score_range(struct rm_model *m, struct rm_workspace *ws,
		   size_t max_tokens, const struct rm_pairs *p, size_t first,
		   size_t count, float *rewards, struct rm_error *err);

/*
 * rm_ids_list - "ids 3, 17, 42" (up to a dozen, then "and N more") of the
 * records idx[0..k) of p, for messages, into buf.
 */
void rm_ids_list(const struct rm_pairs *p, const size_t *idx, size_t k,
		 char *buf, size_t size);

#endif
