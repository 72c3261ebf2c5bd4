/*
 * pretok.c - normalizers and pre-tokenizers of tokenizer.json (pretok.h).
 *
 * A pre-tokenizer is a list of steps, each turning a list of pieces into a
 * finer one.  Pieces are (offset, length) ranges into a buffer; the steps
 * that rewrite text (Metaspace, ByteLevel's prefix space) build a new
 * buffer.  The last step's pieces go to the caller's callback.
 *
 * Where the JavaScript port and the Rust library differ on a step none of
 * the tested tokenizers uses (Split behaviors other than Isolated, Digits,
 * Punctuation, Metaspace's split), this follows the Rust library, which is
 * what transformers runs.
 */
#include "text/pretok.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/hash.h"

enum { N_NFC, N_NFD, N_NFKC, N_NFKD, N_PREPEND, N_REPLACE };

enum {
	B_ISOLATED, B_REMOVED, B_PREVIOUS, B_NEXT, B_CONTIGUOUS,
};

enum { P_SPLIT, P_BYTELEVEL, P_METASPACE };

struct nstep {
	int op;
	char *a, *b;            /* Prepend: a; Replace: a -> b */
	size_t al, bl;
};

struct pstep {
	int op;
	int behavior;
	pcre2_code *re;         /* Split, ByteLevel with use_regex */
	int prefix_space;       /* ByteLevel */
	char *repl;             /* Metaspace replacement */
	size_t repl_len;
	int prepend;            /* Metaspace: 0 never, 1 always, 2 first */
	int msplit;             /* Metaspace split */
};

#define MAX_STEPS 16

struct rm_pretok {
	struct nstep n[MAX_STEPS];
	size_t nn;
	struct pstep p[MAX_STEPS];
	size_t np;
	uint64_t hash;
};

struct piece {
	size_t off, len;
};

struct plist {
	struct piece *v;
	size_t n, cap;
};

struct rm_pretok_ctx {
	const struct rm_pretok *p;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;
	char *nbuf[2];          /* normalization buffers */
	size_t ncap[2];
	char *tbuf[2];          /* rewritten text for pre-tokenizer steps */
	size_t tcap[2];
	struct plist pl[2];
};

/* ---- parsing ------------------------------------------------------------ */

static const char *
jtype(const cJSON *o)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
	return cJSON_IsString(t) ? t->valuestring : "(none)";
}

static char *
dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int
bool_opt(const cJSON *o, const char *key, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (v == NULL || cJSON_IsNull(v))
		return dflt;
	return cJSON_IsTrue(v);
}

static int
parse_norm(struct rm_pretok *p, const cJSON *o, struct rm_error *err)
{
	const char *ty = jtype(o);
	struct nstep *s;

	if (strcmp(ty, "Sequence") == 0) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "normalizers"), *it;
		if (!cJSON_IsArray(l))
			return rm_error_set(err, RM_EDATA,
			    "normalizer Sequence without a 'normalizers' list");
		cJSON_ArrayForEach(it, l) {
			int rc = parse_norm(p, it, err);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (p->nn == MAX_STEPS)
		return rm_error_set(err, RM_EDATA, "more than %d normalizers",
		    MAX_STEPS);
	s = &p->n[p->nn];
	memset(s, 0, sizeof *s);
	if (strcmp(ty, "NFC") == 0)
		s->op = N_NFC;
	else if (strcmp(ty, "NFD") == 0)
		s->op = N_NFD;
	else if (strcmp(ty, "NFKC") == 0)
		s->op = N_NFKC;
	else if (strcmp(ty, "NFKD") == 0)
		s->op = N_NFKD;
	else if (strcmp(ty, "Prepend") == 0) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "prepend");
		if (!cJSON_IsString(v))
			return rm_error_set(err, RM_EDATA,
			    "normalizer Prepend without a 'prepend' string");
		s->op = N_PREPEND;
		s->al = strlen(v->valuestring);
		s->a = dupn(v->valuestring, s->al);
		if (s->a == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
	} else if (strcmp(ty, "Replace") == 0) {
		const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
		const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "content");
		if (cJSON_GetObjectItemCaseSensitive(pat, "Regex"))
			return rm_error_set(err, RM_EDATA,
			    "normalizer Replace with a Regex pattern is not supported");
		if (!cJSON_IsString(str) || !str->valuestring[0] ||
		    !cJSON_IsString(c))
			return rm_error_set(err, RM_EDATA,
			    "normalizer Replace needs pattern.String and content");
		s->op = N_REPLACE;
		s->al = strlen(str->valuestring);
		s->bl = strlen(c->valuestring);
		s->a = dupn(str->valuestring, s->al);
		s->b = dupn(c->valuestring, s->bl);
		if (s->a == NULL || s->b == NULL) {
			free(s->a);
			free(s->b);
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		}
	} else {
		return rm_error_set(err, RM_EDATA,
		    "normalizer '%s' is not supported (supported: NFC, NFD, NFKC, "
		    "NFKD, Prepend, Replace, Sequence)", ty);
	}
	p->nn++;
	return 0;
}

