/*
 * t-bpe.c - unit tests for the tokenizer: byte mode, a tiny GPT-2 style
 * tokenizer and a tiny tokenizer.json built here, the loaders' messages on
 * malformed files, decode round trips, invalid UTF-8, the word cache and
 * concurrent encoding.  The GPT-2 files, when present, add a few checks on
 * the real vocabulary (parity with js-tiktoken is t-tiktoken.sh's job).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/bpe.h"
#include "check.h"
#include "text/unicode.h"

/* ---- building tiny tokenizer files ------------------------------------ */

struct sb {
	char *s;
	size_t n, cap;
};

static void
sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = 2 * (b->n + n + 1);
		b->s = realloc(b->s, b->cap);
		if (b->s == NULL)
			abort();
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void
sb_puts(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* GPT-2's bytes_to_unicode: byte c as a byte-level character, UTF-8. */
static void
byte_char(struct sb *b, int c)
{
	int k = 0, cp = -1;
	char u[3];

	for (int x = 0; x < 256; x++) {
		int printable = (x >= 0x21 && x <= 0x7E) ||
				(x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
		int v = printable ? x : 256 + k++;
		if (x == c)
			cp = v;
	}
	if (cp < 0x80) {
		u[0] = (char)cp;
		sb_add(b, u, 1);
	} else {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		sb_add(b, u, 2);
	}
}

/* A byte-level token text from raw ASCII-ish bytes (JSON-escaped if q). */
static void
bl_text(struct sb *b, const char *raw, int q)
{
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		if (q && (*p == '"' || *p == '\\'))
			sb_add(b, "\\", 1);
		byte_char(b, *p);
	}
}

/*
 * The tiny vocabulary: id = byte value for the 256 bytes, then these merges
 * in rank order, then "<|endoftext|>".  "b c" ranks before "a b", so the
 * gpt2 (tiktoken) and tokenizer.json rules differ on "abcd".
 */
static const char *tiny_merges[][2] = {
	{ "h", "e" }, { "l", "l" }, { "he", "ll" }, { "hell", "o" },
	{ " ", "w" }, { "b", "c" }, { "a", "b" }, { "ab", "c" },
};
#define N_TINY_MERGES (sizeof tiny_merges / sizeof *tiny_merges)
enum {
	ID_HE = 256, ID_LL, ID_HELL, ID_HELLO, ID_SW, ID_BC, ID_AB, ID_ABC,
	ID_EOT
};

static void
tiny_vocab_json(struct sb *b, int eot)
{
	char num[32];

	for (int c = 0; c < 256; c++) {
		sb_puts(b, c ? ",\"" : "\"");
		if (c == '"' || c == '\\')
			sb_add(b, "\\", 1);
		byte_char(b, c);
		snprintf(num, sizeof num, "\":%d", c);
		sb_puts(b, num);
	}
	for (size_t i = 0; i < N_TINY_MERGES; i++) {
		char both[16];
		snprintf(both, sizeof both, "%s%s", tiny_merges[i][0],
			 tiny_merges[i][1]);
		sb_puts(b, ",\"");
		bl_text(b, both, 1);
		snprintf(num, sizeof num, "\":%zu", 256 + i);
		sb_puts(b, num);
	}
	if (eot) {
		snprintf(num, sizeof num, ",\"<|endoftext|>\":%d", ID_EOT);
		sb_puts(b, num);
	}
}

static void
tiny_encoder(struct sb *b)
{
	sb_puts(b, "{");
	tiny_vocab_json(b, 1);
	sb_puts(b, "}\n");
}

static void
tiny_vocab_bpe(struct sb *b)
{
	sb_puts(b, "#version: 0.2\n");
	for (size_t i = 0; i < N_TINY_MERGES; i++) {
		bl_text(b, tiny_merges[i][0], 0);
		sb_puts(b, " ");
		bl_text(b, tiny_merges[i][1], 0);
		sb_puts(b, "\n");
	}
}

/* tokenizer.json; merges as strings or pairs; extra goes into "model". */
static void
tiny_hf(struct sb *b, int pairs, const char *model_extra, const char *top_extra)
{
	sb_puts(b, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":264,"
		   "\"content\":\"<|endoftext|>\",\"special\":true}],");
	sb_puts(b, top_extra ? top_extra
		   : "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
		     "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},");
	sb_puts(b, "\"model\":{\"type\":\"BPE\",\"dropout\":null,");
	if (model_extra)
		sb_puts(b, model_extra);
	sb_puts(b, "\"vocab\":{");
	tiny_vocab_json(b, 1);
	sb_puts(b, "},\"merges\":[");
	for (size_t i = 0; i < N_TINY_MERGES; i++) {
		sb_puts(b, i ? "," : "");
		sb_puts(b, pairs ? "[\"" : "\"");
		bl_text(b, tiny_merges[i][0], 1);
		sb_puts(b, pairs ? "\",\"" : " ");
		bl_text(b, tiny_merges[i][1], 1);
		sb_puts(b, pairs ? "\"]" : "\"");
	}
	sb_puts(b, "]}}");
}

/* ---- helpers ------------------------------------------------------------ */

static int
ids_eq(const struct rm_ids *ids, const int32_t *want, size_t n)
{
	return ids->n == n && memcmp(ids->v, want, n * sizeof *want) == 0;
}

static void
show(const char *what, const struct rm_ids *ids)
{
	fprintf(stderr, "%s: [", what);
	for (size_t i = 0; i < ids->n; i++)
		fprintf(stderr, i ? ",%d" : "%d", (int)ids->v[i]);
	fprintf(stderr, "]\n");
}

static void
encode_check(const struct rm_bpe *bpe, const char *text, size_t len,
	     const int32_t *want, size_t n, const char *what)
{
	struct rm_bpe_ctx *ctx;
	struct rm_ids ids = { 0 };
	struct rm_error err = { 0 };

	CHECK(rm_bpe_ctx_new(&ctx, bpe, &err) == 0, "%s", err.msg);
	CHECK(rm_bpe_encode(ctx, text, len, &ids, &err) == 0, "%s", err.msg);
	CHECK(ids_eq(&ids, want, n), "%s: %s encoding differs", what,
	      rm_bpe_name(bpe));
	if (!ids_eq(&ids, want, n))
		show("  got", &ids);
	rm_ids_release(&ids);
	rm_bpe_ctx_free(ctx);
}

static void
roundtrip(const struct rm_bpe *bpe, const char *text, size_t len)
{
	struct rm_bpe_ctx *ctx;
	struct rm_ids ids = { 0 };
	struct rm_error err = { 0 };
	char *buf = NULL;
	size_t cap = 0, n = 0;

	CHECK(rm_bpe_ctx_new(&ctx, bpe, &err) == 0, "%s", err.msg);
	CHECK(rm_bpe_encode(ctx, text, len, &ids, &err) == 0, "%s", err.msg);
	CHECK(rm_bpe_decode(bpe, ids.v, ids.n, &buf, &cap, &n, &err) == 0,
	      "%s", err.msg);
	CHECK(n == len && memcmp(buf, text, len) == 0 && buf[n] == '\0',
	      "%s: decode(encode(text)) differs from text (%zu bytes)",
	      rm_bpe_name(bpe), len);
	free(buf);
	rm_ids_release(&ids);
	rm_bpe_ctx_free(ctx);
}

/* The error message from a gpt2 parse of (enc, voc) contains want. */
static void
gpt2_error(const char *enc, const char *voc, const char *want)
{
	struct rm_bpe *bpe = (struct rm_bpe *)1;
	struct rm_error err = { 0 };
	int rc = rm_bpe_parse_gpt2(&bpe, enc, strlen(enc), voc, strlen(voc), &err);

	CHECK(rc == RM_EDATA && bpe == NULL, "rc %d for want '%s'", rc, want);
	CHECK(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg,
	      want);
}

static void
hf_error(const char *json, const char *want)
{
	struct rm_bpe *bpe = (struct rm_bpe *)1;
	struct rm_error err = { 0 };
	int rc = rm_bpe_parse_hf(&bpe, json, strlen(json), &err);

	CHECK(rc < 0 && bpe == NULL, "rc %d for want '%s'", rc, want);
	CHECK(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg,
	      want);
}

/* ---- tests --------------------------------------------------------------- */

static void
test_bytes(void)
{
	struct rm_bpe *bpe;
	struct rm_error err = { 0 };
	const char text[] = "h\xc3\xa9llo\0\xff x";
	int32_t want[sizeof text - 1];
	const char *s;
	size_t n;

	CHECK(rm_bpe_load_bytes(&bpe, &err) == 0, "%s", err.msg);
	CHECK(rm_bpe_vocab_size(bpe) == 257, "vocab %zu", rm_bpe_vocab_size(bpe));
	CHECK(rm_bpe_eos(bpe) == 256, "eos %d", (int)rm_bpe_eos(bpe));
	CHECK(strcmp(rm_bpe_name(bpe), "bytes") == 0, "name");
	CHECK(rm_bpe_is_special(bpe, 256) && !rm_bpe_is_special(bpe, 255), "special");
	CHECK(rm_bpe_token(bpe, 256, &s, &n) == 0 && n == 13 &&
	      memcmp(s, "<|endoftext|>", 13) == 0, "eos text");
	CHECK(rm_bpe_token(bpe, 257, &s, &n) == RM_EUSAGE, "token 257");
	CHECK(rm_bpe_token_id(bpe, "A", 1) == 65, "id of A");
	for (size_t i = 0; i < sizeof text - 1; i++)
		want[i] = (unsigned char)text[i];
	encode_check(bpe, text, sizeof text - 1, want, sizeof text - 1, "bytes");
	roundtrip(bpe, text, sizeof text - 1);
	rm_bpe_free(bpe);
}

static void
test_tiny_gpt2(struct rm_bpe **out)
{
	struct sb enc = { 0 }, voc = { 0 };
	struct rm_bpe *bpe;
	struct rm_error err = { 0 };

	tiny_encoder(&enc);
	tiny_vocab_bpe(&voc);
	CHECK(rm_bpe_parse_gpt2(&bpe, enc.s, enc.n, voc.s, voc.n, &err) == 0,
	      "%s", err.msg);
	*out = bpe;
	free(enc.s);
	free(voc.s);
	if (bpe == NULL)
		return;
	CHECK(rm_bpe_vocab_size(bpe) == 265, "vocab %zu", rm_bpe_vocab_size(bpe));
	CHECK(rm_bpe_eos(bpe) == ID_EOT, "eos %d", (int)rm_bpe_eos(bpe));
	CHECK(strcmp(rm_bpe_name(bpe), "gpt2") == 0, "name");
	CHECK(rm_bpe_is_special(bpe, ID_EOT), "eot special");
	CHECK(rm_bpe_token_id(bpe, "<|endoftext|>", 13) == ID_EOT, "eot id");
	CHECK(rm_bpe_token_id(bpe, "hell", 4) == ID_HELL, "hell id");
	CHECK(rm_bpe_token_id(bpe, "hex", 3) == -1, "hex id");
	{
		const int32_t w[] = { ID_HELLO };
		encode_check(bpe, "hello", 5, w, 1, "hello");
	}
	{
		/* tiktoken rule: a + bc makes abc, a token, at abc's rank */
		const int32_t w[] = { ID_ABC, 'd' };
		encode_check(bpe, "abcd", 4, w, 2, "abcd");
	}
	{
		const int32_t w[] = { ID_HELL, ID_SW, 'o', 'r', 'l', 'd', '!' };
		encode_check(bpe, "hell world!", 11, w, 7, "hell world!");
	}
	{
		/* the special token in text is plain text */
		const char t[] = "hello<|endoftext|>";
		const int32_t w[] = { ID_HELLO, '<', '|', 'e', 'n', 'd', 'o', 'f',
				      't', 'e', 'x', 't', '|', '>' };
		encode_check(bpe, t, sizeof t - 1, w, sizeof w / sizeof *w, "eot");
	}
	{
		/* invalid UTF-8: each bad byte one "other" character */
		const char t[] = "he\xff\xfell \xc3(\xed\xa0\x80";
		const int32_t w[] = { ID_HE, 0xff, 0xfe, ID_LL, ' ', 0xc3, '(',
				      0xed, 0xa0, 0x80 };
		encode_check(bpe, t, sizeof t - 1, w, sizeof w / sizeof *w,
			     "bad utf-8");
		roundtrip(bpe, t, sizeof t - 1);
	}
	{
		/* contractions are case-sensitive; spaces before words */
		const char t[] = "he's HE'S  hello\t\n";
		/* " hello" is not a token: a space piece, then hello */
		const int32_t w2[] = { ID_HE, '\'', 's', ' ', 'H', 'E', '\'', 'S',
				       ' ', ' ', ID_HELLO, '\t', '\n' };
		encode_check(bpe, t, sizeof t - 1, w2, sizeof w2 / sizeof *w2,
			     "contractions");
	}
	{
		struct rm_error e2 = { 0 };
		const int32_t bad[] = { 1, 265 };
		char *buf = NULL;
		size_t cap = 0, n = 0;
		CHECK(rm_bpe_decode(bpe, bad, 2, &buf, &cap, &n, &e2) == RM_EDATA &&
		      strcmp(e2.msg, "token id 265 out of range") == 0, "%s", e2.msg);
		const int32_t eot[] = { ID_HELLO, ID_EOT };
		CHECK(rm_bpe_decode(bpe, eot, 2, &buf, &cap, &n, &e2) == 0 &&
		      strcmp(buf, "hello<|endoftext|>") == 0, "decode eot");
		free(buf);
	}
	roundtrip(bpe, "", 0);
	roundtrip(bpe, "  hello\r\n\r\n world  \xe4\xb8\xad\xf0\x9f\x98\x80 ", 27);
}

static void
test_tiny_hf(const struct rm_bpe *gpt2)
{
	struct sb j = { 0 };
	struct rm_bpe *bpe = NULL, *bpe2 = NULL;
	struct rm_error err = { 0 };

	tiny_hf(&j, 0, NULL, NULL);
	CHECK(rm_bpe_parse_hf(&bpe, j.s, j.n, &err) == 0, "%s", err.msg);
	free(j.s);
	if (bpe == NULL)
		return;
	CHECK(rm_bpe_vocab_size(bpe) == 265 && rm_bpe_eos(bpe) == ID_EOT &&
	      strcmp(rm_bpe_name(bpe), "hf") == 0, "hf basics");
	{
		/* Hugging Face rule: only listed merges, so a + bc stays */
		const int32_t w[] = { 'a', ID_BC, 'd' };
		encode_check(bpe, "abcd", 4, w, 3, "hf abcd");
		const int32_t w2[] = { 'a', ID_BC };
		encode_check(bpe, "abc", 3, w2, 2, "hf abc");
		const int32_t w3[] = { ID_HELLO, ID_SW, 'o', 'r', 'l', 'd' };
		encode_check(bpe, "hello world", 11, w3, 6, "hf hello world");
	}
	CHECK(gpt2 == NULL || rm_bpe_hash(bpe) != rm_bpe_hash(gpt2), "hash differs");

	/* merges as pairs: the same tokenizer */
	memset(&j, 0, sizeof j);
	tiny_hf(&j, 1, NULL, NULL);
	CHECK(rm_bpe_parse_hf(&bpe2, j.s, j.n, &err) == 0, "%s", err.msg);
	free(j.s);
	CHECK(bpe2 && rm_bpe_hash(bpe2) == rm_bpe_hash(bpe), "pairs == strings");
	rm_bpe_free(bpe2);

	/* ignore_merges: a piece that is a token is taken whole */
	memset(&j, 0, sizeof j);
	tiny_hf(&j, 0, "\"ignore_merges\":true,", NULL);
	CHECK(rm_bpe_parse_hf(&bpe2, j.s, j.n, &err) == 0, "%s", err.msg);
	free(j.s);
	if (bpe2) {
		const int32_t w[] = { ID_ABC };
		encode_check(bpe2, "abc", 3, w, 1, "hf ignore_merges abc");
		CHECK(rm_bpe_hash(bpe2) != rm_bpe_hash(bpe), "option in hash");
	}
	rm_bpe_free(bpe2);

	/* add_prefix_space */
	memset(&j, 0, sizeof j);
	tiny_hf(&j, 0, NULL, "\"normalizer\":null,\"pre_tokenizer\":{\"type\":"
		"\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\","
		"\"add_prefix_space\":true}]},");
	CHECK(rm_bpe_parse_hf(&bpe2, j.s, j.n, &err) == 0, "%s", err.msg);
	free(j.s);
	if (bpe2) {
		const int32_t w[] = { ID_SW, 'o' };
		encode_check(bpe2, "wo", 2, w, 2, "hf prefix space");
		encode_check(bpe2, " wo", 3, w, 2, "hf prefix space (had one)");
	}
	rm_bpe_free(bpe2);
	rm_bpe_free(bpe);
}

static void
test_gpt2_errors(void)
{
	struct sb enc = { 0 }, voc = { 0 }, e2 = { 0 };
	char buf[4096];

	tiny_encoder(&enc);
	tiny_vocab_bpe(&voc);
	gpt2_error("{\"a\": 0,", voc.s, "encoder.json: invalid JSON at line 1");
	gpt2_error("{\n\"a\": 0\n,]", voc.s, "encoder.json: invalid JSON at line 3, column 2");
	gpt2_error("[1, 2]", voc.s, "encoder.json: not a JSON object");
	gpt2_error("{}", voc.s, "encoder.json: vocabulary of 0 tokens");
	gpt2_error("{\"a\": 1}", voc.s, "encoder.json: token id 1 out of range (1 tokens)");
	gpt2_error("{\"a\": 0, \"b\": 0}", voc.s, "encoder.json: token id 0 used twice (token 'b')");
	gpt2_error("{\"a\": \"0\"}", voc.s, "encoder.json: token 'a': id is not a number");
	gpt2_error("{\"a\": 0.5}", voc.s, "encoder.json: token id 0.5 out of range");
	gpt2_error("{\"a\": -1}", voc.s, "encoder.json: token id -1 out of range");
	gpt2_error("{\"\\u4e2d\": 0}", voc.s,
		   "encoder.json: token '\xe4\xb8\xad' (id 0) is not in the byte-level alphabet");
	gpt2_error("{\"a\": 0}", voc.s, "encoder.json: byte 0x00 has no token");
	/* a full byte set with one id past the end */
	sb_puts(&e2, "{");
	tiny_vocab_json(&e2, 0);
	sb_puts(&e2, ",\"<|endoftext|>\":265}");
	gpt2_error(e2.s, voc.s, "encoder.json: token id 265 out of range (265 tokens)");
	free(e2.s);

	gpt2_error(enc.s, "#version: 0.2\nh e\nhe\n", "vocab.bpe: line 3: 'he' is not two tokens separated by a space");
	gpt2_error(enc.s, "h e x\n", "vocab.bpe: line 1: 'h e x' is not two tokens");
	gpt2_error(enc.s, "h e\nhel l\n", "vocab.bpe: line 2: token 'hel' is not in the vocabulary");
	gpt2_error(enc.s, "h e\nh l\n", "vocab.bpe: line 2: merge 'h l' makes a token not in the vocabulary");
	gpt2_error(enc.s, "h e\nl l\nhe ll\nh ell\n", "vocab.bpe: line 4: token 'ell' is not in the vocabulary");
	gpt2_error(enc.s, "b c\na b\nab c\na bc\n",
		   "vocab.bpe: line 4: merge 'a bc' makes the same token as merge 3 ('abc')");
	snprintf(buf, sizeof buf, "h e\n\xc4\xa0\xe4\xb8\xad w\n");
	gpt2_error(enc.s, buf, "vocab.bpe: line 2: token '\xc4\xa0\xe4\xb8\xad' is not in the vocabulary");
	/* CRLF line ends and a missing header are fine */
	{
		struct rm_bpe *bpe;
		struct rm_error err = { 0 };
		const char v[] = "h e\r\nl l\r\n\r\n";
		CHECK(rm_bpe_parse_gpt2(&bpe, enc.s, enc.n, v, sizeof v - 1, &err) == 0,
		      "%s", err.msg);
		rm_bpe_free(bpe);
	}
	free(enc.s);
	free(voc.s);
}

static void
test_hf_errors(void)
{
	struct sb j = { 0 };

	hf_error("{", "invalid JSON at line 1");
	hf_error("{\"model\": 1}", "no \"model\" object");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}",
		 "model needs a \"vocab\" object and a \"merges\" array");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 99999999}, \"merges\": []}}",
		 "model.vocab: token 'a': id 99999999 out of range");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": null}, \"merges\": []}}",
		 "model.vocab: token 'a': id is not a number");
	hf_error("{\"added_tokens\": [{\"content\": \"x\"}], \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
		 "added_tokens: entry without a valid id");
	hf_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
		 "model type 'WordPiece' is not supported (need BPE)");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		 "\"pre_tokenizer\": {\"type\": \"Whitespace\"}}",
		 "pre_tokenizer 'Whitespace' is not supported (supported: Split,");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		 "\"normalizer\": {\"type\": \"Lowercase\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
		 "normalizer 'Lowercase' is not supported");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		 "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"invert\": true}}",
		 "pre_tokenizer Split with invert is not supported");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		 "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}}",
		 "pre_tokenizer Split: pattern /(/: missing closing parenthesis");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		 "\"post_processor\": {\"type\": \"BertProcessing\"}}",
		 "post_processor 'BertProcessing' is not supported");
	hf_error("{\"added_tokens\": [{\"id\": 0, \"content\": \"a\", \"lstrip\": true}],"
		 "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
		 "added_tokens: id 0: option 'lstrip' is not supported");
	hf_error("{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {\"a\": 0}, \"merges\": []},"
		 "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
		 "model option 'dropout' is not supported");
	hf_error("{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, \"merges\": []}}",
		 "byte_fallback: byte token '<0x00>' is missing");
	hf_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		 "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
		 "model.vocab: byte 0x00 has no token");

	tiny_hf(&j, 0, NULL, NULL);
	/* break the merges in several ways by string surgery */
	{
		char *s = strdup(j.s), *m = strstr(s, "\"merges\":[") + 10;
		char *t = malloc(strlen(s) + 64);
		const char *bad[][2] = {
			{ "\"h\",", "model.merges[0]: not \"a b\" nor [\"a\", \"b\"]" },
			{ "[\"h\"],", "model.merges[0]: not \"a b\" nor [\"a\", \"b\"]" },
			{ "\"hel l\",", "model.merges[0]: token 'hel' is not in the vocabulary" },
			{ "\"h l\",", "model.merges[0]: 'h' + 'l' is not in the vocabulary" },
			{ "\"l l\",", "model.merges[2]: merge 'l' 'l' appears twice" },
		};
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			size_t at = (size_t)(m - s);
			memcpy(t, s, at);
			strcpy(t + at, bad[i][0]);
			strcat(t, m);
			hf_error(t, bad[i][1]);
		}
		free(s);
		free(t);
	}
	free(j.s);
}

