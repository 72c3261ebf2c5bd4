/*
 * synth.h - a synthetic preference world with known truth, small enough
 * for a tiny reward model to learn in a minute.
 *
 * Prompts ask about one of a few topics ("How do I fix my sink?");
 * responses are short English-like sentences drawn from a fixed
 * vocabulary.  Each word carries a hidden weight: helpful and careful words
 * are positive, careless and rude words negative, filler zero, and a topic
 * noun counts +1 when it is on the prompt's topic and -1 when it is off
 * (the prompt-dependent part).  The text score of a response is
 *
 *     score = 3 * (sum of its word weights) / (number of words)
 *
 * and its true quality is the score plus Gaussian noise (the part no model
 * can see).  Pairs: chosen is the response of higher true quality, except
 * for a set fraction of flipped pairs (label wrong) and of near-ties (the
 * second response is the first with every word replaced by another of the
 * same weight, so the two differ only by noise).  Ordinary pairs differ by
 * at least a minimum margin.  Groups of k responses come from a shifted
 * distribution (a policy that drifted: better on average, longer, wordier).
 *
 * Every record is a pure function of (seed, split, record number), so the
 * same options give byte-identical output.
 *
 * Ownership: rm_synth_new allocates a generator freed by rm_synth_free
 * (NULL accepted); records are appended to a caller-owned struct rm_buf.
 */
#ifndef RM_SYNTH_H
#define RM_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

struct rm_synth_options {
	uint64_t seed;
	size_t n;             /* training pairs */
	double flip;          /* fraction of training pairs with a wrong label */
	double ties;          /* fraction of training pairs that are near-ties */
	double noise;         /* std of the hidden quality noise */
	double min_margin;    /* least |true margin| of every pair but ties (0..5) */
};

/* Defaults: seed 1, n 4000, flip 0.2, ties 0.2, noise 0.1, min_margin 0.5. */
void rm_synth_defaults(struct rm_synth_options *o);

struct rm_synth;

/* Fails with RM_EUSAGE when flip + ties > 1 or a value is out of range. */
int rm_synth_new(struct rm_synth **sp, const struct rm_synth_options *o,
		 struct rm_error *err);
void rm_synth_free(struct rm_synth *s);

/*
 * rm_synth_pair - append training pair i (< n) as one JSONL line:
 * {"chosen":..,"rejected":..,"true_margin":..,"flipped":..,"tie":..}, with
 * chosen and rejected whole HH-RLHF transcripts.
 */
int rm_synth_pair(struct rm_synth *s, size_t i, struct rm_buf *out);
/* Both fail with RM_EDATA when no pair min_margin apart turned up in a
 * million draws (not seen for margins up to 5), RM_ENOMEM. */
/* rm_synth_test_pair - held-out pair i: never flipped, never a tie. */
int rm_synth_test_pair(struct rm_synth *s, size_t i, struct rm_buf *out);
/*
 * rm_synth_group - group i of k (2..64) responses from the shifted
 * distribution: {"prompt":..,"responses":[..],"true_scores":[..]}.
 */
int rm_synth_group(struct rm_synth *s, size_t i, size_t k, struct rm_buf *out);

/*
 * rm_synth_score - the noiseless text score of response (text after the
 * prompt) for prompt, by the rule above.  Works on any text: unknown words
 * weigh 0; a prompt without a topic noun makes every topic noun off-topic.
 */
double rm_synth_score(const char *prompt, size_t prompt_len,
		      const char *response, size_t response_len);

#endif