/* A growable string for rewriting patterns. */
struct sb {
	char *s;
	size_t n, cap;
	int oom;
};

static void
sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *t = realloc(b->s, cap);
		if (t == NULL) {
			b->oom = 1;
			return;
		}
		b->s = t;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void
sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/*
 * rewrite - an Oniguruma pattern as the JavaScript port runs it, in PCRE2
 * syntax: \s and \S are White_Space (in classes too), the letters inside
 * (?i:...) match both cases (ASCII only), the rest passes through.
 * js_space: \s is JavaScript's own instead (the ByteLevel regex is a
 * JavaScript literal in the port).
 */
static char *
rewrite(const char *re, int js_space)
{
	static const char jss[] = "\\t\\n\\x0B\\f\\r\\x{20}\\x{A0}\\x{1680}"
	    "\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
	    "\\x{FEFF}";
	struct sb b = { 0 };
	int depth = 0, fold_depth = -1, in_class = 0;

	for (size_t i = 0; re[i]; i++) {
		char c = re[i];

		if (c == '\\' && re[i + 1]) {
			char d = re[i + 1];
			if (d == 's' || d == 'S') {
				if (js_space) {
					if (d == 's' && in_class)
						sb_str(&b, jss);
					else if (d == 's')
						sb_str(&b, "["), sb_str(&b, jss), sb_str(&b, "]");
					else if (!in_class)
						sb_str(&b, "[^"), sb_str(&b, jss), sb_str(&b, "]");
					else
						return free(b.s), NULL;
				} else {
					sb_str(&b, d == 's' ? "\\p{White_Space}" :
					    "\\P{White_Space}");
				}
			} else {
				sb_add(&b, re + i, 2);
			}
			i++;
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = 0;
			sb_add(&b, &c, 1);
			continue;
		}
		if (c == '[') {
			in_class = 1;
			sb_add(&b, &c, 1);
			if (re[i + 1] == '^')
				sb_add(&b, re + ++i, 1);
			if (re[i + 1] == ']')
				sb_add(&b, re + ++i, 1);
			continue;
		}
		if (c == '(') {
			depth++;
			if (strncmp(re + i, "(?i:", 4) == 0) {
				if (fold_depth < 0)
					fold_depth = depth;
				sb_str(&b, "(?:");
				i += 3;
				continue;
			}
		} else if (c == ')') {
			if (depth == fold_depth)
				fold_depth = -1;
			depth--;
		} else if (fold_depth >= 0 && ((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))) {
			char t[4] = { '[', (char)(c | 0x20), (char)(c & ~0x20), ']' };
			sb_add(&b, t, 4);
			continue;
		}
		sb_add(&b, &c, 1);
	}
	if (b.oom || b.s == NULL) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static int
compile(pcre2_code **out, const char *pat, size_t len, int literal,
	struct rm_error *err)
{
	int ec;
	PCRE2_SIZE eo;
	uint32_t opt = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opt, &ec, &eo, NULL);

	if (re == NULL) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ec, msg, sizeof msg);
		return rm_error_set(err, RM_EDATA,
		    "pattern /%.200s/: %s at offset %zu", pat, (char *)msg,
		    (size_t)eo);
	}
	if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0) {
		/* no JIT on this machine: the interpreter gives the same */
	}
	*out = re;
	return 0;
}

