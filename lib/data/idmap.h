/*
 * idmap.h - find a record by its 64-bit id: a sorted index over an array
 * of ids, for tools that join two inputs by id.
 *
 * Ownership: rm_idmap_build fills a caller-owned struct that
 * rm_idmap_release frees; it copies the ids.
 */
#ifndef RM_IDMAP_H
#define RM_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct rm_idmap {
	uint64_t *id;        /* ascending */
	size_t *pos;         /* pos[k]: where id[k] was in the input array */
	size_t n;
};

#define RM_IDMAP_NONE ((size_t)-1)

/*
 * rm_idmap_build - index ids[0..n).  Returns 0; RM_ENOMEM; or RM_EDATA
 * when an id repeats, with *dup_first < *dup_second its two positions.
 */
int rm_idmap_build(struct rm_idmap *m, const uint64_t *ids, size_t n,
		   size_t *dup_first, size_t *dup_second);
/* The position of id in the input array, or RM_IDMAP_NONE. */
size_t rm_idmap_find(const struct rm_idmap *m, uint64_t id);
void rm_idmap_release(struct rm_idmap *m);

#endif
