/*
 * bpe.h - byte-level BPE tokenizer (GPT-2 / tiktoken "gpt2").
 *
 * Text is split into pieces by the GPT-2 pre-tokenizer pattern
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * (hand-coded over UTF-8, character classes as JavaScript regular
 * expressions see them: see unicode.h), then every piece's bytes are merged
 * by byte-pair ranks into token ids.  The contractions are case-sensitive:
 * "'S" is not one.
 *
 * Conventions, chosen to match js-tiktoken's getEncoding("gpt2") with
 * encode(text, [], []), the reference the tests compare against:
 *   - Special tokens in the text ("<|endoftext|>") are encoded as plain
 *     text, never as their special id.  Add rm_bpe_eos() yourself.
 *   - Bytes that are not well-formed UTF-8 (stray continuation bytes,
 *     overlong forms, surrogates, truncated sequences) each count as one
 *     character of class "other" (like punctuation); they are encoded as
 *     their byte tokens, so decoding gives back the same bytes.  (A
 *     JavaScript string cannot hold such bytes; the JSONL layer rejects them
 *     before the tokenizer ever sees them.)
 *
 * Loaders:
 *   - rm_bpe_load_gpt2: OpenAI's encoder.json + vocab.bpe.  Merging follows
 *     tiktoken: two adjacent parts merge when their concatenation is a
 *     token, at the rank of that token (its vocab.bpe line), lowest rank
 *     first and leftmost on ties; a piece that is itself a token is taken
 *     whole.  "<|endoftext|>" is special (never produced by merging) and is
 *     the EOS.
 *   - rm_bpe_load_hf: Hugging Face tokenizer.json with model type "BPE".
 *     Merging follows Hugging Face: only the listed merges apply, by their
 *     order; the piece-is-a-token shortcut only with "ignore_merges": true.
 *     Byte-level vocabularies (a ByteLevel pre-tokenizer: GPT-2, Llama-3,
 *     Qwen, DeepSeek-V3, gpt-oss) merge bytes; the others (SentencePiece
 *     style: Llama-2, Mistral, Gemma) merge characters, with byte_fallback,
 *     unk_token and fuse_unk.  The normalizer and pre-tokenizer run as
 *     pretok.h says (GPT-2's lone ByteLevel on the hand-written pattern
 *     above).  Added tokens are split out of the text first, leftmost and
 *     longest, as Hugging Face does: those marked "special" only when the
 *     context says so (rm_bpe_ctx_set_specials, rm_bpe_encode_plain), the
 *     others always.  The post_processor's tokens (BOS) are not added by
 *     encoding: rm_bpe_post gives them to the caller.  The EOS is the token
 *     "<|endoftext|>", or none.  Dropout, word prefixes/suffixes and added
 *     tokens with lstrip/rstrip/single_word are refused.
 *   - rm_bpe_load_bytes: no files; id = byte value (0..255), EOS = 256
 *     ("<|endoftext|>"), vocabulary 257.
 *
 * Character classes come from Unicode 15.1 tables (unicode.h); a JavaScript
 * engine with newer Unicode data also counts the letters and digits assigned
 * since then as such, so js-tiktoken on such an engine differs from us only
 * on text with characters assigned after Unicode 15.1.
 *
 * Ownership and threads: a loaded struct rm_bpe is immutable and may be
 * shared by any number of threads.  Encoding needs a struct rm_bpe_ctx
 * (word caches and scratch buffers, about 2.3 MB, bounded), one per thread;
 * a context borrows its tokenizer, which must outlive it.  Both free
 * functions accept NULL.
 */
#ifndef RM_BPE_H
#define RM_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct rm_bpe;
struct rm_bpe_ctx;

/*
 * A growable vector of token ids, owned by the caller.  Zero-initialise it
 * ({0}), append with rm_ids_push (or let rm_bpe_encode append), set n = 0 to
 * reuse the storage, rm_ids_release to free it.
 */
struct rm_ids {
	int32_t *v;
	size_t n, cap;
};

/* rm_ids_reserve - make room for at least `extra` more ids. */
int rm_ids_reserve(struct rm_ids *ids, size_t extra, struct rm_error *err);
int rm_ids_push(struct rm_ids *ids, int32_t id, struct rm_error *err);
/* rm_ids_release - free the storage and zero the struct. */
void rm_ids_release(struct rm_ids *ids);

/*
 * rm_bpe_load_gpt2 - load encoder.json and vocab.bpe (either may be
 * zstd-compressed).  On failure *out is NULL and err says which file and
 * what, e.g. "x/encoder.json: token id 50257 out of range (50257 tokens)".
 */
int rm_bpe_load_gpt2(struct rm_bpe **out, const char *encoder_json,
		     const char *vocab_bpe, struct rm_error *err);
/* rm_bpe_load_hf - load a Hugging Face tokenizer.json (see above). */
int rm_bpe_load_hf(struct rm_bpe **out, const char *tokenizer_json,
		   struct rm_error *err);
/* rm_bpe_load_bytes - the file-less byte tokenizer. */
int rm_bpe_load_bytes(struct rm_bpe **out, struct rm_error *err);

/*
 * The same loaders from memory (len bytes, no NUL needed); messages carry no
 * file name.  The buffers are only read during the call.
 */
int rm_bpe_parse_gpt2(struct rm_bpe **out, const char *encoder_json,
		      size_t encoder_len, const char *vocab_bpe,
		      size_t vocab_len, struct rm_error *err);
int rm_bpe_parse_hf(struct rm_bpe **out, const char *tokenizer_json,
		    size_t len, struct rm_error *err);