static int
parse_behavior(const cJSON *o, int *b, struct rm_error *err)
{
	static const char *const names[] = { "Isolated", "Removed",
	    "MergedWithPrevious", "MergedWithNext", "Contiguous" };
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "behavior");

	if (!cJSON_IsString(v)) {
		*b = B_ISOLATED;
		return 0;
	}
	for (int i = 0; i < 5; i++)
		if (strcmp(v->valuestring, names[i]) == 0) {
			*b = i;
			return 0;
		}
	return rm_error_set(err, RM_EDATA, "pre_tokenizer behavior '%s' is "
	    "not supported", v->valuestring);
}

static const char gpt2_re[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+|"
    " ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int
parse_pre(struct rm_pretok *p, const cJSON *o, struct rm_error *err)
{
	const char *ty = jtype(o);
	struct pstep *s;
	int rc;

	if (strcmp(ty, "Sequence") == 0) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers"), *it;
		if (!cJSON_IsArray(l))
			return rm_error_set(err, RM_EDATA,
			    "pre_tokenizer Sequence without a 'pretokenizers' list");
		cJSON_ArrayForEach(it, l)
			if ((rc = parse_pre(p, it, err)) < 0)
				return rc;
		return 0;
	}
	if (p->np == MAX_STEPS)
		return rm_error_set(err, RM_EDATA, "more than %d pre-tokenizers",
		    MAX_STEPS);
	s = &p->p[p->np];
	memset(s, 0, sizeof *s);
	if (strcmp(ty, "Split") == 0) {
		const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
		const cJSON *rx = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
		const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
		if (bool_opt(o, "invert", 0))
			return rm_error_set(err, RM_EDATA,
			    "pre_tokenizer Split with invert is not supported");
		if ((rc = parse_behavior(o, &s->behavior, err)) < 0)
			return rc;
		s->op = P_SPLIT;
		if (cJSON_IsString(rx)) {
			char *w = rewrite(rx->valuestring, 0);
			if (w == NULL)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			rc = compile(&s->re, w, strlen(w), 0, err);
			free(w);
		} else if (cJSON_IsString(str) && str->valuestring[0]) {
			rc = compile(&s->re, str->valuestring,
			    strlen(str->valuestring), 1, err);
		} else {
			return rm_error_set(err, RM_EDATA,
			    "pre_tokenizer Split without a Regex or String pattern");
		}
		if (rc < 0)
			return rm_error_prefix(err, "pre_tokenizer Split");
	} else if (strcmp(ty, "ByteLevel") == 0) {
		s->op = P_BYTELEVEL;
		s->prefix_space = bool_opt(o, "add_prefix_space", 0);
		if (bool_opt(o, "use_regex", 1)) {
			char *w = rewrite(gpt2_re, 1);
			if (w == NULL)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			rc = compile(&s->re, w, strlen(w), 0, err);
			free(w);
			if (rc < 0)
				return rc;
		}
		/* byte-level mapping itself: the vocabulary holds raw bytes */
		if (!s->prefix_space && s->re == NULL)
			return 0;
	} else if (strcmp(ty, "Digits") == 0) {
		/* Rust: split on is_numeric chars, Contiguous or Isolated */
		s->op = P_SPLIT;
		s->behavior = bool_opt(o, "individual_digits", 0) ? B_ISOLATED :
		    B_CONTIGUOUS;
		if ((rc = compile(&s->re, "\\p{N}", 5, 0, err)) < 0)
			return rc;
	} else if (strcmp(ty, "Punctuation") == 0) {
		/* Rust: each punctuation char (Unicode P or ASCII punct) */
		static const char pu[] = "[\\p{P}\\x{21}-\\x{2F}\\x{3A}-\\x{40}"
		    "\\x{5B}-\\x{60}\\x{7B}-\\x{7E}]";
		s->op = P_SPLIT;
		if ((rc = parse_behavior(o, &s->behavior, err)) < 0)
			return rc;
		if ((rc = compile(&s->re, pu, sizeof pu - 1, 0, err)) < 0)
			return rc;
	} else if (strcmp(ty, "Metaspace") == 0) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "replacement");
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "prepend_scheme");
		const char *rep = cJSON_IsString(r) ? r->valuestring : "\xe2\x96\x81";
		s->op = P_METASPACE;
		s->repl_len = strlen(rep);
		s->repl = dupn(rep, s->repl_len);
		if (s->repl == NULL || s->repl_len == 0) {
			free(s->repl);
			return rm_error_set(err, RM_EDATA,
			    "pre_tokenizer Metaspace with an empty replacement");
		}
		s->prepend = 1;
		if (cJSON_IsString(ps)) {
			if (strcmp(ps->valuestring, "never") == 0)
				s->prepend = 0;
			else if (strcmp(ps->valuestring, "first") == 0)
				s->prepend = 2;
			else if (strcmp(ps->valuestring, "always") != 0) {
				free(s->repl);
				return rm_error_set(err, RM_EDATA,
				    "pre_tokenizer Metaspace prepend_scheme '%s' "
				    "is not supported", ps->valuestring);
			}
		} else if (!bool_opt(o, "add_prefix_space", 1)) {
			s->prepend = 0;
		}
		s->msplit = bool_opt(o, "split", 1);
	} else {
		return rm_error_set(err, RM_EDATA,
		    "pre_tokenizer '%s' is not supported (supported: Split, "
		    "ByteLevel, Digits, Punctuation, Metaspace, Sequence)", ty);
	}
	p->np++;
	return 0;
}

