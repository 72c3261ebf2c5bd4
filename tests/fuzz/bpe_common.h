/*
 * bpe_common.h - what the tokenizer harnesses check after a load: encode
 * text, every id in range, and (when every byte has a token) decoding
 * gives the text back (after a space, where prefix_space allows); the same text encoded again with a warm context
 * gives the same ids.
 */
#ifndef RM_FUZZ_BPE_COMMON_H
#define RM_FUZZ_BPE_COMMON_H

#include "text/bpe.h"
#include "fuzz.h"

static inline void
fuzz_bpe_check(const struct rm_bpe *bpe, const uint8_t *text, size_t n,
	       int prefix_space)
{
	struct rm_error err = {0};
	struct rm_bpe_ctx *ctx;
	int rc = rm_bpe_ctx_new(&ctx, bpe, &err);
	fuzz_check_err(rc, &err, "rm_bpe_ctx_new");
	if (rc < 0)
		return;
	size_t vocab = rm_bpe_vocab_size(bpe);
	int all_bytes = 1;
	for (int b = 0; b < 256 && all_bytes; b++) {
		char c = (char)b;
		all_bytes = rm_bpe_token_id(bpe, &c, 1) >= 0;
	}
	struct rm_ids a = {0}, b = {0};
	rc = rm_bpe_encode(ctx, (const char *)text, n, &a, &err);
	fuzz_check_err(rc, &err, "rm_bpe_encode");
	if (rc == 0) {
		for (size_t i = 0; i < a.n; i++)
			if (a.v[i] < 0 || (size_t)a.v[i] >= vocab)
				abort();
		char *buf = NULL;
		size_t cap = 0, len = 0;
		rc = rm_bpe_decode(bpe, a.v, a.n, &buf, &cap, &len, &err);
		fuzz_check_err(rc, &err, "rm_bpe_decode");
		/* tokenizer.json's add_prefix_space puts a space before text
		 * that does not start with one */
		int sp = prefix_space && len == n + 1 && buf[0] == ' ' &&
			 (n == 0 || text[0] != ' ');
		if (all_bytes && (rc < 0 || len != n + (size_t)sp ||
				  (n && memcmp(buf + sp, text, n)))) {
			fprintf(stderr, "fuzz: decode(encode(text)) != text\n");
			abort();
		}
		free(buf);
		if (rm_bpe_encode(ctx, (const char *)text, n, &b, &err) != 0 ||
		    b.n != a.n || (a.n && memcmp(a.v, b.v, a.n * sizeof *a.v))) {
			fprintf(stderr, "fuzz: encoding changed with a warm cache\n");
			abort();
		}
	}
	rm_ids_release(&a);
	rm_ids_release(&b);
	rm_bpe_ctx_free(ctx);
}

/* After a loader returned rc: check its message, or the loaded tokenizer
 * on text (then free it). */
static inline void
fuzz_bpe_loaded(int rc, struct rm_bpe *bpe, const struct rm_error *err,
		const char *what, const uint8_t *text, size_t n, int prefix_space)
{
	fuzz_check_err(rc, err, what);
	if (rc < 0)
		return;
	fuzz_bpe_check(bpe, text, n, prefix_space);
	rm_bpe_free(bpe);
}

#endif
