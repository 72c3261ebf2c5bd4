/*
 * pretok.h - the normalizer and pre-tokenizer of a Hugging Face
 * tokenizer.json: text in, the pieces BPE merges within out.
 *
 * Supported (anything else is refused at load, naming it):
 *   normalizer     null, NFC, NFD, NFKC, NFKD (utf8proc), Prepend, Replace
 *                  with a String pattern, Sequence of these
 *   pre_tokenizer  null, Split (Regex or String pattern; behaviors Isolated,
 *                  Removed, MergedWithPrevious, MergedWithNext, Contiguous;
 *                  not invert), ByteLevel (add_prefix_space, use_regex),
 *                  Digits (individual_digits), Punctuation, Metaspace
 *                  (replacement, prepend_scheme, split), Sequence of these
 *
 * Regular expressions run on PCRE2 with JIT, written the way the
 * JavaScript port (@huggingface/tokenizers) rewrites Oniguruma syntax: \s
 * and \S are Unicode White_Space (U+0085 included, U+FEFF not), (?i:...)
 * folds ASCII letters only.  Character properties are PCRE2's Unicode
 * tables (rm_pretok_unicode_version), so characters assigned after that
 * version are "unassigned" to it.
 *
 * GPT-2's own scheme (a lone ByteLevel pre-tokenizer with its regex, no
 * normalizer) does not come here: bpe.c runs it on its hand-written matcher.
 *
 * Ownership and threads: a parsed struct rm_pretok is immutable and shared;
 * running it needs a struct rm_pretok_ctx per thread (PCRE2 match data, a
 * JIT stack, the normalized text).  Free functions accept NULL.
 */
#ifndef RM_PRETOK_H
#define RM_PRETOK_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct rm_pretok;
struct rm_pretok_ctx;

/*
 * rm_pretok_parse - build from the "normalizer" and "pre_tokenizer" values
 * of a tokenizer.json (either may be NULL or JSON null).  *out is NULL when
 * both are null (nothing to do: the text is one piece).
 */
int rm_pretok_parse(struct rm_pretok **out, const cJSON *normalizer,
		    const cJSON *pre_tokenizer, struct rm_error *err);
void rm_pretok_free(struct rm_pretok *p);

/* 1 when the pretok has a normalizer that may change text. */
int rm_pretok_normalizes(const struct rm_pretok *p);
/* 1 when it may change the text's bytes (normalizer, Metaspace, prefix). */
int rm_pretok_rewrites(const struct rm_pretok *p);
/* 64-bit fingerprint of the configuration, for rm_bpe_hash. */
uint64_t rm_pretok_hash(const struct rm_pretok *p);
/* PCRE2's Unicode version, e.g. "14.0.0" (a static string). */
const char *rm_pretok_unicode_version(void);

int rm_pretok_ctx_new(struct rm_pretok_ctx **out, const struct rm_pretok *p,
		      struct rm_error *err);
void rm_pretok_ctx_free(struct rm_pretok_ctx *c);

/*
 * rm_pretok_normalize - the normalized form of s[0..n): *res points at
 * either s itself or a buffer of the context (valid until the next call).
 */
int rm_pretok_normalize(struct rm_pretok_ctx *c, const char *s, size_t n,
			const char **res, size_t *rn, struct rm_error *err);

/*
 * rm_pretok_split - call piece(arg, p, len) for each piece of the (already
 * normalized) s[0..n), in order; first says whether s is the first section
 * of the text (Metaspace's prepend_scheme "first").  The piece pointers are
 * valid during the callback only.  Returns 0, the callback's negative
 * return, or a negative code (RM_ENOMEM; RM_EDATA when PCRE2 fails, e.g.
 * its JIT stack limit).
 */
typedef int (*rm_piece_fn)(void *arg, const char *p, size_t len);
int rm_pretok_split(struct rm_pretok_ctx *c, const char *s, size_t n,
		    int first, rm_piece_fn piece, void *arg,
		    struct rm_error *err);

#endif
