/*
 * pairs.h - token streams in memory, for training and scoring: records
 * (pairs, single responses, groups of k responses), deterministic shuffling
 * per epoch, and batching by a token budget.
 *
 * A struct rm_pairs holds records read from a tensor stream written by
 * rm-tokenize: per record `id` and `hash` (u64), `prompt_len` (i32), the
 * optional `margin` and `target` (f32 or f64 scalars), and the sequences:
 * `chosen` and `rejected` for a pair, `response` for a single, `responses`
 * (k sequences concatenated) with `offsets` (i64, k + 1 entries) for a group.
 * Every sequence is kept whole (prompt included), as the model reads it.
 * One set holds one kind of record; a stream that mixes kinds is an error.
 *
 * Sequence j of record i is tokens[seq_off[rec[i].seq + j] ..
 * seq_off[rec[i].seq + j + 1]).  For a pair, j = 0 is chosen and j = 1 is
 * rejected.
 *
 * Memory is bounded: options give the most records and tokens a set may
 * hold, and a sequence longer than max_len is an error naming the record
 * (or, with truncate, loses its oldest tokens: the end, where the model
 * reads the reward, is kept).  Loading may allocate; nothing else here does.
 *
 * Ownership: the set owns its arrays; pointers into them stay valid until
 * the next rm_pairs_read, rm_pairs_clear or rm_pairs_free (NULL-tolerant).
 */
#ifndef RM_PAIRS_H
#define RM_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "stream/tstream.h"

enum rm_pairs_kind {
	RM_PAIRS_ANY = 0,    /* options: take the kind of the first record */
	RM_PAIRS_PAIR = 1,
	RM_PAIRS_SINGLE = 2,
	RM_PAIRS_GROUP = 3,
};

/* Most responses in one group. */
#define RM_PAIRS_MAX_GROUP 65535
/* Largest vocabulary a stream may declare (the largest published is 256k). */
#define RM_PAIRS_MAX_VOCAB ((long)1 << 24)

struct rm_pairs_options {
	enum rm_pairs_kind kind;  /* required kind, or RM_PAIRS_ANY */
	size_t max_len;       /* longest sequence allowed; 0: no limit */
	int truncate;         /* keep the last max_len tokens instead of failing */
	size_t max_records;   /* 0: 1 << 28 */
	size_t max_tokens;    /* all sequences together; 0: 1 << 31 */
};

struct rm_pairs_rec {
	uint64_t id, hash;
	size_t seq;           /* index of the record's first sequence */
	uint32_t n_seq;       /* 2 pair, 1 single, k group */
	int32_t prompt_len;
	float margin, target; /* 0 and 1 when the stream has none */
	size_t index;         /* 0-based position in the stream */
};

struct rm_pairs {
	enum rm_pairs_kind kind;  /* RM_PAIRS_ANY while empty */
	size_t n;                 /* records */
	struct rm_pairs_rec *rec;
	size_t n_seqs;            /* sequences */
	size_t *seq_off;          /* [n_seqs + 1] into tokens */
	int32_t *tokens;
	size_t n_tokens;
	size_t longest_seq;       /* tokens in the longest sequence */
	size_t longest_rec;       /* tokens in the largest record */
	size_t n_truncated;       /* records cut to max_len */
	size_t n_margin, n_target; /* records carrying margin / target */
	size_t n_read;            /* records read from the stream so far */
	/* from the stream header's metadata (-1 when absent) */
	long vocab_size, eos_id;
	long bos_id;              /* the BOS the stream's sequences start with */
	char tokenizer[64];       /* "" when absent */
	char tokenizer_hash[32];  /* "" when absent */
	char tmpl[32];            /* the chat template ("template"); "" when absent */
	char tmpl_hash[32];       /* its text's hash ("template_hash"); "" when absent */
	char name[256];           /* the stream's name, for messages ("" if unknown) */

	/* private */
	struct rm_pairs_options opt;
	size_t cap_rec, cap_seq, cap_tok;
};

/* An empty set; o may be NULL for the defaults. */
int rm_pairs_new(struct rm_pairs **out, const struct rm_pairs_options *o,
		 struct rm_error *err);
