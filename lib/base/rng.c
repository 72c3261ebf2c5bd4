/*
 * rng.c - xoshiro256** (Blackman and Vigna, 2018) seeded by splitmix64.
 */
#include <math.h>

#include "base/rng.h"

uint64_t
rm_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
rm_rng_seed(struct rm_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = rm_splitmix64(&x);
	/* The all-zero state is a fixed point; splitmix64 cannot give four
	 * zeros in a row, but keep the generator valid whatever happens. */
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
}

void
rm_rng_stream(struct rm_rng *r, uint64_t seed, uint64_t a, uint64_t b,
	      uint64_t c)
{
	/* Chain the words through the splitmix64 finaliser so that every
	 * input bit affects the seed; distinct constants keep (a,b,c) from
	 * commuting. */
	uint64_t x = seed;
	uint64_t h = rm_splitmix64(&x);
	x = h ^ (a * 0xd1b54a32d192ed03ULL);
	h = rm_splitmix64(&x);
	x = h ^ (b * 0xabc98388fb8fac03ULL);
	h = rm_splitmix64(&x);
	x = h ^ (c * 0x8cb92ba72f3d8dd7ULL);
	h = rm_splitmix64(&x);
	rm_rng_seed(r, h);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
rm_rng_next(struct rm_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

float
rm_rng_uniform(struct rm_rng *r)
{
	return (float)(rm_rng_next(r) >> 40) * 0x1.0p-24f;
}

double
rm_rng_uniform_double(struct rm_rng *r)
{
	return (double)(rm_rng_next(r) >> 11) * 0x1.0p-53;
}

float
rm_rng_normal(struct rm_rng *r)
{
	/* u1 in (0, 1] so that log never sees 0. */
	double u1 = 1.0 - rm_rng_uniform_double(r);
	double u2 = rm_rng_uniform_double(r);
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t
rm_rng_below(struct rm_rng *r, uint64_t n)
{
	/* Rejection on the top of the range: unbiased for every n. */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = rm_rng_next(r);
	while (x >= lim);
	return x % n;
}

void
rm_rng_shuffle(struct rm_rng *r, size_t *idx, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)rm_rng_below(r, i);
		size_t t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

void
rm_rng_save(const struct rm_rng *r, unsigned char out[RM_RNG_STATE_BYTES])
{
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 8; b++)
			out[8 * i + b] = (unsigned char)(r->s[i] >> (8 * b));
}

void
rm_rng_load(struct rm_rng *r, const unsigned char in[RM_RNG_STATE_BYTES])
{
	for (int i = 0; i < 4; i++) {
		uint64_t v = 0;
		for (int b = 0; b < 8; b++)
			v |= (uint64_t)in[8 * i + b] << (8 * b);
		r->s[i] = v;
	}
}
