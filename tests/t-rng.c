/*
 * t-rng.c - determinism, save/restore, streams and rough distributions of
 * the RNG.  Moments over 200000 draws: mean within 0.01, variance within
 * 0.02 (about 4 standard errors).
 */
#include <string.h>

#include "check.h"
#include "base/rng.h"

int
main(void)
{
	struct rm_rng a, b;
	rm_rng_seed(&a, 1);
	rm_rng_seed(&b, 1);
	int same = 1;
	for (int i = 0; i < 100; i++)
		same &= rm_rng_next(&a) == rm_rng_next(&b);
	CHECK(same, "same seed, same sequence");
	rm_rng_seed(&b, 2);
	CHECK(rm_rng_next(&a) != rm_rng_next(&b), "different seeds differ");

	/* save mid-stream, draw, restore: the same draws again */
	unsigned char st[RM_RNG_STATE_BYTES];
	rm_rng_save(&a, st);
	uint64_t x[5];
	for (int i = 0; i < 5; i++)
		x[i] = rm_rng_next(&a);
	struct rm_rng c;
	rm_rng_load(&c, st);
	same = 1;
	for (int i = 0; i < 5; i++)
		same &= rm_rng_next(&c) == x[i];
	CHECK(same, "save and load resume the stream");

	/* streams: each counter matters, the same tuple repeats */
	struct rm_rng s1, s2, s3, s4, s5;
	rm_rng_stream(&s1, 7, 1, 2, 3);
	rm_rng_stream(&s2, 7, 1, 2, 3);
	rm_rng_stream(&s3, 7, 2, 1, 3);
	rm_rng_stream(&s4, 7, 1, 2, 4);
	rm_rng_stream(&s5, 8, 1, 2, 3);
	uint64_t v1 = rm_rng_next(&s1);
	CHECK(v1 == rm_rng_next(&s2), "stream repeats");
	CHECK(v1 != rm_rng_next(&s3) && v1 != rm_rng_next(&s4) && v1 != rm_rng_next(&s5),
	      "streams differ");

	enum { n = 200000 };
	double su = 0, sn = 0, sn2 = 0;
	float umin = 1, umax = 0;
	for (int i = 0; i < n; i++) {
		float u = rm_rng_uniform(&a);
		umin = u < umin ? u : umin;
		umax = u > umax ? u : umax;
		su += u;
		double z = rm_rng_normal(&a);
		sn += z;
		sn2 += z * z;
	}
	CHECK(umin >= 0 && umax < 1, "uniform in [0, 1)");
	CHECK_CLOSE(su / n, 0.5, 0.01, 0, "uniform mean");
	CHECK_CLOSE(sn / n, 0, 0.01, 0, "normal mean");
	CHECK_CLOSE(sn2 / n, 1, 0.02, 0, "normal variance");
	int counts[3] = {0};
	for (int i = 0; i < 30000; i++)
		counts[rm_rng_below(&a, 3)]++;
	CHECK(counts[0] > 9500 && counts[1] > 9500 && counts[2] > 9500, "below(3) uniform");
	size_t idx[50];
	for (size_t i = 0; i < 50; i++)
		idx[i] = i;
	rm_rng_shuffle(&a, idx, 50);
	int seen[50] = {0}, moved = 0;
	for (size_t i = 0; i < 50; i++) {
		seen[idx[i]]++;
		moved += idx[i] != i;
	}
	int perm = 1;
	for (int i = 0; i < 50; i++)
		perm &= seen[i] == 1;
	CHECK(perm && moved > 10, "shuffle is a permutation");
	return check_done();
}
