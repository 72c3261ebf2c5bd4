#include "text/prefs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "stream/jsonraw.h"

static const char *const shape_names[] = {
	"auto", "hh", "standard", "conversational", "turns", "sharegpt",
	"group", "single", "ab", "pandalm", "shp", "arena", "helpsteer2",
	"ultrafeedback", "nectar", "codes", "scored",
};

static const char *const rule_names[] = { "all", "best", "random" };

#define NNAMES(v) (sizeof v / sizeof *v)

/* The index of s in names[0..n), or -1. */
static int
name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* names[i], or "?" past the end. */
static const char *
name_at(const char *const *names, size_t n, size_t i)
{
	return i < n ? names[i] : "?";
}

/* PARSE(s): the value named s or -1; NAME(v): v's name (static). */
#define NAMED_VALUES(type, parse, name, names)				\
	int parse(const char *s)					\
	{ return name_index(names, NNAMES(names), s); }			\
	const char *name(type v)					\
	{ return name_at(names, NNAMES(names), (size_t)v); }

NAMED_VALUES(enum rm_pair_rule, rm_pair_rule_parse, rm_pair_rule_name,
	     rule_names)
NAMED_VALUES(enum rm_pref_shape, rm_pref_shape_parse, rm_pref_shape_name,
	     shape_names)

unsigned
rm_pref_pair_index(unsigned i, unsigned j, unsigned k)
{
	return i * k - i * (i + 1) / 2 + j - i - 1;
}

void
rm_pref_release(struct rm_pref *p)
{
	free(p->prompt);
	for (size_t i = 0; i < p->n; i++)
		free(p->resp[i]);
	free(p->pairs);
	rm_tspans_release(&p->prompt_spans);
	for (size_t i = 0; i < RM_PREF_MAX_RESPONSES; i++)
		rm_tspans_release(&p->resp_spans[i]);
	memset(p, 0, sizeof *p);
}

/* Role names accepted in records. */
static int
role_parse(const char *s)
{
	if (strcmp(s, "system") == 0)
		return RM_ROLE_SYSTEM;
	if (strcmp(s, "user") == 0 || strcmp(s, "human") == 0)
		return RM_ROLE_USER;
	if (strcmp(s, "assistant") == 0 || strcmp(s, "gpt") == 0 ||
	    strcmp(s, "bot") == 0 || strcmp(s, "model") == 0)
		return RM_ROLE_ASSISTANT;
	return -1;
}

/*
 * Read a message object {role, content} or {from, value}.  what names it in
 * messages ("field 'chosen' message 2").
 */
static int
message_get(const struct rm_json_record *rec, const cJSON *m, const char *what,
	    int *role, const char **content, struct rm_error *err)
{
	const cJSON *r, *c;

	if (!cJSON_IsObject(m))
		return rm_error_set(err, RM_EDATA, "%s: %s is not an object",
		    rec->where, what);
	r = cJSON_GetObjectItemCaseSensitive(m, "role");
	c = cJSON_GetObjectItemCaseSensitive(m, "content");
	if (r == NULL && c == NULL) {
		r = cJSON_GetObjectItemCaseSensitive(m, "from");
		c = cJSON_GetObjectItemCaseSensitive(m, "value");
	}
	if (!cJSON_IsString(r))
		return rm_error_set(err, RM_EDATA,
		    "%s: %s has no string 'role' (or 'from')", rec->where, what);
	if (!cJSON_IsString(c))
		return rm_error_set(err, RM_EDATA,
		    "%s: %s has no string 'content' (or 'value')", rec->where, what);
	*role = role_parse(r->valuestring);
	if (*role < 0)
		return rm_error_set(err, RM_EDATA, "%s: %s has unknown role '%s'",
		    rec->where, what, r->valuestring);
	*content = c->valuestring;
	return 0;
}

/* A growable list of messages (borrowing their contents from the JSON). */
struct msgs {
	struct rm_msg *m;
	size_t n, cap;
	int oom;
};

static void
msgs_add(struct msgs *l, int role, const char *content)
{
	if (l->oom)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct rm_msg *t = realloc(l->m, cap * sizeof *t);
		if (t == NULL) {
			l->oom = 1;
			return;
		}
		l->m = t;
		l->cap = cap;
	}
	l->m[l->n].role = (enum rm_role)role;
	l->m[l->n].content = content;
	l->n++;
}

/* Add the first count messages of list to l (the prompt history). */
static int
collect_messages(const struct rm_json_record *rec, const cJSON *list,
		 const char *key, size_t count, struct msgs *l,
		 struct rm_error *err)
{
	size_t i = 0;
	const cJSON *m;

	cJSON_ArrayForEach(m, list) {
		char what[128];
		int role;
		const char *content;

		if (i == count)
			break;
		snprintf(what, sizeof what, "field '%s' message %zu", key, i);
		if (message_get(rec, m, what, &role, &content, err) < 0)
			return err ? err->code : RM_EDATA;
		msgs_add(l, role, content);
		i++;
	}
	return 0;
}

static int set_string(char **dst, size_t *len, const char *s, size_t n);

/* The content ranges of a rendering from off on, as offsets from off. */
static int
resp_spans(const struct rm_tspans *full, size_t off, struct rm_tspans *out)
{
	out->n = 0;
	for (size_t k = 0; k < full->n; k++) {
		size_t b = full->v[k].off, e = b + full->v[k].len;
		if (e <= off)
			continue;
		if (b < off)
			b = off;
		if (rm_tspans_push(out, b - off, e - b) < 0)
			return -1;
	}
	return 0;
}

/*
 * One conversation to render: m[0..n), its first messages the shared
 * history.  last non-NULL: m[n-1] is a slot set to the assistant's content
 * last before rendering (several conversations then share one array: the
 * history with one more message).
 */
struct conv {
	struct rm_msg *m;
	size_t n;
	const char *last;
};

/*
 * render_convs - conversations conv[0..n) that share their first h messages
 * hist[0..h), the last of them a user turn, each ending with its response
 * turn(s): the prompt is the shared history with the generation prompt, and
 * response i is what the whole of conv[i] adds to it, through the options'
 * template.
 */
