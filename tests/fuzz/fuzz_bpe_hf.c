/*
 * fuzz_bpe_hf.c - the tokenizer.json loader, then encoding.
 * Input: tokenizer.json "\n====\n" text.
 */
#include <stdint.h>

#include "bpe_common.h"

static int
fuzz_bpe_hf(const uint8_t *data, size_t n)
{
	const uint8_t *js, *text;
	size_t js_n, text_n;
	fuzz_split(data, n, &js, &js_n, &text, &text_n);
	struct rm_error err = {0};
	struct rm_bpe *bpe;
	int rc = rm_bpe_parse_hf(&bpe, (const char *)js, js_n, &err);
	fuzz_bpe_loaded(rc, bpe, &err, "rm_bpe_parse_hf", text, text_n, 1);
	return 0;
}

FUZZ_ENTRY(fuzz_bpe_hf)
