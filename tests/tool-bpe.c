/*
 * tool-bpe - drive the tokenizer from shell tests and benchmarks.
 *
 *   tool-bpe [-t SPEC] [-0]         encode: stdin has one JSON string per line
 *                                   (-0: raw texts separated by NUL bytes);
 *                                   prints one JSON array of ids per text
 *                                   (-S: special tokens split out of
 *                                   the text, Hugging Face's default)
 *   tool-bpe [-t SPEC] -d           decode: stdin has one JSON array of ids
 *                                   per line; prints the bytes of each,
 *                                   NUL-terminated
 *   tool-bpe [-t SPEC] -B PASSES    benchmark: read the texts as for encode,
 *                                   then encode them all PASSES times, each
 *                                   pass with a fresh context (cold word
 *                                   cache); prints "bytes=N tokens=N
 *                                   best_s=S mbps=M" for the fastest pass
 *   tool-bpe -u                     prints the class of every code point
 *                                   U+0000..U+10FFFF, one character each:
 *                                   L N S O (letter number space other),
 *                                   '.' when unassigned in our tables;
 *                                   then a newline and the Unicode version
 *
 * SPEC is as for rm-tokenize (lib/text/tokspec.h): gpt2, bytes, a tokenizer.json,
 * or ENC,VOCAB.  Default gpt2.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/bpe.h"
#include "cli/cli.h"
#include "stream/io.h"
#include "text/tokspec.h"
#include "text/unicode.h"

struct texts {
	char **s;
	size_t *len;
	size_t n, cap, bytes;
};

static void
die(const char *what, const struct rm_error *err)
{
	fprintf(stderr, "tool-bpe: %s%s%s\n", what, err ? ": " : "",
		err ? err->msg : "");
	exit(1);
}

static void
add_text(struct texts *t, const char *s, size_t n)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		t->s = realloc(t->s, t->cap * sizeof *t->s);
		t->len = realloc(t->len, t->cap * sizeof *t->len);
		if (t->s == NULL || t->len == NULL)
			die("out of memory", NULL);
	}
	t->s[t->n] = malloc(n + 1);
	if (t->s[t->n] == NULL)
		die("out of memory", NULL);
	memcpy(t->s[t->n], s, n);
	t->s[t->n][n] = '\0';
	t->len[t->n++] = n;
	t->bytes += n;
}

/* Texts from stdin: JSON strings one per line, or NUL-separated. */
static void
read_texts(struct texts *t, int nul)
{
	struct rm_error err;
	struct rm_in *in;
	char *line = NULL;
	size_t cap = 0, len;
	int rc;

	if (nul) {
		char *buf;
		size_t n, i = 0;
		if (rm_read_file(NULL, (size_t)1 << 32, &buf, &n, &err) < 0)
			die("reading stdin", &err);
		while (i < n) {
			const char *z = memchr(buf + i, '\0', n - i);
			size_t e = z ? (size_t)(z - buf) : n;
			add_text(t, buf + i, e - i);
			i = e + 1;
		}
		free(buf);
		return;
	}
	if (rm_in_open(&in, NULL, &err) < 0)
		die("stdin", &err);
	while ((rc = rm_in_getline(in, &line, &cap, &len, &err)) > 0) {
		cJSON *j = cJSON_ParseWithLength(line, len);
		if (!cJSON_IsString(j)) {
			fprintf(stderr, "tool-bpe: line %zu: not a JSON string\n",
				rm_in_line(in));
			exit(1);
		}
		add_text(t, j->valuestring, strlen(j->valuestring));
		cJSON_Delete(j);
	}
	if (rc < 0)
		die("stdin", &err);
	free(line);
	rm_in_close(in);
}

static void
print_ids(const struct rm_ids *ids)
{
	putchar('[');
	for (size_t i = 0; i < ids->n; i++)
		printf(i ? ",%d" : "%d", (int)ids->v[i]);
	puts("]");
}

static int specials;