static int
render_convs(const struct rm_json_record *rec, const struct rm_pref_options *opt,
	     struct rm_pref *p, const struct rm_msg *hist, size_t h,
	     const struct conv *conv, size_t n, struct rm_error *err)
{
	struct rm_chat chat = opt->chat;
	struct rm_buf b = { 0 }, full = { 0 };
	struct rm_tspans fsp = { 0 };
	int rc;

	if (chat.bos == NULL)
		chat.bos = "";
	if (chat.eos == NULL)
		chat.eos = "";
	rc = rm_template_render_spans(&chat, hist, h, 1, &b,
	    opt->content_spans ? &p->prompt_spans : NULL, err);
	if (rc == 0 && rm_buf_append(&b, "", 0) < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	if (rc < 0)
		goto fail;
	p->prompt = b.p;
	p->prompt_len = b.len;
	b.p = NULL;
	for (size_t i = 0; i < n; i++) {
		rm_buf_reset(&full);
		fsp.n = 0;
		if (conv[i].last)
			conv[i].m[conv[i].n - 1].content = conv[i].last;
		rc = rm_template_render_spans(&chat, conv[i].m, conv[i].n, 0,
		    &full, opt->content_spans ? &fsp : NULL, err);
		if (rc < 0)
			goto fail;
		if (opt->content_spans && resp_spans(&fsp, p->prompt_len,
		    &p->resp_spans[i]) < 0)
			goto nomem;
		if (full.len < p->prompt_len ||
		    memcmp(full.p, p->prompt, p->prompt_len) != 0) {
			rm_error_set(err, RM_EDATA,
			    "%s: template %s: the conversation with its response "
			    "does not start with the prompt", rec->where,
			    rm_template_name(chat.kind));
			goto fail;
		}
		p->n = i + 1;
		if (set_string(&p->resp[i], &p->resp_len[i],
		    full.p + p->prompt_len, full.len - p->prompt_len) < 0)
			goto nomem;
	}
	rm_buf_release(&full);
	rm_tspans_release(&fsp);
	if (opt->content_spans)
		p->spans = RM_PREF_SPANS_SET;
	return 0;
nomem:
	rm_error_set(err, RM_ENOMEM, "out of memory");
fail:
	rm_buf_release(&b);
	rm_buf_release(&full);
	rm_tspans_release(&fsp);
	rc = err ? err->code : RM_EDATA;
	rm_pref_release(p);
	return rc;
}

/*
 * msgs_merge - with opt->merge_turns, join each run of consecutive messages
 * of one role in l into one message, their contents separated by a blank
 * line ("\n\n"); the joined contents go to one block, *block (NULL when
 * nothing was joined; the caller frees it after rendering).  0, or -1 when
 * out of memory.
 */
static int
msgs_merge(const struct rm_pref_options *opt, struct msgs *l, char **block)
{
	size_t total = 0, w = 0;
	char *q;

	*block = NULL;
	if (!opt->merge_turns || l->oom)
		return l->oom ? -1 : 0;
	for (size_t i = 0; i + 1 < l->n; i++)
		if (l->m[i].role == l->m[i + 1].role) {
			size_t k = i;
			while (k < l->n && l->m[k].role == l->m[i].role)
				total += strlen(l->m[k++].content) + 2;
			i = k - 1;
		}
	if (total == 0)
		return 0;
	if ((*block = q = malloc(total)) == NULL)
		return -1;
	for (size_t i = 0; i < l->n; ) {
		size_t k = i + 1;
		while (k < l->n && l->m[k].role == l->m[i].role)
			k++;
		l->m[w] = l->m[i];
		if (k > i + 1) {
			const char *joined = q;
			for (size_t j = i; j < k; j++) {
				size_t len = strlen(l->m[j].content);
				memcpy(q, l->m[j].content, len);
				q += len;
				if (j + 1 < k) {
					memcpy(q, "\n\n", 2);
					q += 2;
				}
			}
			*q++ = '\0';
			l->m[w].content = joined;
		}
		w++;
		i = k;
	}
	l->n = w;
	return 0;
}

/*
 * render - the prompt (history hist with the generation prompt) and, for
 * each of the n response contents, what the history plus that assistant
 * message adds to the prompt.  hist gets one more message (the responses'
 * slot) and, with merge_turns, its runs of one role joined.
 */
static int
render(const struct rm_json_record *rec, const struct rm_pref_options *opt,
       struct rm_pref *p, struct msgs *hist, const char *const *resp,
       size_t n, struct rm_error *err)
{
	struct conv conv[RM_PREF_MAX_RESPONSES];
	char *block;
	size_t h;
	int rc;

	if (n > RM_PREF_MAX_RESPONSES)
		return rm_error_set(err, RM_EDATA, "%s: more than %d responses",
		    rec->where, RM_PREF_MAX_RESPONSES);
	if (msgs_merge(opt, hist, &block) < 0) {
		rm_pref_release(p);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	h = hist->n;
	msgs_add(hist, RM_ROLE_ASSISTANT, "");
	if (hist->oom) {
		free(block);
		rm_pref_release(p);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		conv[i].m = hist->m;
		conv[i].n = h + 1;
		conv[i].last = resp[i];
	}
	rc = render_convs(rec, opt, p, hist->m, h, conv, n, err);
	free(block);
	return rc;
}

static int
set_string(char **dst, size_t *len, const char *s, size_t n)
{
	*dst = malloc(n + 1);
	if (*dst == NULL)
		return -1;
	memcpy(*dst, s, n);
	(*dst)[n] = '\0';
	*len = n;
	return 0;
}

static int
oom(struct rm_pref *p, struct rm_error *err)
{
	rm_pref_release(p);
	return rm_error_set(err, RM_ENOMEM, "out of memory");
}

/* Length of the common prefix, cut back to a UTF-8 character boundary. */
static size_t
common_prefix(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] && a[i] == b[i])
		i++;
	while (i > 0 && ((unsigned char)a[i] & 0xc0) == 0x80)
		i--;
	return i;
}

/* Split texts[0..n) into a shared prompt and responses.  For hh the prompt
 * ends at the last "\n\nAssistant:" inside the shared prefix. */
static int
split_texts(struct rm_pref *p, const char *const *texts, size_t n, int hh)
{
	size_t lcp = strlen(texts[0]);

	for (size_t i = 1; i < n; i++) {
		size_t c = common_prefix(texts[0], texts[i]);
		if (c < lcp)
			lcp = c;
	}
	if (n == 1)
		lcp = 0;
	if (hh) {
		static const char mark[] = "\n\nAssistant:";
		size_t ml = sizeof mark - 1, cut = 0;
		for (size_t i = 0; i + ml <= lcp; i++)
			if (memcmp(texts[0] + i, mark, ml) == 0)
				cut = i + ml;
		if (cut)
			lcp = cut;
	}
	if (set_string(&p->prompt, &p->prompt_len, texts[0], lcp) < 0)
		return -1;
	p->n = n;
	for (size_t i = 0; i < n; i++)
		if (set_string(&p->resp[i], &p->resp_len[i], texts[i] + lcp,
		    strlen(texts[i]) - lcp) < 0)
			return -1;
	return 0;
}

static int
looks_hh(const char *s)
{
	return strncmp(s, "\n\nHuman:", 8) == 0 || strncmp(s, "Human:", 6) == 0;
}

static int
has(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k) != NULL;
}

static int
detect(const cJSON *o, const struct rm_pref_options *opt)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, opt->chosen_key);

	if (c == NULL) {
		if (opt->a_key && opt->b_key && has(o, opt->a_key) &&
		    has(o, opt->b_key))
			return RM_SHAPE_AB;
		if (has(o, "response1") && has(o, "response2"))
			return RM_SHAPE_PANDALM;
		if (has(o, "human_ref_A") && has(o, "human_ref_B"))
			return RM_SHAPE_SHP;
		if (has(o, "response_a") && has(o, "response_b"))
			return RM_SHAPE_ARENA;
		if (has(o, "response_1") && has(o, "response_2"))
			return RM_SHAPE_HELPSTEER2;
		if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o,
		    opt->responses_key ? opt->responses_key : "completions")) &&
		    has(o, "instruction"))
			return RM_SHAPE_ULTRAFEEDBACK;
		const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o,
		    opt->responses_key ? opt->responses_key : "answers");
		if (cJSON_IsArray(ans) && cJSON_IsObject(ans->child))
			return RM_SHAPE_NECTAR;
		if (cJSON_IsArray(ans) && has(o, opt->codes_key ?
		    opt->codes_key : "preferences"))
			return RM_SHAPE_CODES;
		if (has(o, opt->responses_key ? opt->responses_key :
		    "responses") && (opt->score_key || opt->rank_key ||
		    has(o, "scores")))
			return RM_SHAPE_SCORED;
	}

	if (cJSON_GetObjectItemCaseSensitive(o, "responses"))
		return RM_SHAPE_GROUP;
	if (cJSON_GetObjectItemCaseSensitive(o, "conversations"))
		return RM_SHAPE_SHAREGPT;
	if (c == NULL && cJSON_GetObjectItemCaseSensitive(o, "response"))
		return RM_SHAPE_SINGLE;
	if (cJSON_IsArray(c)) {
		const cJSON *first = c->child;
		return first && cJSON_IsString(first) ? RM_SHAPE_TURNS :
		    RM_SHAPE_CONVERSATIONAL;
	}
	if (cJSON_IsString(c) &&
	    !cJSON_GetObjectItemCaseSensitive(o, opt->prompt_key) &&
	    looks_hh(c->valuestring))
		return RM_SHAPE_HH;
	return RM_SHAPE_STANDARD;
}

static const cJSON *
need(const struct rm_json_record *rec, const char *key, int want_array,
     struct rm_error *err)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(rec->json, key);

	if (f == NULL) {
		rm_error_set(err, RM_EDATA, "%s: field '%s' is missing",
		    rec->where, key);
		return NULL;
	}
	if (want_array ? !cJSON_IsArray(f) : !cJSON_IsString(f)) {
		rm_error_set(err, RM_EDATA, "%s: field '%s' is not %s",
		    rec->where, key, want_array ? "an array" : "a string");
		return NULL;
	}
	return f;
}

/* Two message lists agree on their first n items (role and content). */
static int
same_history(const cJSON *a, const cJSON *b, size_t n)
{
	const cJSON *x = a->child, *y = b->child;

	for (size_t i = 0; i < n; i++, x = x->next, y = y->next) {
		if (x == NULL || y == NULL || !cJSON_Compare(x, y, 1))
			return 0;
	}
	return 1;
}

/*
 * Conversation-like shapes: a history (rendered into the prompt) and one
 * final message per response.  hist/hist_key: prompt messages (may be NULL);
 * lists[i]: the response lists, whose items but the last must agree.
 */