void
rm_pretok_free(struct rm_pretok *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nn; i++) {
		free(p->n[i].a);
		free(p->n[i].b);
	}
	for (size_t i = 0; i < p->np; i++) {
		pcre2_code_free(p->p[i].re);
		free(p->p[i].repl);
	}
	free(p);
}

static uint64_t
json_hash(const cJSON *o, uint64_t h)
{
	char *s;

	if (o == NULL || cJSON_IsNull(o))
		return h * 31 + 7;
	s = cJSON_PrintUnformatted(o);
	if (s == NULL)
		return h;
	h = h * 0x100000001b3ULL ^ rm_hash64(s, strlen(s));
	free(s);
	return h;
}

int
rm_pretok_parse(struct rm_pretok **out, const cJSON *norm, const cJSON *pre,
		struct rm_error *err)
{
	struct rm_pretok *p;
	int rc = 0;

	*out = NULL;
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	if (norm && !cJSON_IsNull(norm))
		rc = parse_norm(p, norm, err);
	if (rc == 0 && pre && !cJSON_IsNull(pre))
		rc = parse_pre(p, pre, err);
	if (rc < 0) {
		rm_pretok_free(p);
		return rc;
	}
	p->hash = json_hash(pre, json_hash(norm, 0x7072657465ULL));
	if (p->nn == 0 && p->np == 0) {
		rm_pretok_free(p);
		return 0;
	}
	*out = p;
	return 0;
}

int
rm_pretok_normalizes(const struct rm_pretok *p)
{
	return p != NULL && p->nn > 0;
}

int
rm_pretok_rewrites(const struct rm_pretok *p)
{
	if (p == NULL)
		return 0;
	if (p->nn > 0)
		return 1;
	for (size_t i = 0; i < p->np; i++)
		if (p->p[i].op == P_METASPACE ||
		    (p->p[i].op == P_BYTELEVEL && p->p[i].prefix_space))
			return 1;
	return 0;
}

uint64_t
rm_pretok_hash(const struct rm_pretok *p)
{
	return p ? p->hash : 0;
}