void rm_bpe_free(struct rm_bpe *bpe);

/* Number of ids: every id is in [0, rm_bpe_vocab_size). */
size_t rm_bpe_vocab_size(const struct rm_bpe *bpe);
/* The end-of-text id, or -1 when the tokenizer has none. */
int32_t rm_bpe_eos(const struct rm_bpe *bpe);
/* "gpt2", "hf" or "bytes"; a static string. */
const char *rm_bpe_name(const struct rm_bpe *bpe);
/*
 * rm_bpe_hash - 64-bit fingerprint of what the tokenizer computes (its
 * kind, tokens, ranks and options): equal hashes, equal encodings.  Stable
 * across runs and machines, so it can be recorded in outputs and checked.
 */
uint64_t rm_bpe_hash(const struct rm_bpe *bpe);
/*
 * rm_bpe_file_hash - FNV-1a 64 (rm_hash64) of the file the tokenizer was
 * read from, as read (after zstd decompression): tokenizer.json, or
 * encoder.json's bytes followed by vocab.bpe's; 0 for the byte tokenizer.
 * It names the file; rm_bpe_hash names what it computes.
 */
uint64_t rm_bpe_file_hash(const struct rm_bpe *bpe);
/*
 * rm_bpe_exact_bytes - 1 when the tokens' bytes, concatenated, are the text
 * itself (no normalizer, no rewriting pre-tokenizer, byte-level), so that a
 * byte offset in the text falls between known tokens; 0 otherwise.
 */
int rm_bpe_exact_bytes(const struct rm_bpe *bpe);

/*
 * rm_bpe_token - the bytes of token id (special tokens too): *s points into
 * the tokenizer (valid while it lives, not NUL-terminated).  Returns 0, or
 * RM_EUSAGE when id is out of range or unused.
 */
int rm_bpe_token(const struct rm_bpe *bpe, int32_t id, const char **s,
		 size_t *len);
/* rm_bpe_token_id - the id whose bytes are exactly s[0..len), or -1. */
int32_t rm_bpe_token_id(const struct rm_bpe *bpe, const char *s, size_t len);
/* 1 when id is a special token (EOS and the like), else 0. */
int rm_bpe_is_special(const struct rm_bpe *bpe, int32_t id);

/*
 * rm_bpe_post - the ids the tokenizer.json post_processor puts before
 * (*pre) and after (*suf) a single sequence (TemplateProcessing), e.g.
 * Gemma's <bos>; counts 0 when it adds none.  Pointers into the tokenizer.
 */
void rm_bpe_post(const struct rm_bpe *bpe, const int32_t **pre, size_t *npre,
		 const int32_t **suf, size_t *nsuf);

/* rm_bpe_ctx_new - a per-thread encoding context for bpe. */
int rm_bpe_ctx_new(struct rm_bpe_ctx **out, const struct rm_bpe *bpe,
		   struct rm_error *err);
void rm_bpe_ctx_free(struct rm_bpe_ctx *ctx);

/*
 * rm_bpe_encode - tokenize text[0..len) (UTF-8, NULs allowed) and append
 * the ids to out.  Returns 0 or a negative code (RM_ENOMEM; RM_EDATA for a
 * tokenizer.json with a normalizer or pre-tokenizer given text that is not
 * well-formed UTF-8); on failure out->n is back where it was.  The context's word cache makes the
 * speed, never the result, depend on what was encoded before.
 */
int rm_bpe_encode(struct rm_bpe_ctx *ctx, const char *text, size_t len,
		  struct rm_ids *out, struct rm_error *err);

/*
 * Special tokens in text (tokenizer.json "added_tokens" marked special):
 * RM_BPE_SPECIALS_TEXT (the default) encodes their text as ordinary text,
 * like Hugging Face with split_special_tokens=True and like tiktoken;
 * RM_BPE_SPECIALS_SPLIT gives their ids, Hugging Face's default.
 * Non-special added tokens are split out either way.
 */
enum { RM_BPE_SPECIALS_TEXT = 0, RM_BPE_SPECIALS_SPLIT = 1 };
void rm_bpe_ctx_set_specials(struct rm_bpe_ctx *ctx, int mode);

/* A byte range of a text. */
struct rm_span {
	size_t off, len;
};

/*
 * rm_bpe_encode_plain - rm_bpe_encode with special tokens split out
 * everywhere except where their text overlaps one of plain[0..nplain)
 * (message contents: special-token text a user wrote stays text).
 * plain NULL: split everywhere.  For text that a normalizer changes, the
 * normalized-text added tokens are matched by the context's mode instead.
 */
int rm_bpe_encode_plain(struct rm_bpe_ctx *ctx, const char *text, size_t len,
			const struct rm_span *plain, size_t nplain,
			struct rm_ids *out, struct rm_error *err);

/*
 * rm_bpe_decode - the bytes of ids[0..n) concatenated (special tokens as
 * their text) into *buf, grown as needed (caller frees; *buf and *cap may
 * start NULL and 0), NUL-terminated; *len gets the length.  A
 * SentencePiece-style tokenizer.json's decoder is applied as Hugging Face
 * does: "▁" back to a space, <0xXX> byte tokens to their bytes (kept as
 * they are when they are not well-formed UTF-8, where Hugging Face puts
 * U+FFFD), its Strip or Metaspace's leading space removed.  Fails with
 * RM_EDATA "token id 60000 out of range" on an unknown id.
 */
int rm_bpe_decode(const struct rm_bpe *bpe, const int32_t *ids, size_t n,
		  char **buf, size_t *cap, size_t *len, struct rm_error *err);

#endif