static int
parse_conversational(const struct rm_json_record *rec,
		     const struct rm_pref_options *opt, struct rm_pref *p,
		     const cJSON *hist, const char *hist_key,
		     const cJSON *const *lists, const char *const *keys,
		     size_t n, struct rm_error *err)
{
	struct msgs l = { 0 };
	const char *resp[RM_PREF_MAX_RESPONSES];
	size_t len0 = (size_t)cJSON_GetArraySize(lists[0]);
	int rc;

	if (hist && collect_messages(rec, hist, hist_key, SIZE_MAX, &l, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t len = (size_t)cJSON_GetArraySize(lists[i]);
		if (len == 0) {
			rm_error_set(err, RM_EDATA, "%s: field '%s' is empty",
			    rec->where, keys[i]);
			goto fail;
		}
		if (len != len0 || !same_history(lists[0], lists[i], len - 1)) {
			rm_error_set(err, RM_EDATA,
			    "%s: fields '%s' and '%s' differ before their last message",
			    rec->where, keys[0], keys[i]);
			goto fail;
		}
	}
	if (collect_messages(rec, lists[0], keys[0], len0 - 1, &l, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char what[128];
		int role;

		snprintf(what, sizeof what, "field '%s' message %zu", keys[i],
		    len0 - 1);
		if (message_get(rec, cJSON_GetArrayItem(lists[i], (int)len0 - 1),
		    what, &role, &resp[i], err) < 0)
			goto fail;
		if (role != RM_ROLE_ASSISTANT) {
			rm_error_set(err, RM_EDATA, "%s: %s is not from the assistant",
			    rec->where, what);
			goto fail;
		}
	}
	rc = render(rec, opt, p, &l, resp, n, err);
	free(l.m);
	return rc;
fail:
	free(l.m);
	rm_pref_release(p);
	return err ? err->code : RM_EDATA;
}

/* Turns: lists of strings alternating human and assistant, last = response. */
static int
parse_turns(const struct rm_json_record *rec, const struct rm_pref_options *opt,
	    struct rm_pref *p, const cJSON *const *lists,
	    const char *const *keys, size_t n, struct rm_error *err)
{
	struct msgs l = { 0 };
	const char *resp[RM_PREF_MAX_RESPONSES];
	size_t len0 = (size_t)cJSON_GetArraySize(lists[0]);
	int rc;

	for (size_t i = 0; i < n; i++) {
		const cJSON *u;
		size_t j = 0, len = (size_t)cJSON_GetArraySize(lists[i]);

		if (len == 0 || len % 2 != 0)
			return rm_error_set(err, RM_EDATA,
			    "%s: field '%s' must hold an even number of turns "
			    "(human first, the assistant's response last), not %zu",
			    rec->where, keys[i], len);
		cJSON_ArrayForEach(u, lists[i]) {
			if (!cJSON_IsString(u))
				return rm_error_set(err, RM_EDATA,
				    "%s: field '%s' item %zu is not a string",
				    rec->where, keys[i], j);
			j++;
		}
		if (len != len0 || !same_history(lists[0], lists[i], len - 1))
			return rm_error_set(err, RM_EDATA,
			    "%s: fields '%s' and '%s' differ before their last turn",
			    rec->where, keys[0], keys[i]);
	}
	for (size_t j = 0; j + 1 < len0; j++)
		msgs_add(&l, j % 2 ? RM_ROLE_ASSISTANT : RM_ROLE_USER,
		    cJSON_GetArrayItem(lists[0], (int)j)->valuestring);
	for (size_t i = 0; i < n; i++)
		resp[i] = cJSON_GetArrayItem(lists[i], (int)len0 - 1)->valuestring;
	rc = render(rec, opt, p, &l, resp, n, err);
	free(l.m);
	return rc;
}

/*
 * Prompt as a string (used raw) or as a list of messages (templated).  With
 * a string prompt and message responses, a response is what the template
 * adds for an assistant message after an empty history.
 */
static int
prompt_and_strings(const struct rm_json_record *rec,
		   const struct rm_pref_options *opt, struct rm_pref *p,
		   const cJSON *prompt, const cJSON *const *resp,
		   const char *const *keys, size_t n, struct rm_error *err)
{
	struct msgs l = { 0 };
	const char *content[RM_PREF_MAX_RESPONSES];
	int templated = 0, rc;

	if (cJSON_IsArray(prompt)) {
		if (collect_messages(rec, prompt, opt->prompt_key, SIZE_MAX, &l,
		    err) < 0) {
			free(l.m);
			return err ? err->code : RM_EDATA;
		}
		templated = 1;
	} else if (prompt != NULL && !cJSON_IsString(prompt)) {
		return rm_error_set(err, RM_EDATA,
		    "%s: field '%s' is not a string or a list of messages",
		    rec->where, opt->prompt_key);
	}
	for (size_t i = 0; i < n; i++) {
		int role = RM_ROLE_ASSISTANT;

		if (cJSON_IsString(resp[i])) {
			content[i] = resp[i]->valuestring;
		} else if (message_get(rec, resp[i], keys[i], &role, &content[i],
		    err) < 0) {
			free(l.m);
			return err ? err->code : RM_EDATA;
		} else {
			templated = 1;
		}
	}
	if (templated) {
		rc = render(rec, opt, p, &l, content, n, err);
		free(l.m);
		if (rc < 0 || !cJSON_IsString(prompt))
			return rc;
		free(p->prompt);
		p->prompt = NULL;
		if (set_string(&p->prompt, &p->prompt_len, prompt->valuestring,
		    strlen(prompt->valuestring)) < 0)
			return oom(p, err);
		return 0;
	}
	if (set_string(&p->prompt, &p->prompt_len,
	    prompt ? prompt->valuestring : "",
	    prompt ? strlen(prompt->valuestring) : 0) < 0)
		return oom(p, err);
	for (size_t i = 0; i < n; i++) {
		p->n = i + 1;
		if (set_string(&p->resp[i], &p->resp_len[i], content[i],
		    strlen(content[i])) < 0)
			return oom(p, err);
	}
	return 0;
}

/* ---- A versus B layouts ---- */

enum outcome { OUT_A, OUT_B, OUT_TIE };

/* What a layout reads: filled from the shape, then from the options. */
struct ab_layout {
	const char *prompt_keys[RM_PREF_MAX_KEYS];
	size_t nprompt;
	const char *a, *b;
	const char *labels[RM_PREF_MAX_KEYS];
	size_t nlabels;
	const char *va, *vb, *vt;  /* label values (JSON text) */
	int sign;                  /* label: negative A, positive B, 0 tie */
	double lo, hi;             /* sign: the allowed range */
	int onehot;                /* labels[0..2]: A won, B won, tie; 0 or 1 */
	int annotators;            /* pandalm: every "annotatorN" present */
	int turns;                 /* arena: lists of turns */
	const char *score_a, *score_b; /* shp: graded ln(score ratio) */
};

/* The named layouts (see prefs.h); sign layouts give their label's range. */
static const struct {
	int shape;
	struct ab_layout l;
} named_layouts[] = {
	{ RM_SHAPE_PANDALM, { .prompt_keys = { "instruction", "input" },
	    .nprompt = 2, .a = "response1", .b = "response2", .annotators = 1,
	    .va = "1", .vb = "2", .vt = "0" } },
	{ RM_SHAPE_SHP, { .prompt_keys = { "history" }, .nprompt = 1,
	    .a = "human_ref_A", .b = "human_ref_B", .labels = { "labels" },
	    .nlabels = 1, .va = "1", .vb = "0", .score_a = "score_A",
	    .score_b = "score_B" } },
	{ RM_SHAPE_ARENA, { .prompt_keys = { "prompt" }, .nprompt = 1,
	    .a = "response_a", .b = "response_b",
	    .labels = { "winner_model_a", "winner_model_b", "winner_tie" },
	    .nlabels = 3, .onehot = 1, .turns = 1 } },
	{ RM_SHAPE_HELPSTEER2, { .prompt_keys = { "prompt" }, .nprompt = 1,
	    .a = "response_1", .b = "response_2",
	    .labels = { "preference_strength" }, .nlabels = 1, .sign = 1,
	    .lo = -3, .hi = 3 } },
};

static void
ab_layout_init(struct ab_layout *l, int shape, const struct rm_pref_options *o)
{
	memset(l, 0, sizeof *l);
	l->prompt_keys[0] = o->prompt_key;
	l->nprompt = 1;
	for (size_t i = 0; i < sizeof named_layouts / sizeof *named_layouts; i++)
		if (named_layouts[i].shape == shape)
			*l = named_layouts[i].l;
	if (!l->sign) {
		l->lo = -INFINITY;
		l->hi = INFINITY;
	}
	if (o->nprompt_keys) {
		memcpy(l->prompt_keys, o->prompt_keys, sizeof l->prompt_keys);
		l->nprompt = o->nprompt_keys;
	}
	if (o->a_key)
		l->a = o->a_key;
	if (o->b_key)
		l->b = o->b_key;
	if (o->nlabel_keys) {
		memcpy(l->labels, o->label_keys, sizeof l->labels);
		l->nlabels = o->nlabel_keys;
		l->annotators = l->onehot = 0;
	}
	if (o->label_sign) {
		l->sign = 1;
		l->va = l->vb = l->vt = NULL;
		l->onehot = 0;
	} else if (o->label_a) {
		l->va = o->label_a, l->vb = o->label_b, l->vt = o->label_tie;
		l->sign = l->onehot = 0;
	}
}

/* The JSON text of a scalar label value ("1", "true", "A"), NULL if none. */
static const char *
value_text(const cJSON *v, char *buf, size_t n)
{
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNumber(v)) {
		snprintf(buf, n, "%.17g", v->valuedouble);
		return buf;
	}
	return NULL;
}

/*
 * Whether label value v (its text t) is the one spec names.  A spec that
 * reads as a JSON number, true or false names that number or boolean (1
 * matches 1 and 1.0, never the string "1"); any other spec names a string
 * by its contents.
 */
static int
value_is(const cJSON *v, const char *t, const char *spec)
{
	char *end;
	double x;

	if (spec == NULL)
		return 0;
	if (strcmp(spec, "true") == 0 || strcmp(spec, "false") == 0)
		return cJSON_IsBool(v) && strcmp(t, spec) == 0;
	x = strtod(spec, &end);
	if (end != spec && *end == '\0')
		return cJSON_IsNumber(v) && v->valuedouble == x;
	return cJSON_IsString(v) && strcmp(t, spec) == 0;
}

/* One label: its outcome, or an error naming the field and value. */
static int
label_outcome(const struct rm_json_record *rec, const struct ab_layout *l,
	      const char *key, const cJSON *v, int *out, double *graded,
	      struct rm_error *err)
{
	char buf[64];
	const char *t;

	if (l->sign) {
		if (!cJSON_IsNumber(v))
			return rm_error_set(err, RM_EDATA,
			    "%s: label '%s' is not a number", rec->where, key);
		if (!(v->valuedouble >= l->lo && v->valuedouble <= l->hi))
			return rm_error_set(err, RM_EDATA,
			    "%s: label '%s' is %g, outside %g to %g", rec->where,
			    key, v->valuedouble, l->lo, l->hi);
		*out = v->valuedouble < 0 ? OUT_A : v->valuedouble > 0 ? OUT_B :
		    OUT_TIE;
		*graded = fabs(v->valuedouble);
		return 0;
	}
	if ((t = value_text(v, buf, sizeof buf)) == NULL)
		return rm_error_set(err, RM_EDATA,
		    "%s: label '%s' is not a number, string or boolean",
		    rec->where, key);
	if (value_is(v, t, l->va))
		*out = OUT_A;
	else if (value_is(v, t, l->vb))
		*out = OUT_B;
	else if (value_is(v, t, l->vt))
		*out = OUT_TIE;
	else
		return rm_error_set(err, RM_EDATA,
		    "%s: label '%s' is %s%s%s, not %s (A), %s (B)%s%s", rec->where,
		    key, cJSON_IsString(v) ? "'" : "", t, cJSON_IsString(v) ? "'" : "",
		    l->va ? l->va : "?", l->vb ? l->vb : "?", l->vt ? " or tie " : "",
		    l->vt ? l->vt : "");
	return 0;
}

/* Count the labels' votes; the outcome with the most wins, a draw is a tie. */
static int
ab_votes(const struct rm_json_record *rec, const struct ab_layout *l,
	 struct rm_pref *p, int *outcome, struct rm_error *err)
{
	int count[3] = { 0, 0, 0 }, rc;
	double graded = 0;

	if (l->onehot) {
		int set = -1;
		if (l->nlabels != 3)
			return rm_error_set(err, RM_EUSAGE,
			    "one-hot labels need three fields");
		for (int i = 0; i < 3; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json,
			    l->labels[i]);
			if (v == NULL)
				return rm_error_set(err, RM_EDATA,
				    "%s: label '%s' is missing", rec->where,
				    l->labels[i]);
			if (!cJSON_IsNumber(v) && !cJSON_IsBool(v))
				return rm_error_set(err, RM_EDATA,
				    "%s: label '%s' is not 0 or 1", rec->where,
				    l->labels[i]);
			double x = cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble;
			if (x != 0 && x != 1)
				return rm_error_set(err, RM_EDATA,
				    "%s: label '%s' is %g, not 0 or 1", rec->where,
				    l->labels[i], x);
			if (x == 1) {
				if (set >= 0)
					return rm_error_set(err, RM_EDATA,
					    "%s: labels '%s' and '%s' are both 1",
					    rec->where, l->labels[set], l->labels[i]);
				set = i;
			}
		}
		if (set < 0)
			return rm_error_set(err, RM_EDATA,
			    "%s: none of '%s', '%s', '%s' is 1", rec->where,
			    l->labels[0], l->labels[1], l->labels[2]);
		count[set]++;
	} else if (l->annotators && l->nlabels == 0) {
		/* "annotator1", "annotator2", ... as far as they go */
		for (int i = 1; i < 1000; i++) {
			char key[32];
			const cJSON *v;
			int o;
			snprintf(key, sizeof key, "annotator%d", i);
			if ((v = cJSON_GetObjectItemCaseSensitive(rec->json, key)) == NULL)
				break;
			if ((rc = label_outcome(rec, l, key, v, &o, &graded, err)) < 0)
				return rc;
			count[o]++;
		}
		if (count[0] + count[1] + count[2] == 0)
			return rm_error_set(err, RM_EDATA,
			    "%s: no label: field 'annotator1' is missing", rec->where);
	} else {
		for (size_t i = 0; i < l->nlabels; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json,
			    l->labels[i]);
			int o;
			if (v == NULL || cJSON_IsNull(v))
				continue;
			if ((rc = label_outcome(rec, l, l->labels[i], v, &o, &graded,
			    err)) < 0)
				return rc;
			count[o]++;
		}
		if (l->nlabels == 0)
			return rm_error_set(err, RM_EUSAGE,
			    "the ab layout needs a label field");
		if (count[0] + count[1] + count[2] == 0)
			return rm_error_set(err, RM_EDATA,
			    "%s: no label: field '%s' is missing", rec->where,
			    l->labels[0]);
	}
	p->votes = count[0] + count[1] + count[2];
	if (count[OUT_A] > count[OUT_B] && count[OUT_A] > count[OUT_TIE])
		*outcome = OUT_A;
	else if (count[OUT_B] > count[OUT_A] && count[OUT_B] > count[OUT_TIE])
		*outcome = OUT_B;
	else
		*outcome = OUT_TIE;
	p->agree = count[OUT_A] > count[OUT_B] ? count[OUT_A] : count[OUT_B];
	if (count[OUT_TIE] > p->agree)
		p->agree = count[OUT_TIE];
	if (l->sign && p->votes == 1) {
		p->has_graded = 1;
		p->graded = graded;
	}
	return 0;
}