const char *
rm_pretok_unicode_version(void)
{
	static char v[32];

	if (v[0] == '\0')
		pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, v);
	return v;
}

/* ---- context ------------------------------------------------------------ */

int
rm_pretok_ctx_new(struct rm_pretok_ctx **out, const struct rm_pretok *p,
		  struct rm_error *err)
{
	struct rm_pretok_ctx *c = calloc(1, sizeof *c);

	*out = NULL;
	if (c == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	c->p = p;
	c->md = pcre2_match_data_create(1, NULL);
	c->mc = pcre2_match_context_create(NULL);
	c->js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
	if (c->md == NULL || c->mc == NULL || c->js == NULL) {
		rm_pretok_ctx_free(c);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	pcre2_jit_stack_assign(c->mc, NULL, c->js);
	*out = c;
	return 0;
}

void
rm_pretok_ctx_free(struct rm_pretok_ctx *c)
{
	if (c == NULL)
		return;
	pcre2_match_data_free(c->md);
	pcre2_match_context_free(c->mc);
	pcre2_jit_stack_free(c->js);
	for (int i = 0; i < 2; i++) {
		free(c->nbuf[i]);
		free(c->tbuf[i]);
		free(c->pl[i].v);
	}
	free(c);
}

static int
grow(char **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 4096;
	while (nc < n)
		nc *= 2;
	char *t = realloc(*buf, nc);
	if (t == NULL)
		return -1;
	*buf = t;
	*cap = nc;
	return 0;
}

/* ---- normalizing -------------------------------------------------------- */

static int
max_byte_below(const char *s, size_t n, unsigned char lim)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++)
		if (u[i] >= lim)
			return 0;
	return 1;
}

/*
 * NFC by regions.  A character is inert when NFC leaves it as it is and it
 * can neither compose with what precedes it nor be reordered: ASCII, code
 * points below U+0300, and others with combining class 0, no canonical
 * decomposition and no part in any canonical composition (utf8proc's
 * comb_index; Hangul jamo and syllables compose by rule and are never
 * inert).  NFC of a text is then NFC of each maximal run of non-inert
 * characters together with the character before it (the starter it may
 * compose with), the rest copied: a boundary before an inert character
 * is one nothing reorders or composes across.
 */
static int
nfc_inert(uint32_t cp)
{
	const utf8proc_property_t *pr;

	if (cp < 0x300)
		return 1;
	if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97F) ||
	    (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0xD7B0 && cp <= 0xD7FF))
		return 0;
	pr = utf8proc_get_property((utf8proc_int32_t)cp);
	return pr->combining_class == 0 && pr->comb_index == UINT16_MAX &&
	    (pr->decomp_seqindex == UINT16_MAX || pr->decomp_type != 0);
}

/* One UTF-8 character at s[i] (n > i): its length, 0 when malformed. */
static size_t
nfc_char(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t l = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);

	if (l <= 0)
		return 0;
	*cp = (uint32_t)c;
	return (size_t)l;
}

static int
nfc_map(const char *s, size_t n, char **out, size_t *on, size_t *cap,
	struct rm_error *err)
{
	utf8proc_uint8_t *d = NULL;
	utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s,
	    (utf8proc_ssize_t)n, &d,
	    (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));

	if (r < 0) {
		free(d);
		return rm_error_set(err, r == UTF8PROC_ERROR_NOMEM ? RM_ENOMEM :
		    RM_EDATA, "normalizing text: %s", utf8proc_errmsg(r));
	}
	if (grow(out, cap, *on + (size_t)r + 1) < 0) {
		free(d);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	memcpy(*out + *on, d, (size_t)r);
	*on += (size_t)r;
	free(d);
	return 0;
}

/*
 * nfc_regions - NFC of s[0..n) into *out (see above); *changed 0 (and *out
 * untouched) when every character is inert.
 */
