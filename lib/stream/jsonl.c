#include "stream/jsonl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

struct rm_jsonl {
	struct rm_in *in;
	int is_array;
	/* JSONL */
	char *line;
	size_t cap, len;
	/* array */
	char *text;
	cJSON *array;
	const cJSON *next_elem;
	char *printed;
	/* both */
	cJSON *cur;
	size_t count;
	int recoverable;
	char where[512];
};

int
rm_utf8_valid(const char *buf, size_t n, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3; cp = c & 0x07; min = 0x10000;
		} else {
			goto fail;
		}
		if (n - i <= k)
			goto fail;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				goto fail;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto fail;
		i += k + 1;
	}
	return 1;
fail:
	if (bad)
		*bad = i;
	return 0;
}

/*
 * parse_whole - cJSON_ParseWithLength, but all of s[0..n) must be the one
 * value: cJSON alone stops at the value's end and ignores what follows
 * ('{"a":1} junk' parses), and takes a NUL byte inside a string as its
 * end (silently cutting the text).  On failure *bad is the offset of the
 * offending byte (n when the value itself is malformed).
 */
static cJSON *
parse_whole(const char *s, size_t n, size_t *bad)
{
	const char *nul = memchr(s, '\0', n), *end = NULL;
	cJSON *j;

	*bad = nul ? (size_t)(nul - s) : n;
	if (nul)
		return NULL;
	j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
	if (j == NULL)
		return NULL;
	while (end < s + n && strchr(" \t\r\n", *end))
		end++;
	if (end < s + n) {
		*bad = (size_t)(end - s);
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* The message for a value parse_whole refused: "invalid JSON" and why. */
static const char *
parse_whole_why(const char *s, size_t n, size_t bad)
{
	if (bad == n)
		return "";
	return s[bad] == '\0' ? " (NUL byte)" : " (text after the value)";
}

int
rm_jsonl_open(struct rm_jsonl **rp, struct rm_in *in, struct rm_error *err)
{
	struct rm_jsonl *r;
	const unsigned char *p;
	ssize_t n;
	size_t i;

	*rp = NULL;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	r->in = in;
	/* Skip a UTF-8 byte order mark and blanks to see the first byte. */
	n = rm_in_peek(in, &p, 4096, err);
	if (n < 0) {
		free(r);
		return (int)n;
	}
	i = 0;
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3;
	while (i < (size_t)n && strchr(" \t\r\n", p[i]) && p[i])
		i++;
	if (i < (size_t)n && p[i] == '[') {
		size_t len;
		ssize_t got;
		size_t cap = 1 << 20;

		r->is_array = 1;
		r->text = malloc(cap);
		len = 0;
		if (r->text == NULL)
			goto nomem;
		for (;;) {
			if (cap - len < 65536) {
				char *t;
				if (cap >= RM_JSONL_MAX_ARRAY) {
					rm_jsonl_free(r);
					return rm_error_set(err, RM_ENOMEM,
					    "%s: JSON array larger than %zu MiB",
					    rm_in_name(in), RM_JSONL_MAX_ARRAY >> 20);
				}
				t = realloc(r->text, cap * 2);
				if (t == NULL)
					goto nomem;
				r->text = t;
				cap *= 2;
			}
			got = rm_in_read(in, r->text + len, cap - len - 1, err);
			if (got < 0) {
				rm_jsonl_free(r);
				return (int)got;
			}
			if (got == 0)
				break;
			len += (size_t)got;
		}
		r->text[len] = '\0';
		{
			size_t bad;
			if (!rm_utf8_valid(r->text, len, &bad)) {
				rm_jsonl_free(r);
				return rm_error_set(err, RM_EDATA,
				    "%s: invalid UTF-8 at byte %zu", rm_in_name(in), bad);
			}
		}
		size_t bad;
		r->array = parse_whole(r->text, len, &bad);
		if (r->array == NULL) {
			const char *ep = cJSON_GetErrorPtr();
			size_t off = bad < len ? bad : ep ? (size_t)(ep - r->text) : 0;
			size_t line = 1;
			for (size_t j = 0; j < off && j < len; j++)
				line += r->text[j] == '\n';
			const char *why = parse_whole_why(r->text, len, bad);
			rm_jsonl_free(r);
			return rm_error_set(err, RM_EDATA, "%s:%zu: invalid JSON%s",
			    rm_in_name(in), line, why);
		}
		if (!cJSON_IsArray(r->array)) {
			rm_jsonl_free(r);
			return rm_error_set(err, RM_EDATA, "%s: not a JSON array",
			    rm_in_name(in));
		}
		free(r->text);
		r->text = NULL;
		r->next_elem = r->array->child;
	}
	*rp = r;
	return 0;
nomem:
	rm_jsonl_free(r);
	return rm_error_set(err, RM_ENOMEM, "out of memory");
}

int
rm_jsonl_is_array(const struct rm_jsonl *r)
{
	return r->is_array;
}

int
rm_jsonl_recoverable(const struct rm_jsonl *r)
{
	return r->recoverable;
}

static int
finish_record(struct rm_jsonl *r, struct rm_json_record *rec,
	      struct rm_error *err)
{
	if (!cJSON_IsObject(r->cur)) {
		r->recoverable = 1;
		r->count++;
		return rm_error_set(err, RM_EDATA, "%s: record is not a JSON object",
		    r->where);
	}
	rec->json = r->cur;
	rec->index = r->count++;
	rec->hash = rm_hash64(rec->raw, rec->raw_len);
	rec->where = r->where;
	return 1;
}

int
rm_jsonl_next(struct rm_jsonl *r, struct rm_json_record *rec,
	      struct rm_error *err)
{
	if (r->cur && !r->is_array)
		cJSON_Delete(r->cur);
	r->cur = NULL;
	r->recoverable = 0;
	memset(rec, 0, sizeof *rec);
	if (r->is_array) {
		const cJSON *e = r->next_elem;

		if (e == NULL)
			return 0;
		r->next_elem = e->next;
		snprintf(r->where, sizeof r->where, "%s: element %zu",
		    rm_in_name(r->in), r->count);
		free(r->printed);
		r->printed = cJSON_PrintUnformatted(e);
		if (r->printed == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		r->cur = (cJSON *)e;
		rec->raw = r->printed;
		rec->raw_len = strlen(r->printed);
		return finish_record(r, rec, err);
	}
	{
		struct rm_json_line ln;
		int rc = rm_jsonl_next_line(r, &ln, err);

		if (rc <= 0)
			return rc;
		rc = rm_json_parse_record(&ln, rec, &r->cur, err);
		r->recoverable = rc < 0;
		return rc;
	}
}

int
rm_jsonl_next_line(struct rm_jsonl *r, struct rm_json_line *ln,
		   struct rm_error *err)
{
	if (r->is_array)
		return rm_error_set(err, RM_EUSAGE,
		    "%s: a JSON array has no lines to hand out", rm_in_name(r->in));
	memset(ln, 0, sizeof *ln);
	for (;;) {
		int rc = rm_in_getline(r->in, &r->line, &r->cap, &r->len, err);
		size_t i;

		if (rc <= 0)
			return rc;
		for (i = 0; i < r->len && strchr(" \t\r", r->line[i]) &&
		     r->line[i]; i++)
			;
		if (i == r->len)
			continue;
		/* A byte order mark may open the first line. */
		if (rm_in_line(r->in) == 1 && r->len >= 3 &&
		    memcmp(r->line, "\xef\xbb\xbf", 3) == 0) {
			memmove(r->line, r->line + 3, r->len - 2);
			r->len -= 3;
		}
		snprintf(r->where, sizeof r->where, "%s:%zu", rm_in_name(r->in),
		    rm_in_line(r->in));
		ln->raw = r->line;
		ln->len = r->len;
		ln->index = r->count++;
		ln->line = rm_in_line(r->in);
		ln->where = r->where;
		return 1;
	}
}

int
rm_json_parse_record(const struct rm_json_line *ln,
		     struct rm_json_record *rec, cJSON **json,
		     struct rm_error *err)
{
	size_t bad;

	*json = NULL;
	memset(rec, 0, sizeof *rec);
	if (!rm_utf8_valid(ln->raw, ln->len, &bad))
		return rm_error_set(err, RM_EDATA,
		    "%s: invalid UTF-8 at byte %zu", ln->where, bad + 1);
	*json = parse_whole(ln->raw, ln->len, &bad);
	if (*json == NULL)
		return rm_error_set(err, RM_EDATA, "%s: invalid JSON%s", ln->where,
		    parse_whole_why(ln->raw, ln->len, bad));
	if (!cJSON_IsObject(*json)) {
		cJSON_Delete(*json);
		*json = NULL;
		return rm_error_set(err, RM_EDATA, "%s: record is not a JSON object",
		    ln->where);
	}
	rec->json = *json;
	rec->raw = ln->raw;
	rec->raw_len = ln->len;
	rec->index = ln->index;
	rec->line = ln->line;
	rec->hash = rm_hash64(ln->raw, ln->len);
	rec->where = ln->where;
	return 1;
}

void
rm_jsonl_free(struct rm_jsonl *r)
{
	if (r == NULL)
		return;
	if (!r->is_array)
		cJSON_Delete(r->cur);
	cJSON_Delete(r->array);
	free(r->line);
	free(r->text);
	free(r->printed);
	free(r);
}

int
rm_json_string(const struct rm_json_record *rec, const cJSON *obj,
	       const char *key, const char **s, struct rm_error *err)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (f == NULL)
		return rm_error_set(err, RM_EDATA, "%s: field '%s' is missing",
		    rec->where, key);
	if (!cJSON_IsString(f))
		return rm_error_set(err, RM_EDATA, "%s: field '%s' is not a string",
		    rec->where, key);
	*s = f->valuestring;
	return 0;
}

int
rm_json_number_opt(const struct rm_json_record *rec, const cJSON *obj,
		   const char *key, double *v, struct rm_error *err)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (f == NULL || cJSON_IsNull(f))
		return 0;
	if (!cJSON_IsNumber(f))
		return rm_error_set(err, RM_EDATA, "%s: field '%s' is not a number",
		    rec->where, key);
	if (!isfinite(f->valuedouble))
		return rm_error_set(err, RM_EDATA, "%s: field '%s' is not finite",
		    rec->where, key);
	*v = f->valuedouble;
	return 1;
}
