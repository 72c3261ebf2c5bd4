/*
 * t-pretok.c - the NFC normalizer's fast path (only the regions around
 * characters that NFC may change go through utf8proc) against utf8proc's
 * NFC of the whole text: every code point alone and between the
 * characters it could compose or reorder with, and random strings of
 * combining marks, Hangul jamo, precomposed letters, CJK and ASCII.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/rng.h"
#include "check.h"
#include "text/pretok.h"

static struct rm_pretok_ctx *ctx;
static long nchecked;

static size_t
put(char *s, size_t n, uint32_t cp)
{
	return n + (size_t)utf8proc_encode_char((utf8proc_int32_t)cp,
	    (utf8proc_uint8_t *)s + n);
}

static void
same(const char *s, size_t n)
{
	utf8proc_uint8_t *want = NULL;
	utf8proc_ssize_t wn = utf8proc_map((const utf8proc_uint8_t *)s,
	    (utf8proc_ssize_t)n, &want,
	    (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
	const char *got;
	size_t gn;
	struct rm_error err = { 0 };
	int rc = rm_pretok_normalize(ctx, s, n, &got, &gn, &err);

	nchecked++;
	CHECK(wn >= 0 && rc == 0 && (size_t)wn == gn &&
	      memcmp(got, want, gn) == 0, "NFC differs on %zu bytes "
	      "starting %02x %02x %02x (rc %d)", n, (unsigned char)s[0],
	      n > 1 ? (unsigned char)s[1] : 0, n > 2 ? (unsigned char)s[2] : 0,
	      rc);
	free(want);
}

int
main(void)
{
	cJSON *norm = cJSON_Parse("{\"type\":\"NFC\"}");
	struct rm_pretok *p = NULL;
	struct rm_error err = { 0 };
	static const uint32_t around[] = {
		'a', 'e', 0xE9, 0x300, 0x301, 0x327, 0x1100, 0x1161, 0x11A8,
		0xAC00, 0x0B47, 0x0B3E, 0x0CD5, 0x3099, 0x304B, 0x2126, 0x212B,
		0x05B4, 0xF900, 0x1F600, 0x200D, 0x2019, 0x20,
	};
	const size_t na = sizeof around / sizeof *around;
	char s[256];
	struct rm_rng rng;
	int stride = getenv("RM_SANITIZED") ? 7 : 1;

	CHECK(norm && rm_pretok_parse(&p, norm, NULL, &err) == 0 && p &&
	      rm_pretok_ctx_new(&ctx, p, &err) == 0, "NFC normalizer: %s",
	      err.msg);
	if (ctx == NULL)
		return check_done();
	/* every code point alone, after a starter, before a mark */
	for (uint32_t cp = 0x80; cp <= 0x10FFFF; cp += (uint32_t)stride) {
		size_t n;
		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		n = put(s, 0, cp);
		same(s, n);
		n = put(s, put(s, put(s, 0, 'A'), cp), 0x301);
		same(s, n);
		n = put(s, put(s, put(s, 0, 0x1100), cp), 'x');
		same(s, n);
		n = put(s, put(s, put(s, put(s, 0, 0xE9), 0x327), cp), 0x308);
		same(s, n);
	}
	/* random strings over characters that interact */
	rm_rng_seed(&rng, 42);
	for (int t = 0; t < 200000 / stride; t++) {
		size_t n = 0, len = 1 + rm_rng_next(&rng) % 12;
		for (size_t i = 0; i < len; i++) {
			uint64_t r = rm_rng_next(&rng);
			uint32_t cp = r % 4 == 0 ?
			    0x300 + (uint32_t)(r >> 8) % 0x70 :
			    r % 4 == 1 ? (uint32_t)(r >> 8) % 0x3000 + 0x80 :
			    around[(r >> 8) % na];
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 'z';
			n = put(s, n, cp);
		}
		same(s, n);
	}
	printf("%ld strings\n", nchecked);
	rm_pretok_ctx_free(ctx);
	rm_pretok_free(p);
	cJSON_Delete(norm);
	return check_done();
}