static int
nfc_regions(const char *s, size_t n, char **out, size_t *on, size_t *cap,
	    int *changed, struct rm_error *err)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, done = 0, prev = 0;
	int rc;

	*changed = 0;
	*on = 0;
	while (i < n) {
		uint32_t cp;
		size_t l, start, j;

		if (u[i] < 0xCC) {      /* below U+0300 (or a continuation) */
			prev = i;
			i += u[i] < 0x80 ? 1 : u[i] < 0xE0 ? 2 : 1;
			continue;
		}
		l = nfc_char(u, n, i, &cp);
		if (l == 0)
			return rm_error_set(err, RM_EDATA,
			    "normalizing text: invalid UTF-8");
		if (nfc_inert(cp)) {
			prev = i;
			i += l;
			continue;
		}
		/* a run of non-inert characters, with the one before it */
		start = i > done ? prev : i;
		for (j = i + l; j < n;) {
			if (u[j] < 0xCC && (u[j] < 0x80 || u[j] >= 0xC0))
				break;
			l = nfc_char(u, n, j, &cp);
			if (l == 0)
				return rm_error_set(err, RM_EDATA,
				    "normalizing text: invalid UTF-8");
			if (nfc_inert(cp))
				break;
			j += l;
		}
		if (grow(out, cap, *on + (start - done) + 1) < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		memcpy(*out + *on, s + done, start - done);
		*on += start - done;
		if ((rc = nfc_map(s + start, j - start, out, on, cap, err)) < 0)
			return rc;
		*changed = 1;
		done = i = prev = j;
	}
	if (!*changed)
		return 0;
	if (grow(out, cap, *on + (n - done) + 1) < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	memcpy(*out + *on, s + done, n - done);
	*on += n - done;
	return 0;
}

int
rm_pretok_normalize(struct rm_pretok_ctx *c, const char *s, size_t n,
		    const char **res, size_t *rn, struct rm_error *err)
{
	const struct rm_pretok *p = c->p;
	int k = 0;

	*res = s;
	*rn = n;
	if (p == NULL)
		return 0;
	for (size_t i = 0; i < p->nn; i++) {
		const struct nstep *st = &p->n[i];
		const char *cur = *res;
		size_t cn = *rn, on = 0;
		char *o;

		switch (st->op) {
		case N_NFC:
		case N_NFD:
		case N_NFKC:
		case N_NFKD: {
			utf8proc_uint8_t *d = NULL;
			utf8proc_ssize_t r;
			int opt = UTF8PROC_STABLE;
			/* code points below U+0300 (lead bytes < 0xCC) are
			 * NFC-stable and compose with nothing; ASCII is stable
			 * under every form */
			if (st->op == N_NFC ? max_byte_below(cur, cn, 0xCC) :
			    max_byte_below(cur, cn, 0x80))
				continue;
			if (st->op == N_NFC) {
				int changed, rc;
				rc = nfc_regions(cur, cn, &c->nbuf[k], &on,
				    &c->ncap[k], &changed, err);
				if (rc < 0)
					return rc;
				if (!changed)
					continue;
				break;
			}
			opt |= st->op == N_NFC || st->op == N_NFKC ?
			    UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
			if (st->op == N_NFKC || st->op == N_NFKD)
				opt |= UTF8PROC_COMPAT;
			r = utf8proc_map((const utf8proc_uint8_t *)cur,
			    (utf8proc_ssize_t)cn, &d, (utf8proc_option_t)opt);
			if (r < 0) {
				free(d);
				return rm_error_set(err, r == UTF8PROC_ERROR_NOMEM ?
				    RM_ENOMEM : RM_EDATA, "normalizing text: %s",
				    utf8proc_errmsg(r));
			}
			if (grow(&c->nbuf[k], &c->ncap[k], (size_t)r + 1) < 0) {
				free(d);
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			}
			memcpy(c->nbuf[k], d, (size_t)r);
			free(d);
			on = (size_t)r;
			break;
		}
		case N_PREPEND:
			if (cn == 0)
				continue;
			if (grow(&c->nbuf[k], &c->ncap[k], cn + st->al + 1) < 0)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			memcpy(c->nbuf[k], st->a, st->al);
			memcpy(c->nbuf[k] + st->al, cur, cn);
			on = cn + st->al;
			break;
		case N_REPLACE: {
			size_t cnt = 0;
			for (size_t j = 0; j + st->al <= cn;)
				if (memcmp(cur + j, st->a, st->al) == 0) {
					cnt++;
					j += st->al;
				} else {
					j++;
				}
			if (cnt == 0)
				continue;
			if (grow(&c->nbuf[k], &c->ncap[k],
			    cn + cnt * st->bl + 1) < 0)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			o = c->nbuf[k];
			for (size_t j = 0; j < cn;)
				if (j + st->al <= cn &&
				    memcmp(cur + j, st->a, st->al) == 0) {
					memcpy(o + on, st->b, st->bl);
					on += st->bl;
					j += st->al;
				} else {
					o[on++] = cur[j++];
				}
			break;
		}
		}
		*res = c->nbuf[k];
		*rn = on;
		k ^= 1;
	}
	return 0;
}

/* ---- pre-tokenizing ----------------------------------------------------- */

static int
push(struct plist *l, size_t off, size_t len)
{
	if (len == 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct piece *t = realloc(l->v, cap * sizeof *t);
		if (t == NULL)
			return -1;
		l->v = t;
		l->cap = cap;
	}
	l->v[l->n].off = off;
	l->v[l->n].len = len;
	l->n++;
	return 0;
}

/* Length of the UTF-8 character starting with byte c (1 for junk). */
static size_t
u8len(unsigned char c)
{
	return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/*
 * split_piece - the regex's matches in buf[off..off+len) split the piece by
 * behavior into out.
 */
static int
split_piece(struct rm_pretok_ctx *c, const pcre2_code *re, int behavior,
	    const char *buf, size_t off, size_t len, struct plist *out,
	    struct rm_error *err)
{
	PCRE2_SPTR subj = (PCRE2_SPTR)(buf + off);
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
	size_t at = 0, gap = 0;       /* gap: start of the unmatched text */
	size_t pend = SIZE_MAX;       /* Contiguous / Previous: open piece */
	int rc;

	while (at <= len) {
		rc = pcre2_jit_match(re, subj, len, at, PCRE2_NO_UTF_CHECK,
		    c->md, c->mc);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc == PCRE2_ERROR_JIT_BADOPTION)
			rc = pcre2_match(re, subj, len, at, PCRE2_NO_UTF_CHECK,
			    c->md, c->mc);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(rc, msg, sizeof msg);
			return rm_error_set(err, RM_EDATA,
			    "pre-tokenizer pattern: %s", (char *)msg);
		}
		size_t ms = ov[0], me = ov[1];
		if (me == ms) {         /* empty match: step one character */
			at = ms + (ms < len ? u8len(subj[ms]) : 1);
			continue;
		}
		switch (behavior) {
		case B_ISOLATED:
			rc = push(out, off + gap, ms - gap) |
			    push(out, off + ms, me - ms);
			break;
		case B_REMOVED:
			rc = push(out, off + gap, ms - gap);
			break;
		case B_PREVIOUS:
			rc = push(out, off + gap, me - gap);
			break;
		case B_NEXT:
			if (pend != SIZE_MAX)
				rc = push(out, off + pend, ms - pend);
			else
				rc = push(out, off + gap, ms - gap);
			pend = ms;
			break;
		case B_CONTIGUOUS:
			if (pend != SIZE_MAX && gap == ms) {
				/* adjacent to the previous match: extend it */
				out->v[out->n - 1].len = off + me - out->v[out->n - 1].off;
				rc = 0;
			} else {
				rc = push(out, off + gap, ms - gap) |
				    push(out, off + ms, me - ms);
			}
			pend = ms;
			break;
		}
		if (rc < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		gap = at = me;
		if (behavior == B_NEXT)
			gap = me;
	}
	if (behavior == B_NEXT && pend != SIZE_MAX)
		rc = push(out, off + pend, len - pend);
	else
		rc = push(out, off + gap, len - gap);
	return rc < 0 ? rm_error_set(err, RM_ENOMEM, "out of memory") : 0;
}

/*
 * rewrite_step - Metaspace or ByteLevel's prefix space: a new buffer made of
 * the rewritten pieces; *pieces then index it (one piece per input piece,
 * or split on the replacement for Metaspace with split).
 */
static int
rewrite_step(struct rm_pretok_ctx *c, const struct pstep *st, int first,
	     const char **buf, struct plist *in, struct plist *out, int k,
	     struct rm_error *err)
{
	size_t need = 0, o = 0;
	char *nb;

	for (size_t i = 0; i < in->n; i++)
		need += in->v[i].len * (st->op == P_METASPACE ? st->repl_len : 1) +
		    (st->op == P_METASPACE ? st->repl_len : 1);
	if (grow(&c->tbuf[k], &c->tcap[k], need + 1) < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	nb = c->tbuf[k];
	out->n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const char *s = *buf + in->v[i].off;
		size_t n = in->v[i].len, start = o;

		if (st->op == P_BYTELEVEL) {
			if (n > 0 && s[0] != ' ')
				nb[o++] = ' ';
			memcpy(nb + o, s, n);
			o += n;
			if (push(out, start, o - start) < 0)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			continue;
		}
		/* Metaspace: spaces -> replacement, maybe one in front */
		size_t at = o;
		for (size_t j = 0; j < n; j++)
			if (s[j] == ' ') {
				memcpy(nb + o, st->repl, st->repl_len);
				o += st->repl_len;
			} else {
				nb[o++] = s[j];
			}
		if ((st->prepend == 1 || (st->prepend == 2 && first && i == 0)) &&
		    !(o - at >= st->repl_len &&
		      memcmp(nb + at, st->repl, st->repl_len) == 0)) {
			memmove(nb + at + st->repl_len, nb + at, o - at);
			memcpy(nb + at, st->repl, st->repl_len);
			o += st->repl_len;
		}
		if (!st->msplit) {
			if (push(out, start, o - start) < 0)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			continue;
		}
		/* split before each replacement (MergedWithNext) */
		size_t ps = start;
		for (size_t j = start + 1; j + st->repl_len <= o; j++)
			if (memcmp(nb + j, st->repl, st->repl_len) == 0) {
				if (push(out, ps, j - ps) < 0)
					return rm_error_set(err, RM_ENOMEM,
					    "out of memory");
				ps = j;
			}
		if (push(out, ps, o - ps) < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	*buf = nb;
	return 0;
}

int
rm_pretok_split(struct rm_pretok_ctx *c, const char *s, size_t n, int first,
		rm_piece_fn piece, void *arg, struct rm_error *err)
{
	const struct rm_pretok *p = c->p;
	struct plist *cur = &c->pl[0], *nxt = &c->pl[1];
	const char *buf = s;
	int rc, k = 0;

	if (n == 0)
		return 0;
	if (p == NULL || p->np == 0)
		return piece(arg, s, n);
	cur->n = 0;
	if (push(cur, 0, n) < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->np; i++) {
		const struct pstep *st = &p->p[i];

		nxt->n = 0;
		if (st->op == P_METASPACE ||
		    (st->op == P_BYTELEVEL && st->prefix_space)) {
			rc = rewrite_step(c, st, first, &buf, cur, nxt, k, err);
			k ^= 1;
			if (rc < 0)
				return rc;
			struct plist *t = cur;
			cur = nxt;
			nxt = t;
			if (st->re == NULL)
				continue;
			nxt->n = 0;
		}
		for (size_t j = 0; j < cur->n; j++)
			if ((rc = split_piece(c, st->re, st->behavior, buf,
			    cur->v[j].off, cur->v[j].len, nxt, err)) < 0)
				return rc;
		struct plist *t = cur;
		cur = nxt;
		nxt = t;
	}
	for (size_t j = 0; j < cur->n; j++)
		if ((rc = piece(arg, buf + cur->v[j].off, cur->v[j].len)) < 0)
			return rc;
	return 0;
}