/*
 * A JSON list of turns: an array, or a string that holds one (Chatbot
 * Arena's published CSV/JSON).  *owned is set when the list was parsed from
 * a string and must be freed.
 */
static const cJSON *
turn_list(const cJSON *v, cJSON **owned)
{
	*owned = NULL;
	if (cJSON_IsArray(v))
		return v;
	if (cJSON_IsString(v) && v->valuestring[0] == '[') {
		cJSON *t = cJSON_Parse(v->valuestring);
		if (cJSON_IsArray(t)) {
			*owned = t;
			return t;
		}
		cJSON_Delete(t);
	}
	return NULL;
}

/* A turn: a string, or null (an empty turn, as Arena has a few). */
static int
turn_text(const struct rm_json_record *rec, const cJSON *list, const char *key,
	  size_t i, const char **s, struct rm_error *err)
{
	const cJSON *v = cJSON_GetArrayItem(list, (int)i);

	if (cJSON_IsNull(v)) {
		*s = "";
		return 0;
	}
	if (!cJSON_IsString(v))
		return rm_error_set(err, RM_EDATA, "%s: field '%s' turn %zu is "
		    "not a string", rec->where, key, i);
	*s = v->valuestring;
	return 0;
}

static const char *
json_type_name(const cJSON *v)
{
	return cJSON_IsBool(v) ? "a boolean" : cJSON_IsNumber(v) ? "a number" :
	    cJSON_IsNull(v) ? "null" : cJSON_IsArray(v) ? "an array" :
	    cJSON_IsObject(v) ? "an object" : "a string";
}

/*
 * One side of an A/B conversation, whole: user turns u, assistant turns r,
 * through the template (or, with concat, the texts one after another).
 */
static int
ab_render(const struct rm_pref_options *o, const char *const *u,
	  const char *const *r, size_t nturns, struct rm_buf *out,
	  struct rm_error *err)
{
	struct rm_chat chat = o->chat;
	struct msgs l = { 0 };
	int rc = 0;

