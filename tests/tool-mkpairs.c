/*
 * tool-mkpairs - for benchmarks and tests: a token stream of n random
 * pairs, every sequence exactly T tokens of ids below V (the last one V-1,
 * an end-of-text), prompt_len T/2, ids 0..n-1.  Same seed, same bytes.
 *   tool-mkpairs [-n pairs] [-T len] [-V vocab] [-s seed] > pairs.rmt
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "stream/io.h"
#include "base/rng.h"
#include "stream/tstream.h"

int
main(int argc, char **argv)
{
	long n = 64, T = 256, V = 50257, seed = 1;
	int c;
	rm_cli_init(argv[0]);
	while ((c = getopt(argc, argv, "n:T:V:s:")) != -1) {
		switch (c) {
		case 'n': n = rm_opt_long("-n", optarg, 0, 1L << 24); break;
		case 'T': T = rm_opt_long("-T", optarg, 1, 1L << 20); break;
		case 'V': V = rm_opt_long("-V", optarg, 2, 1L << 24); break;
		case 's': seed = rm_opt_long("-s", optarg, 0, 1L << 62); break;
		default: return RM_EXIT_USAGE;
		}
	}
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_error err;
	char meta[128];
	snprintf(meta, sizeof meta, "{\"tool\":\"tool-mkpairs\",\"vocab_size\":%ld,\"eos_id\":%ld}",
		 V, V - 1);
	int32_t *seq = malloc(2 * (size_t)T * sizeof *seq);
	if (!seq || rm_out_open(&out, NULL, RM_OUT_BINARY, 0, &err) < 0 ||
	    rm_tsw_open(&w, out, meta, &err) < 0) {
		rm_warn("%s", seq ? err.msg : "out of memory");
		return RM_EXIT_FAIL;
	}
	struct rm_rng r;
	rm_rng_seed(&r, (uint64_t)seed);
	for (long k = 0; k < n; k++) {
		uint64_t id = (uint64_t)k, hash = rm_rng_next(&r);
		int32_t pl = (int32_t)(T / 2);
		for (long i = 0; i < 2 * T; i++)
			seq[i] = (i % T == T - 1) ? (int32_t)(V - 1) : (int32_t)rm_rng_below(&r, (uint64_t)V - 1);
		struct rm_tensor t[5];
		rm_tensor_scalar(&t[0], "id", RM_DT_U64, &id);
		rm_tensor_scalar(&t[1], "hash", RM_DT_U64, &hash);
		rm_tensor_scalar(&t[2], "prompt_len", RM_DT_I32, &pl);
		rm_tensor_vector(&t[3], "chosen", RM_DT_I32, seq, (uint64_t)T);
		rm_tensor_vector(&t[4], "rejected", RM_DT_I32, seq + T, (uint64_t)T);
		if (rm_tsw_write(w, t, 5, &err) < 0) {
			rm_warn_err(&err);
			return RM_EXIT_FAIL;
		}
	}
	if (rm_tsw_close(w, &err) < 0 || rm_out_commit(out, &err) < 0) {
		rm_warn_err(&err);
		return RM_EXIT_FAIL;
	}
	free(seq);
	return RM_EXIT_OK;
}
