/*
 * fuzz_strength.c - strength files (strength.h): load, then every entry
 * found by its id, ranks a permutation of 0..n-1.
 */
#include <math.h>
#include <stdint.h>

#include "fuzz.h"
#include "data/strength.h"

static int
fuzz_strength(const uint8_t *data, size_t n)
{
	const char *path = fuzz_file("strength.jsonl", data, n);
	struct rm_error err = {0};
	struct rm_strength_table t = {0};
	int rc = rm_strength_load(&t, path, &err);
	fuzz_check_err(rc, &err, "rm_strength_load");
	if (rc >= 0) {
		char *seen = calloc(t.n ? t.n : 1, 1);
		for (size_t i = 0; i < t.n; i++) {
			const struct rm_strength_entry *e = &t.e[i];
			if (rm_strength_find(&t, e->id) != e || e->rank >= t.n ||
			    seen[e->rank]++ || !isfinite(e->mean))
				abort();
		}
		free(seen);
		if (rm_strength_cut(&t, 0.1) > t.n || rm_strength_cut(&t, 1.0) != t.n)
			abort();
	}
	rm_strength_release(&t);
	return 0;
}

FUZZ_ENTRY(fuzz_strength)