	if (o->concat) {
		for (size_t i = 0; i < nturns; i++)
			if (rm_buf_puts(out, u[i]) < 0 || rm_buf_puts(out, r[i]) < 0)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
		return rm_buf_append(out, "", 0) < 0 ?
		    rm_error_set(err, RM_ENOMEM, "out of memory") : 0;
	}
	if (chat.bos == NULL)
		chat.bos = "";
	if (chat.eos == NULL)
		chat.eos = "";
	for (size_t i = 0; i < nturns; i++) {
		msgs_add(&l, RM_ROLE_USER, u[i]);
		msgs_add(&l, RM_ROLE_ASSISTANT, r[i]);
	}
	if (l.oom)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	else
		rc = rm_template_render(&chat, l.m, l.n, 0, out, err);
	if (rc == 0 && rm_buf_append(out, "", 0) < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	free(l.m);
	return rc;
}

#define AB_MAX_TURNS 256

static int
parse_ab(const struct rm_json_record *rec, const struct rm_pref_options *opt,
	 struct rm_pref *p, int shape, struct rm_error *err)
{
	struct ab_layout l;
	struct rm_buf pb = { 0 }, side[2] = { { 0 }, { 0 } };
	cJSON *owned[3] = { NULL, NULL, NULL };
	const char *u[AB_MAX_TURNS], *r[2][AB_MAX_TURNS];
	const char *keys[2];
	size_t nturns = 1;
	int outcome = OUT_TIE, first, rc = 0;

	ab_layout_init(&l, shape, opt);
	keys[0] = l.a;
	keys[1] = l.b;
	if (l.a == NULL || l.b == NULL)
		return rm_error_set(err, RM_EUSAGE,
		    "the ab layout needs the keys of both responses");
	if ((rc = ab_votes(rec, &l, p, &outcome, err)) < 0)
		return rc;
	if (l.turns) {
		const cJSON *lists[3];
		const cJSON *pv = cJSON_GetObjectItemCaseSensitive(rec->json,
		    l.prompt_keys[0]);
		const char *const names[3] = { l.prompt_keys[0], l.a, l.b };
		lists[0] = pv;
		lists[1] = cJSON_GetObjectItemCaseSensitive(rec->json, l.a);
		lists[2] = cJSON_GetObjectItemCaseSensitive(rec->json, l.b);
		for (int i = 0; i < 3; i++) {
			if (lists[i] == NULL) {
				rc = rm_error_set(err, RM_EDATA, "%s: field '%s' is "
				    "missing", rec->where, names[i]);
				goto out;
			}
			if ((lists[i] = turn_list(lists[i], &owned[i])) == NULL) {
				rc = rm_error_set(err, RM_EDATA, "%s: field '%s' is "
				    "not a list of turns", rec->where, names[i]);
				goto out;
			}
		}
		nturns = (size_t)cJSON_GetArraySize(lists[0]);
		if (nturns == 0 || nturns > AB_MAX_TURNS ||
		    (size_t)cJSON_GetArraySize(lists[1]) != nturns ||
		    (size_t)cJSON_GetArraySize(lists[2]) != nturns) {
			rc = rm_error_set(err, RM_EDATA, "%s: fields '%s', '%s' and "
			    "'%s' need the same number of turns (1 to %d), not "
			    "%d, %d, %d", rec->where, names[0], names[1], names[2],
			    AB_MAX_TURNS, cJSON_GetArraySize(lists[0]),
			    cJSON_GetArraySize(lists[1]), cJSON_GetArraySize(lists[2]));
			goto out;
		}
		for (size_t i = 0; i < nturns; i++)
			if ((rc = turn_text(rec, lists[0], names[0], i, &u[i], err)) < 0 ||
			    (rc = turn_text(rec, lists[1], names[1], i, &r[0][i], err)) < 0 ||
			    (rc = turn_text(rec, lists[2], names[2], i, &r[1][i], err)) < 0)
				goto out;
	} else {
		for (size_t i = 0; i < l.nprompt; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json,
			    l.prompt_keys[i]);
			if (v == NULL || cJSON_IsNull(v))
				continue;
			if (!cJSON_IsString(v)) {
				rc = rm_error_set(err, RM_EDATA, "%s: prompt field '%s' "
				    "is %s, not a string", rec->where, l.prompt_keys[i],
				    json_type_name(v));
				goto out;
			}
			if (v->valuestring[0] == '\0')
				continue;
			if ((pb.len && rm_buf_puts(&pb, "\n\n") < 0) ||
			    rm_buf_puts(&pb, v->valuestring) < 0)
				goto nomem;
		}
		if (rm_buf_append(&pb, "", 0) < 0)
			goto nomem;
		u[0] = pb.p;
		for (int i = 0; i < 2; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->json,
			    keys[i]);
			if (v == NULL) {
				rc = rm_error_set(err, RM_EDATA, "%s: field '%s' is "
				    "missing", rec->where, keys[i]);
				goto out;
			}
			if (!cJSON_IsString(v)) {
				rc = rm_error_set(err, RM_EDATA, "%s: field '%s' is "
				    "%s, not a string", rec->where, keys[i],
				    json_type_name(v));
				goto out;
			}
			r[i][0] = v->valuestring;
		}
	}
	if (l.score_a) {
		double sa, sb;
		int ha, hb;
		if ((ha = rm_json_number_opt(rec, rec->json, l.score_a, &sa, err)) < 0 ||
		    (hb = rm_json_number_opt(rec, rec->json, l.score_b, &sb, err)) < 0) {
			rc = err ? err->code : RM_EDATA;
			goto out;
		}
		if (ha && hb && sa > 0 && sb > 0) {
			p->has_graded = 1;
			p->graded = fabs(log(sa / sb));
		}
	}
	/* Orient: chosen (resp[0]) is the winner; a tie keeps A first. */
	first = outcome == OUT_B;
	if (nturns == 1 && !opt->concat) {
		/* one turn: the prompt is the user turn with the generation
		 * prompt, each response what its message adds (as for the
		 * other shapes) */
		struct msgs hist = { 0 };
		const char *resp[2] = { r[first][0], r[!first][0] };
		msgs_add(&hist, RM_ROLE_USER, u[0]);
		rc = render(rec, opt, p, &hist, resp, 2, err);
		free(hist.m);
		if (rc < 0)
			goto out;
	} else if (nturns == 1) {
		if (set_string(&p->prompt, &p->prompt_len, u[0], strlen(u[0])) < 0)
			goto nomem;
		p->n = 2;
		for (int i = 0; i < 2; i++)
			if (set_string(&p->resp[i], &p->resp_len[i],
			    r[i == 0 ? first : !first][0],
			    strlen(r[i == 0 ? first : !first][0])) < 0)
				goto nomem;
	} else {
		/* several turns whose earlier answers may differ: each side
		 * whole, the prompt is what they share */
		for (int i = 0; i < 2; i++)
			if ((rc = ab_render(opt, u, r[i == 0 ? first : !first],
			    nturns, &side[i], err)) < 0)
				goto out;
		const char *texts[2] = { side[0].p, side[1].p };
		if (split_texts(p, texts, 2, !opt->concat &&
		    opt->chat.kind == RM_TEMPLATE_HH) < 0)
			goto nomem;
		if (opt->content_spans && !opt->concat)
			p->spans = RM_PREF_SPANS_UNKNOWN;
	}
	p->labelled = 1;
	p->tie = outcome == OUT_TIE;
	p->target = p->tie ? 0.5 : 1;
	p->kind = RM_PREF_PAIR;
	goto out;
nomem:
	rc = rm_error_set(err, RM_ENOMEM, "out of memory");
out:
	rm_buf_release(&pb);
	rm_buf_release(&side[0]);
	rm_buf_release(&side[1]);
	for (int i = 0; i < 3; i++)
		cJSON_Delete(owned[i]);
	if (rc < 0) {
		int shape_used = p->shape;
		rm_pref_release(p);
		p->shape = shape_used;
	}
	return rc;
}

/* ---- rated, ranked and compared responses, expanded into pairs ---- */

/* A dotted path ("annotations.helpfulness.Rating") inside object o. */
static const cJSON *
path_get(const cJSON *o, const char *path)
{
	char part[128];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof part)
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		o = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, part) :
		    NULL;
		path = dot ? dot + 1 : path + n;
	}
	return o;
}

/*
 * A score: a number, or a string holding one ("4", as UltraFeedback's
 * ratings are).  Returns 1 with *x, 0 when the response is unrated (null,
 * "N/A"), or an error naming what.
 */
