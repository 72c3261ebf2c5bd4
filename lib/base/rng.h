/*
 * rng.h - deterministic random numbers: xoshiro256** seeded through
 * splitmix64.
 *
 * Everything random in rmkit (weight init, dropout masks, data order) comes
 * from a struct rm_rng.  The state is four plain 64-bit words: copy it,
 * save it with rm_rng_save (32 little-endian bytes) and restore it with
 * rm_rng_load to resume training exactly.  Parallel work never shares a
 * generator: rm_rng_stream derives an independent generator from a seed and
 * up to three counters (say step, sequence key, site), so a result depends
 * only on those numbers, never on which thread ran first.
 */
#ifndef RM_RNG_H
#define RM_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rm_rng {
	uint64_t s[4];
};

#define RM_RNG_STATE_BYTES 32

/* splitmix64: advance *x and return the next output (also a good mixer). */
uint64_t rm_splitmix64(uint64_t *x);

/* Seed r from one 64-bit seed (any value, 0 included). */
void rm_rng_seed(struct rm_rng *r, uint64_t seed);

/*
 * Seed r as the stream (seed, a, b, c): distinct tuples give statistically
 * independent generators; the same tuple always gives the same one.
 */
void rm_rng_stream(struct rm_rng *r, uint64_t seed, uint64_t a, uint64_t b,
		   uint64_t c);

/* Next 64 random bits. */
uint64_t rm_rng_next(struct rm_rng *r);
/* Uniform float in [0, 1) with 24 random bits. */
float rm_rng_uniform(struct rm_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double rm_rng_uniform_double(struct rm_rng *r);
/* Standard normal (Box-Muller in double, one output per call: no hidden
 * cached value, so the four words are the whole state). */
float rm_rng_normal(struct rm_rng *r);
/* Uniform integer in [0, n), unbiased; n must be > 0. */
uint64_t rm_rng_below(struct rm_rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void rm_rng_shuffle(struct rm_rng *r, size_t *idx, size_t n);

/* State to 32 little-endian bytes and back. */
void rm_rng_save(const struct rm_rng *r, unsigned char out[RM_RNG_STATE_BYTES]);
void rm_rng_load(struct rm_rng *r, const unsigned char in[RM_RNG_STATE_BYTES]);

#endif
