/*
 * votes.h - reading scores: vote streams written by rm-vote (tensor
 * streams) or the same records as JSONL (rm-vote --jsonl, rm-cat output,
 * or scores from elsewhere), plain or zstd, told apart by content.
 *
 * A record is one of:
 *   pair    "chosen" and "rejected": the two rewards (delta = their
 *           difference);
 *   delta   "delta" alone: a reward difference from elsewhere;
 *   group   "rewards": k rewards for k responses to one prompt;
 *   single  "reward": one response's reward.
 * with "id" (u64; JSONL without it: the 0-based position) and "hash" (u64,
 * optional).  In a tensor stream the scores are f32 scalars (rewards f32
 * [k]) and id, hash u64 scalars.  In JSONL, id and hash are read exactly
 * from the source text (integers, or strings of decimal digits or "0x"
 * hex).  A score that is NaN or infinite is an error naming the record.
 *
 * Ownership: rm_votes_open opens and owns its input; rm_votes_close
 * releases it (NULL accepted).  A struct rm_vote filled by rm_votes_next,
 * its rewards and where string stay valid until the next call.
 */
#ifndef RM_VOTES_H
#define RM_VOTES_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum rm_vote_kind { RM_VOTE_PAIR, RM_VOTE_DELTA, RM_VOTE_GROUP, RM_VOTE_SINGLE };

/*
 * Scores beyond +-RM_SCORE_MAX are refused as records are read (located
 * errors, like non-finite ones): below it, differences, sums and squares
 * over any number of records stay finite, so every report is valid JSON.
 */
#define RM_SCORE_MAX 1e100

struct rm_vote {
	enum rm_vote_kind kind;
	uint64_t index;          /* 0-based position in the stream */
	uint64_t id, hash;
	int has_hash;
	double chosen, rejected; /* pair */
	double delta;            /* pair (chosen - rejected) and delta */
	double reward;           /* single */
	const double *rewards;   /* group: k rewards */
	size_t k;
	const char *where;       /* "votes.rmt: record 3" or "votes.jsonl:4" */
};

struct rm_votes;

/* path NULL or "-" is standard input. */
int rm_votes_open(struct rm_votes **vp, const char *path, struct rm_error *err);
/* 1 with *v filled, 0 at the end, < 0 on error (message names the record). */
int rm_votes_next(struct rm_votes *vs, struct rm_vote *v, struct rm_error *err);
const char *rm_votes_name(const struct rm_votes *vs);
/* 1 when the input is a tensor stream. */
int rm_votes_is_tstream(const struct rm_votes *vs);
void rm_votes_close(struct rm_votes *vs);

/*
 * rm_votes_read_row - record i (counted from 0) of each of m streams into
 * v[0..m), checking that they line up: all end together, every stream has
 * the first one's id and kind (pair and delta mix), and where both carry
 * one, its hash.
 * Returns 1 for a row, 0 when all streams ended, < 0 on error or mismatch
 * ("b.rmt: record 3: id 9 does not match a.jsonl:4 (id 3)").
 */
int rm_votes_read_row(struct rm_votes **vs, size_t m, struct rm_vote *v,
		      uint64_t i, struct rm_error *err);

/* "pair", "delta", "group", "single". */
const char *rm_vote_kind_name(enum rm_vote_kind k);

#endif