static int
score_value(const struct rm_json_record *rec, const cJSON *v, const char *what,
	    double *x, struct rm_error *err)
{
	char *end;

	if (v == NULL)
		return rm_error_set(err, RM_EDATA, "%s: %s is missing", rec->where,
		    what);
	if (cJSON_IsNull(v) || (cJSON_IsString(v) &&
	    strcmp(v->valuestring, "N/A") == 0))
		return 0;
	if (cJSON_IsNumber(v)) {
		*x = v->valuedouble;
	} else if (cJSON_IsString(v)) {
		*x = strtod(v->valuestring, &end);
		if (end == v->valuestring || *end != '\0')
			return rm_error_set(err, RM_EDATA, "%s: %s is '%.40s', not "
			    "a number", rec->where, what, v->valuestring);
	} else {
		return rm_error_set(err, RM_EDATA, "%s: %s is %s, not a number",
		    rec->where, what, json_type_name(v));
	}
	if (!isfinite(*x) || fabs(*x) > 1e30)
		return rm_error_set(err, RM_EDATA, "%s: %s is %g, not a finite "
		    "score", rec->where, what, *x);
	return 1;
}

/* Split an HH transcript ("\n\nHuman: ...\n\nAssistant: ...") in place into
 * messages; a final empty assistant turn is kept when keep_empty is set (an
 * empty response) and dropped otherwise (a prompt's generation slot).  Text
 * without the markers is one user message. */
static void
hh_messages(char *s, struct msgs *l, int keep_empty)
{
	static const char *const mark[2] = { "Human:", "Assistant:" };
	static const size_t mlen[2] = { 6, 10 };
	char *p = s, *start;
	int role = 0;

	while (*p == '\n' || *p == ' ')
		p++;
	if (strncmp(p, mark[0], mlen[0]) != 0) {
		msgs_add(l, RM_ROLE_USER, s);
		return;
	}
	start = p + mlen[0];
	for (;;) {
		char *q = NULL, *e;
		int next = 0;
		for (char *x = start; *x && q == NULL; x++)
			for (int r = 0; r < 2; r++)
				if (x[0] == '\n' && x[1] == '\n' &&
				    strncmp(x + 2, mark[r], mlen[r]) == 0) {
					q = x;
					next = r;
					break;
				}
		while (*start == ' ')
			start++;
		e = q ? q : start + strlen(start);
		while (e > start && (e[-1] == ' ' || e[-1] == '\n'))
			e--;
		if (keep_empty || !(role == 1 && q == NULL && e == start))
			msgs_add(l, role ? RM_ROLE_ASSISTANT : RM_ROLE_USER, start);
		*e = '\0';
		if (q == NULL)
			return;
		role = next;
		start = q + 2 + mlen[next];
	}
}

/*
 * hh_render - two HH transcripts through a chat template: each split into
 * its turns, the prompt is the turns they share up to the last shared Human
 * turn, and each response what the rest of its transcript adds.
 */
static int
hh_render(const struct rm_json_record *rec, const struct rm_pref_options *opt,
	  struct rm_pref *p, const char *const *texts, const char *const *keys,
	  struct rm_error *err)
{
	struct msgs l[2] = { { 0 }, { 0 } };
	struct conv conv[2];
	char *copy[2] = { NULL, NULL }, *block[2] = { NULL, NULL };
	size_t h = 0;
	int rc = 0;

	for (int i = 0; i < 2; i++) {
		if ((copy[i] = strdup(texts[i])) == NULL) {
			rc = rm_error_set(err, RM_ENOMEM, "out of memory");
			goto out;
		}
		hh_messages(copy[i], &l[i], 1);
		if (msgs_merge(opt, &l[i], &block[i]) < 0) {
			rc = rm_error_set(err, RM_ENOMEM, "out of memory");
			goto out;
		}
		if (l[i].n < 2 || l[i].m[l[i].n - 1].role != RM_ROLE_ASSISTANT) {
			rc = rm_error_set(err, RM_EDATA, "%s: field '%s' does "
			    "not end with an Assistant turn after a Human one",
			    rec->where, keys[i]);
			goto out;
		}
		conv[i].m = l[i].m;
		conv[i].n = l[i].n;
		conv[i].last = NULL;
	}
	while (h + 1 < l[0].n && h + 1 < l[1].n &&
	    l[0].m[h].role == l[1].m[h].role &&
	    strcmp(l[0].m[h].content, l[1].m[h].content) == 0)
		h++;
	while (h > 0 && l[0].m[h - 1].role != RM_ROLE_USER)
		h--;
	if (h == 0) {
		rc = rm_error_set(err, RM_EDATA, "%s: fields '%s' and '%s' "
		    "share no Human turn", rec->where, keys[0], keys[1]);
		goto out;
	}
	rc = render_convs(rec, opt, p, l[0].m, h, conv, 2, err);
out:
	for (int i = 0; i < 2; i++) {
		free(l[i].m);
		free(copy[i]);
		free(block[i]);
	}
	return rc;
}

/* What a rated layout reads. */
struct rated_layout {
	const char *prompt, *resp, *text;  /* text: the response's field */
	const char *score, *rank, *codes;
	int score_list;                    /* scores/ranks: a sibling list */
	int transcript;                    /* prompt: an HH transcript */
	int raw_prompt;                    /* a string prompt used as it is */
};

static void
rated_layout_init(struct rated_layout *l, int shape,
		  const struct rm_pref_options *o)
{
	memset(l, 0, sizeof *l);
	switch (shape) {
	case RM_SHAPE_ULTRAFEEDBACK:
		l->prompt = "instruction";
		l->resp = "completions";
		l->text = "response";
		l->score = "fine-grained_score";
		break;
	case RM_SHAPE_NECTAR:
		l->prompt = "prompt";
		l->resp = "answers";
		l->text = "answer";
		l->rank = "rank";
		l->transcript = 1;
		break;
	case RM_SHAPE_CODES:
		l->prompt = "question";
		l->resp = "answers";
		l->codes = "preferences";
		break;
	default:        /* scored */
		l->prompt = "prompt";
		l->resp = "responses";
		l->score = "scores";
		l->score_list = 1;
		l->raw_prompt = 1;
		break;
	}
	if (o->nprompt_keys || (o->prompt_key && strcmp(o->prompt_key,
	    "prompt") != 0))
		l->prompt = o->prompt_key;
	if (o->responses_key)
		l->resp = o->responses_key;
	if (o->score_key) {
		l->score = o->score_key;
		l->rank = NULL;
	} else if (o->rank_key) {
		l->rank = o->rank_key;
		l->score = NULL;
	}
	if (o->codes_key)
		l->codes = o->codes_key;
	if (l->codes) {
		l->score = l->rank = NULL;
	}
}

/* Read "pair_labels" (rm-filter's per-pair decisions) into the pairs. */
static int
pair_labels(const struct rm_json_record *rec, struct rm_pref *p,
	    struct rm_error *err)
{
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(rec->json,
	    "pair_labels"), *it;
	size_t n = 0;

	if (pl == NULL)
		return 0;
	if (!cJSON_IsArray(pl))
		return rm_error_set(err, RM_EDATA, "%s: field 'pair_labels' is "
		    "not an array", rec->where);
	cJSON_ArrayForEach(it, pl) {
		const cJSON *ix = cJSON_GetObjectItemCaseSensitive(it, "pair_index");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "target");
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "margin");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "drop");
		struct rm_pref_pair *q = NULL;
		if (!cJSON_IsNumber(ix))
			return rm_error_set(err, RM_EDATA, "%s: 'pair_labels' item "
			    "%zu has no number 'pair_index'", rec->where, n);
		for (size_t i = 0; i < p->npairs; i++)
			if (p->pairs[i].index == ix->valuedouble)
				q = &p->pairs[i];
		if (q == NULL)
			return rm_error_set(err, RM_EDATA, "%s: 'pair_labels' item "
			    "%zu: pair %g is not one this record expands to "
			    "(rm-filter and rm-tokenize need the same --pairs "
			    "rule)", rec->where, n, ix->valuedouble);
		if (t && !(cJSON_IsNumber(t) && t->valuedouble >= 0 &&
		    t->valuedouble <= 1))
			return rm_error_set(err, RM_EDATA, "%s: 'pair_labels' item "
			    "%zu: 'target' is not a probability", rec->where, n);
		if (m && !(cJSON_IsNumber(m) && fabs(m->valuedouble) <= 1e30))
			return rm_error_set(err, RM_EDATA, "%s: 'pair_labels' item "
			    "%zu: 'margin' is not a number within +-1e30",
			    rec->where, n);
		if (t) {
			q->has_target = 1;
			q->target = t->valuedouble;
		}
		if (m) {
			q->has_margin = 1;
			q->margin = m->valuedouble;
		}
		q->drop = cJSON_IsTrue(d);
		n++;
	}
	return 0;
}

