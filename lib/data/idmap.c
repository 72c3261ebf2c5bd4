/*
 * idmap.c - sorted id index.
 */
#include "data/idmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct id_pos {
	uint64_t id;
	size_t pos;
};

static int
cmp_id_pos(const void *a, const void *b)
{
	const struct id_pos *x = a, *y = b;

	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->pos > y->pos) - (x->pos < y->pos);
}

int
rm_idmap_build(struct rm_idmap *m, const uint64_t *ids, size_t n,
	       size_t *dup_first, size_t *dup_second)
{
	struct id_pos *k = malloc((n ? n : 1) * sizeof *k);

	memset(m, 0, sizeof *m);
	m->id = malloc((n ? n : 1) * sizeof *m->id);
	m->pos = malloc((n ? n : 1) * sizeof *m->pos);
	if (k == NULL || m->id == NULL || m->pos == NULL) {
		free(k);
		rm_idmap_release(m);
		return RM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		k[i].id = ids[i];
		k[i].pos = i;
	}
	qsort(k, n, sizeof *k, cmp_id_pos);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && k[i].id == k[i - 1].id) {
			*dup_first = k[i - 1].pos;
			*dup_second = k[i].pos;
			free(k);
			rm_idmap_release(m);
			return RM_EDATA;
		}
		m->id[i] = k[i].id;
		m->pos[i] = k[i].pos;
	}
	m->n = n;
	free(k);
	return 0;
}

size_t
rm_idmap_find(const struct rm_idmap *m, uint64_t id)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->id[mid] == id)
			return m->pos[mid];
		if (m->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return RM_IDMAP_NONE;
}

void
rm_idmap_release(struct rm_idmap *m)
{
	free(m->id);
	free(m->pos);
	memset(m, 0, sizeof *m);
}
