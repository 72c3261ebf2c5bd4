/*
 * fuzz_safetensors.c - rm_st_load on arbitrary files, every view it hands
 * out read in full and converted with rm_st_to_f32; a file that loads is
 * saved again with rm_st_save and must load back with the same tensors.
 */
#include <stdint.h>

#include "fuzz.h"
#include "stream/safetensors.h"

static int
fuzz_safetensors(const uint8_t *data, size_t n)
{
	struct rm_error err = {0};
	struct rm_st *st;
	const char *path = fuzz_file("model.safetensors", data, n);
	int rc = rm_st_load(&st, path, &err);
	fuzz_check_err(rc, &err, "rm_st_load");
	if (rc < 0)
		return 0;
	size_t cnt = rm_st_count(st);
	struct rm_tensor *ts = calloc(cnt ? cnt : 1, sizeof *ts);
	for (size_t i = 0; i < cnt; i++) {
		const struct rm_tensor *t = rm_st_at(st, i);
		if (rm_st_find(st, t->name) != t ||
		    rm_tensor_numel(t) * rm_dtype_size(t->dtype) != t->nbytes)
			abort();
		ts[i] = *t;
		uint64_t numel = rm_tensor_numel(t);
		if (numel <= (1 << 16)) {
			float *f = malloc((numel ? numel : 1) * sizeof *f);
			rc = rm_st_to_f32(t, f, numel, &err);
			fuzz_check_err(rc, &err, "rm_st_to_f32");
			free(f);
		}
	}
	for (size_t i = 0; i < rm_st_metadata_count(st); i++) {
		const char *k, *v;
		rm_st_metadata_at(st, i, &k, &v);
		if (!k || !v || rm_st_metadata(st, k) == NULL)
			abort();
	}
	/* round trip */
	const char *out = fuzz_file("again.safetensors", NULL, 0);
	rc = rm_st_save(out, ts, cnt, NULL, &err);
	fuzz_check_err(rc, &err, "rm_st_save");
	if (rc >= 0) {
		struct rm_st *st2;
		rc = rm_st_load(&st2, out, &err);
		if (rc < 0) {
			fprintf(stderr, "fuzz: saved file does not load: %s\n", err.msg);
			abort();
		}
		if (rm_st_count(st2) != cnt)
			abort();
		for (size_t i = 0; i < cnt; i++) {
			const struct rm_tensor *a = &ts[i], *b = rm_st_find(st2, a->name);
			if (!b || b->dtype != a->dtype || b->ndim != a->ndim ||
			    b->nbytes != a->nbytes ||
			    (a->nbytes && memcmp(a->data, b->data, a->nbytes)))
				abort();
		}
		rm_st_free(st2);
	}
	free(ts);
	rm_st_free(st);
	return 0;
}

FUZZ_ENTRY(fuzz_safetensors)