static int
parse_rated(const struct rm_json_record *rec, const struct rm_pref_options *opt,
	    struct rm_pref *p, int shape, struct rm_error *err)
{
	struct rated_layout l;
	const cJSON *list, *pr, *codes = NULL, *sl = NULL, *it;
	const char *text[RM_PREF_MAX_RESPONSES];
	double sc[RM_PREF_MAX_RESPONSES];
	unsigned orig[RM_PREF_MAX_RESPONSES];
	signed char out[RM_PREF_MAX_RESPONSES][RM_PREF_MAX_RESPONSES];
	char what[160], *copy = NULL;
	struct msgs hist = { 0 };
	size_t k = 0, n = 0, ncodes = 0;
	unsigned best = 0;
	int rc = 0, graded;

	rated_layout_init(&l, shape, opt);
	p->kind = RM_PREF_RATED;
	p->source_id = rm_json_record_id(rec);
	if (p->source_id > 900719925474ull)   /* 2^53 / stride */
		return rm_error_set(err, RM_EDATA, "%s: id %llu is too large to "
		    "number its pairs (at most 900719925474)", rec->where,
		    (unsigned long long)p->source_id);
	if ((list = cJSON_GetObjectItemCaseSensitive(rec->json, l.resp)) == NULL)
		return rm_error_set(err, RM_EDATA, "%s: field '%s' is missing",
		    rec->where, l.resp);
	if (!cJSON_IsArray(list))
		return rm_error_set(err, RM_EDATA, "%s: field '%s' is %s, not an "
		    "array", rec->where, l.resp, json_type_name(list));
	k = (size_t)cJSON_GetArraySize(list);
	if (k > RM_PREF_MAX_RESPONSES)
		return rm_error_set(err, RM_EDATA, "%s: field '%s' has %zu "
		    "responses, more than %d", rec->where, l.resp, k,
		    RM_PREF_MAX_RESPONSES);
	if (l.score_list) {
		const char *key = l.score ? l.score : l.rank;
		sl = cJSON_GetObjectItemCaseSensitive(rec->json, key);
		if (sl == NULL || !cJSON_IsArray(sl) ||
		    (size_t)cJSON_GetArraySize(sl) != k)
			return rm_error_set(err, RM_EDATA, "%s: field '%s' is %s, "
			    "not a list of %zu %s", rec->where, key,
			    sl ? json_type_name(sl) : "missing", k,
			    l.score ? "scores" : "ranks");
		if (sl && cJSON_GetArraySize(sl) != (int)k)
			return rm_error_set(err, RM_EDATA, "%s: field '%s' has %d "
			    "items for %zu responses", rec->where, key,
			    cJSON_GetArraySize(sl), k);
	}
	if (l.codes) {
		codes = cJSON_GetObjectItemCaseSensitive(rec->json, l.codes);
		ncodes = k * (k - 1) / 2;
		if (!cJSON_IsArray(codes))
			return rm_error_set(err, RM_EDATA, "%s: field '%s' is %s, "
			    "not a list of pairwise codes", rec->where, l.codes,
			    codes ? json_type_name(codes) : "missing");
		if ((size_t)cJSON_GetArraySize(codes) != ncodes)
			return rm_error_set(err, RM_EDATA, "%s: field '%s' has %d "
			    "codes; %zu answers make %zu pairs", rec->where,
			    l.codes, cJSON_GetArraySize(codes), k, ncodes);
	}
	/* the responses and their scores; unrated ones are left out */
	{
		size_t i = 0;
		cJSON_ArrayForEach(it, list) {
			const cJSON *t = it, *v;
			double x = 0;
			int has = 1;
			if (l.text) {
				snprintf(what, sizeof what, "field '%s' item %zu: '%s'",
				    l.resp, i, l.text);
				if (!cJSON_IsObject(it)) {
					rc = rm_error_set(err, RM_EDATA, "%s: field '%s' "
					    "item %zu is %s, not an object", rec->where,
					    l.resp, i, json_type_name(it));
					goto out;
				}
				t = cJSON_GetObjectItemCaseSensitive(it, l.text);
			} else {
				snprintf(what, sizeof what, "field '%s' item %zu",
				    l.resp, i);
			}
			if (t == NULL || !cJSON_IsString(t)) {
				rc = rm_error_set(err, RM_EDATA, "%s: %s is %s, not a "
				    "string", rec->where, what,
				    t ? json_type_name(t) : "missing");
				goto out;
			}
			if (l.score || l.rank) {
				const char *key = l.score ? l.score : l.rank;
				if (l.score_list) {
					v = cJSON_GetArrayItem(sl, (int)i);
					snprintf(what, sizeof what, "field '%s' item %zu",
					    key, i);
				} else {
					v = path_get(it, key);
					snprintf(what, sizeof what, "field '%s' item %zu: "
					    "'%s'", l.resp, i, key);
				}
				if ((has = score_value(rec, v, what, &x, err)) < 0) {
					rc = has;
					goto out;
				}
				if (l.rank)
					x = -x;
			}
			if (has) {
				text[n] = t->valuestring;
				sc[n] = x;
				orig[n++] = (unsigned)i;
			}
			i++;
		}
	}
	p->nrated = n;
	if (n < 2) {
		rc = rm_error_set(err, RM_EDATA, "%s: %zu of the %zu responses in "
		    "'%s' %s: no pair to make", rec->where, n, k, l.resp,
		    n == k ? "" : "have a score");
		goto out;
	}
	/* who beats whom: out[i][j] 1 i better, -1 j better, 0 tie, 2 unknown */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			out[i][j] = sc[i] > sc[j] ? 1 : sc[i] < sc[j] ? -1 : 0;
	if (codes) {
		struct ab_layout ab;
		memset(&ab, 0, sizeof ab);
		ab.va = opt->label_a ? opt->label_a : "1";
		ab.vb = opt->label_a ? opt->label_b : "2";
		ab.vt = opt->label_a ? opt->label_tie : "0";
		ab.sign = opt->label_sign;
		ab.lo = -INFINITY;
		ab.hi = INFINITY;
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++) {
				unsigned ix = rm_pref_pair_index(orig[i], orig[j],
				    (unsigned)k);
				const cJSON *v = cJSON_GetArrayItem(codes, (int)ix);
				double g;
				int o;
				out[i][j] = out[j][i] = 2;
				if (cJSON_IsNull(v))
					continue;
				snprintf(what, sizeof what, "%s[%u] (answers %u and %u)",
				    l.codes, ix, orig[i] + 1, orig[j] + 1);
				if ((rc = label_outcome(rec, &ab, what, v, &o, &g,
				    err)) < 0)
					goto out;
				out[i][j] = o == OUT_A ? 1 : o == OUT_B ? -1 : 0;
				out[j][i] = (signed char)(o == OUT_TIE ? 0 : -out[i][j]);
			}
		/* the best: most wins (a tie half a win), the first on a draw */
		for (size_t i = 0; i < n; i++) {
			sc[i] = 0;
			for (size_t j = 0; j < n; j++)
				if (j != i && out[i][j] != 2)
					sc[i] += out[i][j] == 1 ? 1 : out[i][j] == 0 ?
					    0.5 : 0;
		}
	}
	for (unsigned i = 1; i < n; i++)
		if (sc[i] > sc[best])
			best = i;
	graded = l.score != NULL && !codes;
	/* the pairs, in pair-index order */
	p->pairs = calloc(n * (n - 1) / 2, sizeof *p->pairs);
	if (p->pairs == NULL)
		goto nomem;
	{
		unsigned pick = 0;
		if (opt->pair_rule == RM_PAIRS_RANDOM) {
			struct rm_rng r;
			rm_rng_stream(&r, opt->pair_seed, p->source_id, 0x70616972,
			    0);
			pick = (unsigned)rm_rng_below(&r, n - 1);
			pick += pick >= best;
		}
		for (unsigned i = 0; i < n; i++)
			for (unsigned j = i + 1; j < n; j++) {
				struct rm_pref_pair *q = &p->pairs[p->npairs];
				if (out[i][j] == 2)
					continue;
				if (opt->pair_rule == RM_PAIRS_BEST &&
				    i != best && j != best)
					continue;
				if (opt->pair_rule == RM_PAIRS_RANDOM &&
				    !((i == best && j == pick) ||
				    (j == best && i == pick)))
					continue;
				q->index = rm_pref_pair_index(orig[i], orig[j],
				    (unsigned)k);
				q->tie = out[i][j] == 0;
				q->a = out[i][j] == -1 ? j : i;
				q->b = out[i][j] == -1 ? i : j;
				if (graded) {
					q->has_graded = 1;
					q->graded = fabs(sc[i] - sc[j]);
				}
				p->npairs++;
			}
	}
	if (p->npairs == 0) {
		rc = rm_error_set(err, RM_EDATA, "%s: every pairwise code is null: "
		    "no pair to make", rec->where);
		goto out;
	}
	if ((rc = pair_labels(rec, p, err)) < 0)
		goto out;
	/* the prompt */
	pr = cJSON_GetObjectItemCaseSensitive(rec->json, l.prompt);
	if (pr != NULL && !cJSON_IsNull(pr) && !cJSON_IsString(pr) &&
	    !(l.raw_prompt && cJSON_IsArray(pr))) {
		rc = rm_error_set(err, RM_EDATA, "%s: prompt field '%s' is %s, not "
		    "a string", rec->where, l.prompt, json_type_name(pr));
		goto out;
	}
	{
		struct rm_pref_pair *pairs = p->pairs;
		size_t npairs = p->npairs;
		const char *ps = cJSON_IsString(pr) ? pr->valuestring : "";
		p->pairs = NULL;
		if (cJSON_IsArray(pr)) {
			if ((rc = collect_messages(rec, pr, l.prompt, SIZE_MAX, &hist,
			    err)) < 0) {
				free(pairs);
				goto out;
			}
			rc = render(rec, opt, p, &hist, text, n, err);
		} else if (opt->concat || (l.raw_prompt && pr != NULL)) {
			rc = 0;
			if (set_string(&p->prompt, &p->prompt_len, ps,
			    strlen(ps)) < 0)
				rc = RM_ENOMEM;
			for (size_t i = 0; i < n && rc == 0; i++) {
				p->n = i + 1;
				if (set_string(&p->resp[i], &p->resp_len[i], text[i],
				    strlen(text[i])) < 0)
					rc = RM_ENOMEM;
			}
			if (rc < 0)
				rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		} else {
			if (l.transcript) {
				if ((copy = strdup(ps)) == NULL) {
					free(pairs);
					goto nomem;
				}
				hh_messages(copy, &hist, 0);
			} else {
				msgs_add(&hist, RM_ROLE_USER, ps);
			}
			rc = render(rec, opt, p, &hist, text, n, err);
		}
		if (rc < 0) {
			free(pairs);
			goto out;
		}
		p->pairs = pairs;
		p->npairs = npairs;
		p->kind = RM_PREF_RATED;
		p->source_id = rm_json_record_id(rec);
		p->nrated = n;
	}
	goto out;