static void
test_files(void)
{
	char dir[] = "/tmp/t-bpe.XXXXXX", enc[64], voc[64], hf[64];
	struct sb e = { 0 }, v = { 0 }, h = { 0 };
	struct rm_bpe *bpe, *bpe2;
	struct rm_error err = { 0 };
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(enc, sizeof enc, "%s/encoder.json", dir);
	snprintf(voc, sizeof voc, "%s/vocab.bpe", dir);
	snprintf(hf, sizeof hf, "%s/tokenizer.json", dir);
	tiny_encoder(&e);
	tiny_vocab_bpe(&v);
	tiny_hf(&h, 1, NULL, NULL);
	f = fopen(enc, "w");
	fputs(e.s, f);
	fclose(f);
	f = fopen(voc, "w");
	fputs(v.s, f);
	fclose(f);
	f = fopen(hf, "w");
	fputs(h.s, f);
	fclose(f);

	CHECK(rm_bpe_load_gpt2(&bpe, enc, voc, &err) == 0, "%s", err.msg);
	CHECK(rm_bpe_parse_gpt2(&bpe2, e.s, e.n, v.s, v.n, &err) == 0, "%s", err.msg);
	CHECK(bpe && bpe2 && rm_bpe_hash(bpe) == rm_bpe_hash(bpe2), "file == memory");
	rm_bpe_free(bpe);
	rm_bpe_free(bpe2);
	CHECK(rm_bpe_load_hf(&bpe, hf, &err) == 0, "%s", err.msg);
	rm_bpe_free(bpe);

	/* messages name the file */
	{
		char want[256];
		CHECK(rm_bpe_load_gpt2(&bpe, voc, voc, &err) == RM_EDATA && bpe == NULL,
		      "vocab.bpe as encoder.json");
		snprintf(want, sizeof want, "%s: invalid JSON at line 1", voc);
		CHECK(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
		CHECK(rm_bpe_load_gpt2(&bpe, enc, enc, &err) == RM_EDATA, "enc as vocab");
		snprintf(want, sizeof want, "%s: line 1: ", enc);
		CHECK(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
		CHECK(rm_bpe_load_hf(&bpe, enc, &err) == RM_EDATA, "enc as hf");
		snprintf(want, sizeof want, "%s: no \"model\" object", enc);
		CHECK(strcmp(err.msg, want) == 0, "%s", err.msg);
		snprintf(want, sizeof want, "%s/missing.json", dir);
		CHECK(rm_bpe_load_hf(&bpe, want, &err) == RM_EIO && bpe == NULL,
		      "missing file");
		CHECK(strstr(err.msg, "missing.json") != NULL, "%s", err.msg);
	}
	unlink(enc);
	unlink(voc);
	unlink(hf);
	rmdir(dir);
	free(e.s);
	free(v.s);
	free(h.s);
}

/* Many distinct words through one context (cache fills and empties). */
static void
test_cache(const struct rm_bpe *bpe)
{
	struct rm_bpe_ctx *ctx, *fresh;
	struct rm_ids a = { 0 }, b = { 0 };
	struct rm_error err = { 0 };
	char w[64];
	int bad = 0;

	CHECK(rm_bpe_ctx_new(&ctx, bpe, &err) == 0, "%s", err.msg);
	for (int i = 0; i < 70000 && !bad; i++) {
		int n = snprintf(w, sizeof w, " hell%x%sabc", i, i % 3 ? "lo" : "");
		a.n = b.n = 0;
		rm_bpe_encode(ctx, w, (size_t)n, &a, &err);
		if (i % 997 == 0) { /* compare with a cold cache now and then */
			rm_bpe_ctx_new(&fresh, bpe, &err);
			rm_bpe_encode(fresh, w, (size_t)n, &b, &err);
			rm_bpe_ctx_free(fresh);
			bad = a.n != b.n || memcmp(a.v, b.v, a.n * sizeof *a.v);
		}
	}
	CHECK(!bad, "cached encoding differs from a fresh context's");
	rm_ids_release(&a);
	rm_ids_release(&b);
	rm_bpe_ctx_free(ctx);
}

struct job {
	const struct rm_bpe *bpe;
	const char *text;
	size_t len;
	struct rm_ids ids;
};

static void *
encode_job(void *arg)
{
	struct job *j = arg;
	struct rm_bpe_ctx *ctx;
	struct rm_error err;

	if (rm_bpe_ctx_new(&ctx, j->bpe, &err) < 0)
		return NULL;
	for (int r = 0; r < 20; r++) {
		j->ids.n = 0;
		rm_bpe_encode(ctx, j->text, j->len, &j->ids, &err);
	}
	rm_bpe_ctx_free(ctx);
	return NULL;
}

/* Four threads, one tokenizer, one context each: the same ids. */
static void
test_threads(const struct rm_bpe *bpe)
{
	struct sb t = { 0 };
	struct job jobs[4];
	pthread_t th[4];

	for (int i = 0; i < 2000; i++) {
		char w[64];
		snprintf(w, sizeof w, "hello %d abcd world's\n", i * 7919);
		sb_puts(&t, w);
	}
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct job){ bpe, t.s, t.n, { 0 } };
		pthread_create(&th[i], NULL, encode_job, &jobs[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 1; i < 4; i++)
		CHECK(jobs[i].ids.n == jobs[0].ids.n && jobs[0].ids.n > 0 &&
		      memcmp(jobs[i].ids.v, jobs[0].ids.v,
			     jobs[0].ids.n * sizeof(int32_t)) == 0,
		      "thread %d differs", i);
	for (int i = 0; i < 4; i++)
		rm_ids_release(&jobs[i].ids);
	free(t.s);
}

/* With the real GPT-2 files: a few known encodings and long pieces. */
static void
test_real_gpt2(void)
{
	const char *dir = getenv("RMKIT_GPT2_DIR"), *top = getenv("RM_TOP");
	char enc[4096], voc[4096], def[4096];
	struct rm_bpe *bpe;
	struct rm_error err = { 0 };

	if (dir == NULL || *dir == '\0') {
		snprintf(def, sizeof def, "%s/.cache/gpt2", top ? top : ".");
		dir = def;
	}
	snprintf(enc, sizeof enc, "%.4000s/encoder.json", dir);
	snprintf(voc, sizeof voc, "%.4000s/vocab.bpe", dir);
	if (access(enc, R_OK) != 0 || access(voc, R_OK) != 0) {
		printf("no GPT-2 files in %s: real-vocabulary checks skipped\n", dir);
		return;
	}
	CHECK(rm_bpe_load_gpt2(&bpe, enc, voc, &err) == 0, "%s", err.msg);
	if (bpe == NULL)
		return;
	CHECK(rm_bpe_vocab_size(bpe) == 50257 && rm_bpe_eos(bpe) == 50256,
	      "gpt2 sizes");
	{
		const char t[] = "Hello world, it's a test!";
		const int32_t w[] = { 15496, 995, 11, 340, 338, 257, 1332, 0 };
		encode_check(bpe, t, sizeof t - 1, w, 8, "gpt2 hello");
	}
	{
		const char t[] = "\n\nHuman: hi   there\t\tx  ";
		const int32_t w[] = { 198, 198, 20490, 25, 23105, 220, 220, 612,
				      197, 197, 87, 220, 220 };
		encode_check(bpe, t, sizeof t - 1, w, sizeof w / sizeof *w,
			     "gpt2 spaces");
	}
	{
		/* a piece past the quadratic-scan limit (heap merging) */
		char t[141];
		int32_t w[70];
		for (int i = 0; i < 70; i++) {
			t[2 * i] = 'a';
			t[2 * i + 1] = 'b';
			w[i] = 397;
		}
		t[140] = '\0';
		encode_check(bpe, t, 140, w, 70, "gpt2 abab...");
	}
	roundtrip(bpe, "caf\xc3\xa9 \xff\xfe<|endoftext|> \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 28);
	test_threads(bpe);
	rm_bpe_free(bpe);
}

int
main(void)
{
	struct rm_bpe *tiny = NULL;

	test_bytes();
	test_tiny_gpt2(&tiny);
	test_tiny_hf(tiny);
	test_gpt2_errors();
	test_hf_errors();
	test_files();
	if (tiny) {
		test_cache(tiny);
		test_threads(tiny);
	}
	rm_bpe_free(tiny);
	test_real_gpt2();
	CHECK(rm_unicode_class(0x3000) == RM_UC_SPACE &&
	      rm_unicode_class(0xFEFF) == RM_UC_SPACE &&
	      rm_unicode_class(0x85) == RM_UC_OTHER &&
	      rm_unicode_class(0x301) == RM_UC_OTHER &&
	      rm_unicode_class(0xE9) == RM_UC_LETTER &&
	      rm_unicode_class(0xBD) == RM_UC_NUMBER, "unicode classes");
	return check_done();
}
