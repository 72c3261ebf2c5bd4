/*
 * fuzz_encode.c - encoding arbitrary bytes with the real GPT-2 tokenizer
 * (.cache/gpt2, or $RMKIT_GPT2_DIR; the byte tokenizer when neither is
 * there): ids in range, decode gives the bytes back, a warm word cache
 * changes nothing.  Loaded once per process.
 */
#include <stdint.h>

#include "bpe_common.h"

static struct rm_bpe *fuzz_encode_bpe;

static void
fuzz_encode_free(void)
{
	rm_bpe_free(fuzz_encode_bpe);
}

static int
fuzz_encode(const uint8_t *data, size_t n)
{
	if (!fuzz_encode_bpe) {
		struct rm_error err = {0};
		const char *dir = getenv("RMKIT_GPT2_DIR");
		char enc[600], voc[600];
		snprintf(enc, sizeof enc, "%s/encoder.json", dir ? dir : ".cache/gpt2");
		snprintf(voc, sizeof voc, "%s/vocab.bpe", dir ? dir : ".cache/gpt2");
		if (access(enc, R_OK) != 0 ||
		    rm_bpe_load_gpt2(&fuzz_encode_bpe, enc, voc, &err) < 0) {
			fprintf(stderr, "fuzz_encode: %s; using the byte tokenizer\n",
				err.msg[0] ? err.msg : "no gpt2 files");
			if (rm_bpe_load_bytes(&fuzz_encode_bpe, &err) < 0)
				abort();
		}
		atexit(fuzz_encode_free);
	}
	fuzz_bpe_check(fuzz_encode_bpe, data, n, 0);
	return 0;
}

FUZZ_ENTRY(fuzz_encode)
