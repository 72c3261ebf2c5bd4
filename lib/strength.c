/*
 * strength.c - strength file loading, ranks, lookup by id.
 */
#include "strength.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "jsonl.h"
#include "jsonraw.h"
#include "stats.h"

struct id_index {
	uint64_t id;
	size_t i;
};

static int
cmp_id(const void *a, const void *b)
{
	const struct id_index *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

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
	size_t *rank = NULL;
	struct id_index *tmp = NULL;
	double *mean = NULL;
	int rc;

	memset(t, 0, sizeof *t);
	if ((rc = rm_in_open(&in, path, err)) < 0)
		return rc;
	snprintf(t->name, sizeof t->name, "%s", rm_in_name(in));
	if ((rc = rm_jsonl_open(&js, in, err)) < 0 || (rc = load(t, js, err)) < 0)
		goto out;
	t->by_id = malloc((t->n + 1) * sizeof *t->by_id);
	rank = malloc((t->n + 1) * sizeof *rank);
	tmp = malloc((t->n + 1) * sizeof *tmp);
	mean = malloc((t->n + 1) * sizeof *mean);
	if (t->by_id == NULL || rank == NULL || tmp == NULL || mean == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		mean[i] = t->e[i].mean;
		tmp[i].id = t->e[i].id;
		tmp[i].i = i;
	}
	if ((rc = rm_rank_order(mean, t->n, rank)) < 0) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t r = 0; r < t->n; r++)
		t->e[rank[r]].rank = r;
	qsort(tmp, t->n, sizeof *tmp, cmp_id);
	for (size_t i = 0; i < t->n; i++)
		t->by_id[i] = tmp[i].i;
	for (size_t i = 1; i < t->n; i++) {
		const struct rm_strength_entry *a = &t->e[t->by_id[i - 1]];
		const struct rm_strength_entry *b = &t->e[t->by_id[i]];
		if (a->id == b->id) {
			rc = rm_error_set(err, RM_EDATA, "%s:%zu: id %llu already on line %zu",
			    t->name, a->line > b->line ? a->line : b->line,
			    (unsigned long long)a->id,
			    a->line < b->line ? a->line : b->line);
			goto out;
		}
	}
	rc = 0;
out:
	free(rank);
	free(tmp);
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
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t x = t->e[t->by_id[mid]].id;

		if (x == id)
			return &t->e[t->by_id[mid]];
		if (x < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
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
	free(t->by_id);
	memset(t, 0, sizeof *t);
}
