/*
 * fuzz_votes.c - vote streams (votes.h), JSONL or tensor stream, plain or
 * zstd, read alone and as two streams lined up row by row as rm-strength
 * does.  Input: stream A "\n====\n" stream B (B absent: A alone).
 */
#include <math.h>
#include <stdint.h>

#include "fuzz.h"
#include "data/votes.h"

static void
votes_check(const struct rm_vote *v)
{
	if (!v->where || !v->where[0])
		abort();
	switch (v->kind) {
	case RM_VOTE_PAIR:
		if (!isfinite(v->chosen) || !isfinite(v->rejected))
			abort();
		break;
	case RM_VOTE_DELTA:
		if (!isfinite(v->delta))
			abort();
		break;
	case RM_VOTE_SINGLE:
		if (!isfinite(v->reward))
			abort();
		break;
	case RM_VOTE_GROUP:
		for (size_t i = 0; i < v->k; i++)
			if (!isfinite(v->rewards[i]))
				abort();
		break;
	}
}

static int
fuzz_votes(const uint8_t *data, size_t n)
{
	const uint8_t *a, *b;
	size_t an, bn;
	fuzz_split(data, n, &a, &an, &b, &bn);
	int two = memmem(data, n, FUZZ_SEP, 6) != NULL;
	const char *pa = fuzz_file("a.votes", a, an);
	const char *pb = two ? fuzz_file("b.votes", b, bn) : NULL;
	struct rm_error err = {0};
	struct rm_votes *vs[2] = {NULL, NULL};
	int rc = rm_votes_open(&vs[0], pa, &err);
	fuzz_check_err(rc, &err, "rm_votes_open");
	if (rc < 0)
		return 0;
	if (!two) {
		struct rm_vote v;
		for (int i = 0; i < 10000 && (rc = rm_votes_next(vs[0], &v, &err)) == 1; i++)
			votes_check(&v);
		fuzz_check_err(rc, &err, "rm_votes_next");
	} else {
		rc = rm_votes_open(&vs[1], pb, &err);
		fuzz_check_err(rc, &err, "rm_votes_open");
		struct rm_vote v[2];
		for (uint64_t i = 0; rc >= 0 && i < 10000; i++) {
			rc = rm_votes_read_row(vs, 2, v, i, &err);
			fuzz_check_err(rc, &err, "rm_votes_read_row");
			if (rc != 1)
				break;
			votes_check(&v[0]);
			votes_check(&v[1]);
			if (v[0].id != v[1].id)
				abort();
		}
	}
	rm_votes_close(vs[0]);
	rm_votes_close(vs[1]);
	return 0;
}

FUZZ_ENTRY(fuzz_votes)
