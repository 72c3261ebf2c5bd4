/*
 * fuzz_bpe_gpt2.c - the encoder.json + vocab.bpe loader, then encoding.
 * Input: encoder.json "\n====\n" vocab.bpe "\n====\n" text.
 */
#include <stdint.h>

#include "bpe_common.h"

static int
fuzz_bpe_gpt2(const uint8_t *data, size_t n)
{
	const uint8_t *enc, *rest, *voc, *text;
	size_t enc_n, rest_n, voc_n, text_n;
	fuzz_split(data, n, &enc, &enc_n, &rest, &rest_n);
	fuzz_split(rest, rest_n, &voc, &voc_n, &text, &text_n);
	struct rm_error err = {0};
	struct rm_bpe *bpe;
	int rc = rm_bpe_parse_gpt2(&bpe, (const char *)enc, enc_n,
				   (const char *)voc, voc_n, &err);
	fuzz_bpe_loaded(rc, bpe, &err, "rm_bpe_parse_gpt2", text, text_n, 0);
	return 0;
}

FUZZ_ENTRY(fuzz_bpe_gpt2)
