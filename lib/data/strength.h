/*
 * strength.h - a strength file (rm-strength output) loaded for lookup by
 * id, with every pair's rank by strength_mean.
 *
 * Records need "id" (u64) and "strength_mean" (finite number);
 * "strength_std" and "hash" are optional.  An id may appear once.  Rank 0
 * is the lowest mean; equal means rank by position in the file, so ranks
 * are a permutation of 0..n-1 and "the lowest 10%" is exactly the ranks
 * below round(0.1 n).
 *
 * Ownership: rm_strength_load fills a caller-owned table that
 * rm_strength_release frees; entries live as long as the table.
 */
#ifndef RM_STRENGTH_H
#define RM_STRENGTH_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "data/idmap.h"

struct rm_strength_entry {
	uint64_t id, hash;
	int has_hash;
	double mean, std;
	size_t rank;             /* 0 = lowest mean */
	size_t line;             /* 1-based line in the file, for messages */
};

struct rm_strength_table {
	struct rm_strength_entry *e;   /* in file order */
	size_t n;
	struct rm_idmap by_id;         /* id -> index into e */
	char name[256];                /* the file's name for messages */
};

int rm_strength_load(struct rm_strength_table *t, const char *path,
		     struct rm_error *err);
/* The entry with this id, or NULL. */
const struct rm_strength_entry *
rm_strength_find(const struct rm_strength_table *t, uint64_t id);
/*
 * rm_strength_match - the join every tool does with a strength file: the
 * entry with this id into *e (NULL when there is none), its hash checked
 * against hash when both sides carry one.  Returns 0, or RM_EDATA naming
 * where (the other side's record, "votes.rmt: record 3") and the strength
 * line when the hashes differ: the two files are not of the same data.
 */
int rm_strength_match(const struct rm_strength_table *t, uint64_t id, int has_hash,
		      uint64_t hash, const char *where,
		      const struct rm_strength_entry **e, struct rm_error *err);
/* The number of ranks below fraction q of the table: round(q * n). */
size_t rm_strength_cut(const struct rm_strength_table *t, double q);
void rm_strength_release(struct rm_strength_table *t);

#endif
