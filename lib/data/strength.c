/*
 * strength.c - strength file loading, ranks, lookup by id.
 */
#include "data/strength.h"
#include "data/votes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/io.h"
#include "stream/jsonl.h"
#include "stream/jsonraw.h"
#include "data/stats.h"

static int
load(struct rm_strength_table *t, struct rm_jsonl *js, struct rm_error *err)
{
	struct rm_json_record rec;
	size_t cap = 0;
	int rc;

	while ((rc = rm_jsonl_next(js, &rec, err)) == 1) {
		struct rm_strength_entry *x;
		double std = 0;

		if (t->n == cap) {
			size_t ncap = cap ? 2 * cap : 4096;
			void *p = realloc(t->e, ncap * sizeof *t->e);
			if (p == NULL)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			t->e = p;
			cap = ncap;
		}
		x = &t->e[t->n];
		memset(x, 0, sizeof *x);
		x->line = rec.line;
		if ((rc = rm_json_u64(&rec, "id", &x->id, err)) < 0)
			return rc;
		if (rc == 0)
			return rm_error_set(err, RM_EDATA, "%s: field 'id' is missing",
			    rec.where);
		if ((rc = rm_json_u64(&rec, "hash", &x->hash, err)) < 0)
			return rc;
		x->has_hash = rc;
		if ((rc = rm_json_number_opt(&rec, rec.json, "strength_mean",
		    &x->mean, err)) < 0)
			return rc;
		if (rc == 0)
			return rm_error_set(err, RM_EDATA,
			    "%s: field 'strength_mean' is missing", rec.where);
		if (fabs(x->mean) > RM_SCORE_MAX)
			return rm_error_set(err, RM_ENUM, "%s: 'strength_mean' %g is "
			    "beyond +-%g", rec.where, x->mean, RM_SCORE_MAX);
		if ((rc = rm_json_number_opt(&rec, rec.json, "strength_std", &std,
		    err)) < 0)
			return rc;
		x->std = std;
		t->n++;
	}
	return rc;
}

int
rm_strength_load(struct rm_strength_table *t, const char *path,
		 struct rm_error *err)
{
	struct rm_in *in = NULL;
	struct rm_jsonl *js = NULL;
	size_t *rank = NULL, d1, d2;
	uint64_t *ids = NULL;
	double *mean = NULL;
	int rc;

	memset(t, 0, sizeof *t);
	if ((rc = rm_in_open(&in, path, err)) < 0)
		return rc;
	snprintf(t->name, sizeof t->name, "%s", rm_in_name(in));
	if ((rc = rm_jsonl_open(&js, in, err)) < 0 || (rc = load(t, js, err)) < 0)
		goto out;
	rank = malloc((t->n + 1) * sizeof *rank);
	ids = malloc((t->n + 1) * sizeof *ids);
	mean = malloc((t->n + 1) * sizeof *mean);
	if (rank == NULL || ids == NULL || mean == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		mean[i] = t->e[i].mean;
		ids[i] = t->e[i].id;
	}
	if ((rc = rm_rank_order(mean, t->n, rank)) < 0) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t r = 0; r < t->n; r++)
		t->e[rank[r]].rank = r;
	rc = rm_idmap_build(&t->by_id, ids, t->n, &d1, &d2);
	if (rc == RM_EDATA)
		rc = rm_error_set(err, RM_EDATA, "%s:%zu: id %llu already on line %zu",
		    t->name, t->e[d2].line, (unsigned long long)t->e[d2].id,
		    t->e[d1].line);
	else if (rc < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	if (rc < 0)
		goto out;
	rc = 0;
out:
	free(rank);
	free(ids);
	free(mean);
	rm_jsonl_free(js);
	rm_in_close(in);
	if (rc < 0)
		rm_strength_release(t);
	return rc;
}

const struct rm_strength_entry *
rm_strength_find(const struct rm_strength_table *t, uint64_t id)
{
	size_t i = rm_idmap_find(&t->by_id, id);

	return i == RM_IDMAP_NONE ? NULL : &t->e[i];
}

int
rm_strength_match(const struct rm_strength_table *t, uint64_t id, int has_hash,
		  uint64_t hash, const char *where,
		  const struct rm_strength_entry **ep, struct rm_error *err)
{
	const struct rm_strength_entry *e = rm_strength_find(t, id);

	*ep = e;
	if (e != NULL && has_hash && e->has_hash && e->hash != hash) {
		*ep = NULL;
		return rm_error_set(err, RM_EDATA, "%s: id %llu: hash %llu does not match "
				    "%s:%zu (hash %llu): not the data that was scored", where,
				    (unsigned long long)id, (unsigned long long)hash, t->name,
				    e->line, (unsigned long long)e->hash);
	}
	return 0;
}

size_t
rm_strength_cut(const struct rm_strength_table *t, double q)
{
	double c = floor(q * (double)t->n + 0.5);

	return c <= 0 ? 0 : c >= (double)t->n ? t->n : (size_t)c;
}

void
rm_strength_release(struct rm_strength_table *t)
{
	free(t->e);
	rm_idmap_release(&t->by_id);
	memset(t, 0, sizeof *t);
}