void rm_pairs_free(struct rm_pairs *p);
/* Forget the records (keep the capacity and metadata). */
void rm_pairs_clear(struct rm_pairs *p);

/* Read vocab_size, eos_id, tokenizer, tokenizer_hash, template and template_hash
 * from a stream's metadata JSON.  vocab_size must be an integer in
 * 1..RM_PAIRS_MAX_VOCAB, eos_id and bos_id integers in -1..vocab_size-1
 * (-1: none) when present; otherwise RM_EDATA ("header: vocab_size 1e+09
 * is not an integer in 1..16777216"; the caller adds the stream's name). */
int rm_pairs_set_meta(struct rm_pairs *p, const char *json,
		      struct rm_error *err);

/*
 * rm_pairs_read - append records from r until the stream ends (returns 0),
 * or until the set holds at least max_records records or max_tokens tokens
 * (0: no such stop; returns 1: more may follow).  Errors name the stream
 * and the record: "pairs.rmt: record 17: sequence 'chosen' has 1300
 * tokens, more than 1024".
 */
int rm_pairs_read(struct rm_pairs *p, struct rm_tsr *r, size_t max_records,
		  size_t max_tokens, struct rm_error *err);

/*
 * rm_pairs_open - open the token stream at path (NULL or "-": stdin) for
 * reading in chunks with rm_pairs_read: a new empty set with the stream's
 * metadata, the input and its reader (the caller closes both, reader
 * first).  A stream that is not a tensor stream is an error.
 */
int rm_pairs_open(struct rm_pairs **out, struct rm_in **in, struct rm_tsr **r,
		  const char *path, const struct rm_pairs_options *o,
		  struct rm_error *err);

/*
 * rm_pairs_load - the whole token stream at path (NULL or "-": stdin) into
 * a new set, metadata included.
 */
int rm_pairs_load(struct rm_pairs **out, const char *path,
		  const struct rm_pairs_options *o, struct rm_error *err);

/* Tokens in record i (all its sequences). */
size_t rm_pairs_rec_tokens(const struct rm_pairs *p, size_t i);

/* Fail (RM_EDATA, naming the record) if a token id is outside [0, vocab). */
int rm_pairs_check_vocab(const struct rm_pairs *p, long vocab,
			 const char *name, struct rm_error *err);

/*
 * A fingerprint of the set's content (ids, hashes, tokens, margins,
 * targets), to check on resume that training continues on the same data.
 */
uint64_t rm_pairs_fingerprint(const struct rm_pairs *p);

/*
 * rm_pairs_order - order[0..n) for an epoch: 0..n-1 shuffled by the stream
 * (seed, "data", epoch) when shuffle is set, in order otherwise.  The same
 * seed and epoch always give the same order.
 */
void rm_pairs_order(size_t *order, size_t n, uint64_t seed, uint64_t epoch,
		    int shuffle);

/*
 * rm_pairs_fit - how many leading records of idx[0..n) make one batch:
 * as many as fit max_tokens tokens and max_records records (0: no limit
 * on that count), at least one unless the first alone is over the token
 * budget (then 0).
 */
size_t rm_pairs_fit(const struct rm_pairs *p, const size_t *idx, size_t n,
		    size_t max_tokens, size_t max_records);

/*
 * rm_pairs_pack - the sequences of records idx[0..k) as a packed model
 * batch: tokens and offsets ([n_seq + 1]) as struct rm_batch wants;
 * keys[n_seq] (may be NULL), a dropout key per sequence that depends only on
 * the record's position in the stream and the sequence's place in the
 * record; seqs[n_seq] (may be NULL), each sequence's index in the set.
 * Pairs go chosen first then rejected: sequence i is the chosen of idx[i]
 * and sequence k + i its rejected, so the rewards split into r_chosen[k]
 * and r_rejected[k].  Singles and groups go record by record.  The caller
 * sizes the arrays (rm_pairs_fit bounds tokens; sequences are at most
 * k * the largest group).  Returns the number of sequences.
 */
size_t rm_pairs_pack(const struct rm_pairs *p, const size_t *idx, size_t k,
		     int32_t *tokens, size_t *offsets, uint64_t *keys,
		     size_t *seqs);

#endif
