/*
 * tool-fuzzreplay.c - run fuzz harnesses (tests/fuzz/fuzz_*.c) on saved
 * inputs without libFuzzer, under the ordinary toolchain:
 *
 *   tool-fuzzreplay HARNESS FILE...
 *
 * Each FILE goes through the harness once; a finding aborts (status 134),
 * so tests/t-fuzz-regress.sh can replay tests/fuzz/regress/ and the seed
 * corpora in `make check`, and under ASan in `make check-asan`.  Prints
 * "HARNESS: N inputs" on success.
 */
#define RM_FUZZ_REPLAY 1
#include "fuzz/fuzz_bpe_gpt2.c"
#include "fuzz/fuzz_bpe_hf.c"
#include "fuzz/fuzz_checkpoint.c"
#include "fuzz/fuzz_encode.c"
#include "fuzz/fuzz_prefs.c"
#include "fuzz/fuzz_safetensors.c"
#include "fuzz/fuzz_strength.c"
#include "fuzz/fuzz_tstream.c"
#include "fuzz/fuzz_votes.c"

static const struct {
	const char *name;
	int (*run)(const uint8_t *, size_t);
} harnesses[] = {
	{ "bpe_gpt2", fuzz_bpe_gpt2 }, { "bpe_hf", fuzz_bpe_hf },
	{ "checkpoint", fuzz_checkpoint }, { "encode", fuzz_encode },
	{ "prefs", fuzz_prefs }, { "safetensors", fuzz_safetensors },
	{ "strength", fuzz_strength }, { "tstream", fuzz_tstream },
	{ "votes", fuzz_votes },
};

static int
slurp(const char *path, uint8_t **buf, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 1 << 16;
	*buf = malloc(cap);
	*n = 0;
	size_t k;
	while (*buf && (k = fread(*buf + *n, 1, cap - *n, f)) > 0) {
		*n += k;
		if (*n == cap)
			*buf = realloc(*buf, cap *= 2);
	}
	int bad = ferror(f) || !*buf;
	fclose(f);
	return bad ? -1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: tool-fuzzreplay HARNESS FILE...\n");
		return 2;
	}
	for (size_t h = 0; h < sizeof harnesses / sizeof *harnesses; h++) {
		if (strcmp(argv[1], harnesses[h].name) != 0)
			continue;
		for (int i = 2; i < argc; i++) {
			uint8_t *buf;
			size_t n;
			if (slurp(argv[i], &buf, &n) < 0) {
				fprintf(stderr, "tool-fuzzreplay: %s: %s\n", argv[i],
					strerror(errno));
				return 1;
			}
			harnesses[h].run(buf, n);
			free(buf);
		}
		printf("%s: %d inputs\n", argv[1], argc - 2);
		return 0;
	}
	fprintf(stderr, "tool-fuzzreplay: no harness '%s'\n", argv[1]);
	return 2;
}