static int
encode_all(const struct rm_bpe *bpe, const struct texts *t, int print,
	   size_t *ntok)
{
	struct rm_bpe_ctx *ctx;
	struct rm_ids ids = { 0 };
	struct rm_error err;

	if (rm_bpe_ctx_new(&ctx, bpe, &err) < 0)
		die("context", &err);
	rm_bpe_ctx_set_specials(ctx, specials);
	*ntok = 0;
	for (size_t i = 0; i < t->n; i++) {
		ids.n = 0;
		if (rm_bpe_encode(ctx, t->s[i], t->len[i], &ids, &err) < 0)
			die("encode", &err);
		*ntok += ids.n;
		if (print)
			print_ids(&ids);
	}
	rm_ids_release(&ids);
	rm_bpe_ctx_free(ctx);
	return 0;
}

static void
decode_lines(const struct rm_bpe *bpe)
{
	struct rm_error err;
	struct rm_in *in;
	struct rm_ids ids = { 0 };
	char *line = NULL, *out = NULL;
	size_t cap = 0, len, ocap = 0, olen;
	int rc;

	if (rm_in_open(&in, NULL, &err) < 0)
		die("stdin", &err);
	while ((rc = rm_in_getline(in, &line, &cap, &len, &err)) > 0) {
		cJSON *j = cJSON_ParseWithLength(line, len), *it;
		if (!cJSON_IsArray(j))
			die("decode: a line is not a JSON array", NULL);
		ids.n = 0;
		cJSON_ArrayForEach(it, j)
			if (rm_ids_push(&ids, (int32_t)it->valuedouble, &err) < 0)
				die("decode", &err);
		cJSON_Delete(j);
		if (rm_bpe_decode(bpe, ids.v, ids.n, &out, &ocap, &olen, &err) < 0)
			die("decode", &err);
		fwrite(out, 1, olen + 1, stdout);
	}
	if (rc < 0)
		die("stdin", &err);
	free(line);
	free(out);
	rm_ids_release(&ids);
	rm_in_close(in);
}

static void
dump_classes(void)
{
	static const char cls[] = "LNSO";

	for (uint32_t cp = 0; cp < 0x110000; cp++) {
		int c = rm_unicode_class(cp);
		putchar(!rm_unicode_assigned(cp) ? '.'
		        : cls[c == RM_UC_LETTER ? 0 : c == RM_UC_NUMBER ? 1
			      : c == RM_UC_SPACE ? 2 : 3]);
	}
	printf("\n%s\n", rm_unicode_version());
}

int
main(int argc, char **argv)
{
	const char *spec = "gpt2";
	struct rm_bpe *bpe;
	struct rm_error err;
	struct texts t = { 0 };
	int opt, nul = 0, decode = 0, status;
	long passes = 0;
	size_t ntok;

	while ((opt = getopt(argc, argv, "t:0dB:uS")) != -1) {
		switch (opt) {
		case 't': spec = optarg; break;
		case '0': nul = 1; break;
		case 'd': decode = 1; break;
		case 'B': passes = atol(optarg); break;
		case 'u': dump_classes(); return 0;
		case 'S': specials = RM_BPE_SPECIALS_SPLIT; break;
		default:
			fprintf(stderr, "usage: tool-bpe [-t SPEC] [-0 | -d | -B PASSES | -u]\n");
			return 2;
		}
	}
	if (rm_tokspec_load(&bpe, spec, &err) < 0)
		die("loading the tokenizer", &err);
	if (decode) {
		decode_lines(bpe);
	} else {
		read_texts(&t, nul);
		if (passes <= 0) {
			encode_all(bpe, &t, 1, &ntok);
		} else {
			double best = 1e300;
			for (long p = 0; p < passes; p++) {
				double t0 = rm_now();
				encode_all(bpe, &t, 0, &ntok);
				double dt = rm_now() - t0;
				if (dt < best)
					best = dt;
			}
			printf("texts=%zu bytes=%zu tokens=%zu best_s=%.4f mbps=%.2f\n",
			       t.n, t.bytes, ntok, best, (double)t.bytes / best / 1e6);
		}
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.s[i]);
	free(t.s);
	free(t.len);
	rm_bpe_free(bpe);
	status = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
	return status;
}
