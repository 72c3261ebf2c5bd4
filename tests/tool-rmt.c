/*
 * tool-rmt.c - write tensor streams for tests.
 *   tool-rmt random FILE N SEED   N records of random tensors: every dtype,
 *                                 0 to 4 dims (some of size 0, as
 *                                 [3,3,3,0]), extreme
 *                                 values, NaN and infinities, names that
 *                                 need JSON escaping; header metadata
 *                                 {"tool":"tool-rmt","seed":SEED}
 * FILE "-" is standard output; a name ending in .zst is compressed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "stream/io.h"
#include "stream/tstream.h"

static uint64_t state;

static uint64_t
next(void)
{
	/* splitmix64 */
	uint64_t z = (state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double
pick_double(void)
{
	static const double special[] = {
		0.0, -0.0, 1.0, -1.5, 0.1, 1e-300, 4.9e-324, 1.7976931348623157e308,
		1e-45, 3.4028234663852886e38, 1.1754943508222875e-38, NAN, INFINITY,
		-INFINITY,
	};
	uint64_t r = next();

	if (r % 3 == 0)
		return special[(r >> 8) % (sizeof special / sizeof special[0])];
	return ((double)(int64_t)next() / 9.2e18) * pow(10, (int)(r >> 40) % 20 - 10);
}

static void
fill(struct rm_tensor *t, unsigned char *buf)
{
	size_t es = rm_dtype_size(t->dtype), n = t->nbytes / es;

	for (size_t i = 0; i < n; i++) {
		unsigned char *p = buf + i * es;
		uint64_t r = next();
		if (t->dtype == RM_DT_F32) {
			float f = (float)pick_double();
			if (r % 7 == 0)  /* smallest f32 subnormal */
				f = 1.4e-45f;
			memcpy(p, &f, 4);
		} else if (t->dtype == RM_DT_F64) {
			double d = pick_double();
			memcpy(p, &d, 8);
		} else {
			if (r % 5 == 0)
				r = r % 2 ? ~0ull : 1ull << (es * 8 - 1);
			memcpy(p, &r, es);
		}
	}
}

static int
random_stream(const char *path, long n, long seed)
{
	static const char *names[] = {
		"chosen", "rejected", "margin", "target", "prompt_len", "rewards",
		"q\"uote\\", "tab\there", "x.y-z_0", "\xc3\xa9t\xc3\xa9",
	};
	char meta[128];
	struct rm_error err;
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_tensor t[10];
	static unsigned char data[10][8 * 81];
	uint64_t id, hash;

	state = (uint64_t)seed;
	snprintf(meta, sizeof meta, "{\"tool\":\"tool-rmt\",\"seed\":%ld}", seed);
	if (rm_out_open(&out, path, RM_OUT_BINARY, 0, &err) < 0 ||
	    rm_tsw_open(&w, out, meta, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	for (long k = 0; k < n; k++) {
		size_t nt = k % 37 == 5 ? 3 : 2 + next() % 6;
		id = (uint64_t)k;
		hash = next();
		rm_tensor_scalar(&t[0], "id", RM_DT_U64, &id);
		rm_tensor_scalar(&t[1], "hash", RM_DT_U64, &hash);
		/* names[i] for tensor 2 + i: distinct within a record */
		for (size_t i = 2; i < nt; i++) {
			struct rm_tensor *x = &t[i];
			memset(x, 0, sizeof *x);
			snprintf(x->name, sizeof x->name, "%s", names[(i - 2 + k) % 10]);
			x->dtype = (enum rm_dtype)(1 + next() % 6);
			x->ndim = (int)(next() % 5);
			uint64_t numel = 1;
			for (int d = 0; d < x->ndim; d++) {
				x->dims[d] = next() % 4;
				numel *= x->dims[d];
			}
			if (k % 37 == 5 && i == 2) {
				/* empty, its other dims larger than the record */
				x->ndim = 4;
				x->dtype = RM_DT_F64;
				x->dims[0] = x->dims[1] = x->dims[2] = 3;
				x->dims[3] = 0;
				numel = 0;
			}
			x->nbytes = numel * rm_dtype_size(x->dtype);
			x->data = data[i];
			fill(x, data[i]);
		}
		if (rm_tsw_write(w, t, nt, &err) < 0) {
			rm_warn_err(&err);
			return 1;
		}
	}
	if (rm_tsw_close(w, &err) < 0 || rm_out_commit(out, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	rm_cli_init(argv[0]);
	if (argc == 5 && strcmp(argv[1], "random") == 0)
		return random_stream(argv[2], atol(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: tool-rmt random FILE N SEED\n");
	return 2;
}