nomem:
	rc = rm_error_set(err, RM_ENOMEM, "out of memory");
out:
	free(hist.m);
	free(copy);
	if (rc < 0) {
		int shape_used = p->shape;
		rm_pref_release(p);
		p->shape = shape_used;
	}
	return rc;
}

int
rm_pref_parse(const struct rm_json_record *rec,
	      const struct rm_pref_options *optin, struct rm_pref *p,
	      struct rm_error *err)
{
	struct rm_pref_options opt = *optin;
	const cJSON *o = rec->json;
	int shape;

	if (opt.prompt_key == NULL)
		opt.prompt_key = "prompt";
	if (opt.chosen_key == NULL)
		opt.chosen_key = "chosen";
	if (opt.rejected_key == NULL)
		opt.rejected_key = "rejected";
	memset(p, 0, sizeof *p);
	shape = opt.shape == RM_SHAPE_AUTO ? detect(o, &opt) : (int)opt.shape;
	p->shape = (enum rm_pref_shape)shape;
	p->kind = RM_PREF_PAIR;

	const char *const keys[2] = { opt.chosen_key, opt.rejected_key };
	switch (shape) {
	case RM_SHAPE_HH:
	case RM_SHAPE_STANDARD: {
		const cJSON *c = need(rec, keys[0], 0, err), *r;
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, opt.prompt_key);
		if (c == NULL || (r = need(rec, keys[1], 0, err)) == NULL)
			return err ? err->code : RM_EDATA;
		if (shape == RM_SHAPE_STANDARD && pr != NULL) {
			const cJSON *resp[2] = { c, r };
			if (!cJSON_IsString(pr))
				return rm_error_set(err, RM_EDATA,
				    "%s: field '%s' is not a string", rec->where,
				    opt.prompt_key);
			return prompt_and_strings(rec, &opt, p, pr, resp, keys, 2,
			    err);
		}
		const char *texts[2] = { c->valuestring, r->valuestring };
		if (shape == RM_SHAPE_HH && opt.chat.kind != RM_TEMPLATE_HH &&
		    !opt.concat)
			return hh_render(rec, &opt, p, texts, keys, err);
		if (split_texts(p, texts, 2, shape == RM_SHAPE_HH) < 0)
			return oom(p, err);
		return 0;
	}
	case RM_SHAPE_CONVERSATIONAL: {
		const cJSON *lists[2];
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, opt.prompt_key);
		if ((lists[0] = need(rec, keys[0], 1, err)) == NULL ||
		    (lists[1] = need(rec, keys[1], 1, err)) == NULL)
			return err ? err->code : RM_EDATA;
		if (pr && !cJSON_IsArray(pr))
			return rm_error_set(err, RM_EDATA,
			    "%s: field '%s' is not a list of messages", rec->where,
			    opt.prompt_key);
		return parse_conversational(rec, &opt, p, pr, opt.prompt_key,
		    lists, keys, 2, err);
	}
	case RM_SHAPE_TURNS: {
		const cJSON *lists[2];
		if ((lists[0] = need(rec, keys[0], 1, err)) == NULL ||
		    (lists[1] = need(rec, keys[1], 1, err)) == NULL)
			return err ? err->code : RM_EDATA;
		return parse_turns(rec, &opt, p, lists, keys, 2, err);
	}
	case RM_SHAPE_SHAREGPT: {
		const cJSON *conv = need(rec, "conversations", 1, err);
		const cJSON *resp[2];
		const char *content[2];
		struct msgs l = { 0 };
		int rc;
		if (conv == NULL)
			return err ? err->code : RM_EDATA;
		for (int i = 0; i < 2; i++) {
			int role;
			char what[128];
			resp[i] = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
			if (resp[i] == NULL)
				return rm_error_set(err, RM_EDATA,
				    "%s: field '%s' is missing", rec->where, keys[i]);
			snprintf(what, sizeof what, "field '%s'", keys[i]);
			if (cJSON_IsString(resp[i]))
				content[i] = resp[i]->valuestring;
			else if (message_get(rec, resp[i], what, &role,
			    &content[i], err) < 0)
				return err ? err->code : RM_EDATA;
		}
		if (collect_messages(rec, conv, "conversations", SIZE_MAX, &l,
		    err) < 0) {
			free(l.m);
			return err ? err->code : RM_EDATA;
		}
		rc = render(rec, &opt, p, &l, content, 2, err);
		free(l.m);
		return rc;
	}
	case RM_SHAPE_GROUP: {
		const cJSON *list = need(rec, "responses", 1, err), *it;
		const cJSON *resp[RM_PREF_MAX_RESPONSES];
		const char *rkeys[RM_PREF_MAX_RESPONSES];
		size_t k = 0;
		if (list == NULL)
			return err ? err->code : RM_EDATA;
		p->kind = RM_PREF_GROUP;
		cJSON_ArrayForEach(it, list) {
			if (k == RM_PREF_MAX_RESPONSES)
				return rm_error_set(err, RM_EDATA,
				    "%s: more than %d responses", rec->where,
				    RM_PREF_MAX_RESPONSES);
			resp[k] = it;
			rkeys[k++] = "responses";
		}
		if (k < 2)
			return rm_error_set(err, RM_EDATA,
			    "%s: field 'responses' needs at least 2 responses",
			    rec->where);
		return prompt_and_strings(rec, &opt, p,
		    cJSON_GetObjectItemCaseSensitive(o, opt.prompt_key), resp,
		    rkeys, k, err);
	}
	case RM_SHAPE_AB:
	case RM_SHAPE_PANDALM:
	case RM_SHAPE_SHP:
	case RM_SHAPE_ARENA:
	case RM_SHAPE_HELPSTEER2:
		return parse_ab(rec, &opt, p, shape, err);
	case RM_SHAPE_ULTRAFEEDBACK:
	case RM_SHAPE_NECTAR:
	case RM_SHAPE_CODES:
	case RM_SHAPE_SCORED:
		return parse_rated(rec, &opt, p, shape, err);
	case RM_SHAPE_SINGLE: {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "response");
		const char *rkeys[1] = { "response" };
		p->kind = RM_PREF_SINGLE;
		if (r == NULL)
			return rm_error_set(err, RM_EDATA,
			    "%s: field 'response' is missing", rec->where);
		return prompt_and_strings(rec, &opt, p,
		    cJSON_GetObjectItemCaseSensitive(o, opt.prompt_key), &r,
		    rkeys, 1, err);
	}
	}
	return rm_error_set(err, RM_EUSAGE, "unknown shape %d", shape);
}
