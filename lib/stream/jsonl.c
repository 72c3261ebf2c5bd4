#include "stream/jsonl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

#define ARRAY_CHUNK ((size_t)64 << 10)

struct rm_jsonl {
	struct rm_in *in;
	int is_array;
	/* the record text handed out: a JSONL line, or an array element
	 * with the blanks between its tokens removed */
	char *line;
	size_t cap, len;
	/* array: input bytes ibuf[ipos..ilen), the line of the next one */
	unsigned char *ibuf;
	size_t ipos, ilen;
	size_t aline;
	int astate;             /* AFTER_OPEN, AFTER_ELEM or AT_END */
	/* both */
	cJSON *cur;
	size_t count;
	int recoverable;
	char where[512];
};

enum { AFTER_OPEN, AFTER_ELEM, AT_END };

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
	const char *end = NULL;
	cJSON *j;
	int instr = 0;

	/* RFC 8259: no raw control character inside a string (cJSON takes
	 * them, and a raw newline would split the record's line when a tool
	 * writes it out as JSON Lines); no NUL anywhere. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0 || (instr && c < 0x20)) {
			*bad = i;
			return NULL;
		}
		if (instr && c == '\\')
			i++;
		else if (c == '"')
			instr = !instr;
	}
	*bad = n;
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
	if (s[bad] == '\0')
		return " (NUL byte)";
	if ((unsigned char)s[bad] < 0x20)
		return " (control character in a string)";
	return " (text after the value)";
}

/* Make array input available in ibuf: 1, 0 at the end, < 0 on error. */
static int
arr_fill(struct rm_jsonl *r, struct rm_error *err)
{
	ssize_t got;

	if (r->ipos < r->ilen)
		return 1;
	got = rm_in_read(r->in, r->ibuf, ARRAY_CHUNK, err);
	if (got < 0)
		return (int)got;
	r->ipos = 0;
	r->ilen = (size_t)got;
	return got > 0;
}

/* Skip JSON blanks; then 1 with the next byte in *c (not consumed), 0 at
 * the end of input, < 0 on error. */
static int
arr_skip_ws(struct rm_jsonl *r, int *c, struct rm_error *err)
{
	for (;;) {
		int rc = arr_fill(r, err);
		if (rc <= 0)
			return rc;
		*c = r->ibuf[r->ipos];
		if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
			return 1;
		r->aline += *c == '\n';
		r->ipos++;
	}
}

static int
arr_error(struct rm_jsonl *r, struct rm_error *err, const char *what)
{
	r->astate = AT_END;
	return rm_error_set(err, RM_EDATA, "%s:%zu: invalid JSON (%s)",
	    rm_in_name(r->in), r->aline, what);
}

/*
 * arr_element - read one element starting at the current byte into
 * r->line, without the blanks between its tokens (strings and numbers are
 * copied byte for byte).  The element's end is found from the brackets and
 * quotes alone; whether it is valid JSON is rm_json_parse_record's job, so
 * that one bad element is one bad record.  1, or < 0 (the input is
 * unusable from here: unterminated, or longer than the line limit).
 */
static int
arr_element(struct rm_jsonl *r, struct rm_error *err)
{
	size_t depth = 0, max = rm_in_max_line(r->in), start = r->aline;
	int instr = 0, esc = 0, scalar = -1;

	r->len = 0;
	for (;;) {
		int rc = arr_fill(r, err), c;

		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (scalar == 1)
				break;
			r->astate = AT_END;
			return rm_error_set(err, RM_EDATA, "%s:%zu: element %zu "
			    "is not complete at the end of the input",
			    rm_in_name(r->in), start, r->count);
		}
		c = r->ibuf[r->ipos];
		if (scalar == -1)
			scalar = c != '{' && c != '[' && c != '"';
		if (scalar == 1 && (c == ',' || c == ']' || c == ' ' ||
		    c == '\t' || c == '\r' || c == '\n'))
			break;
		r->ipos++;
		r->aline += c == '\n';
		if (!instr && !scalar && (c == ' ' || c == '\t' || c == '\r' ||
		    c == '\n'))
			continue;
		if (r->len + 2 > max) {
			r->astate = AT_END;
			return rm_error_set(err, RM_EDATA, "%s:%zu: element %zu is "
			    "longer than %zu bytes", rm_in_name(r->in), start,
			    r->count, max);
		}
		if (r->len + 2 > r->cap) {
			size_t c2 = r->cap ? r->cap * 2 : 4096;
			char *t;
			while (c2 < r->len + 2)
				c2 *= 2;
			if ((t = realloc(r->line, c2)) == NULL)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			r->line = t;
			r->cap = c2;
		}
		r->line[r->len++] = (char)c;
		if (scalar)
			continue;
		if (instr) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"') {
				instr = 0;
				if (depth == 0)
					break;
			}
		} else if (c == '"') {
			instr = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && depth > 0 && --depth == 0) {
			break;
		}
	}
	r->line[r->len] = '\0';
	r->astate = AFTER_ELEM;
	return 1;
}

/* The next element of an array: 1 and r->line, 0 after the closing
 * bracket (and nothing but blanks after it), < 0 on error. */
static int
arr_next(struct rm_jsonl *r, size_t *line, struct rm_error *err)
{
	int c, rc;

	if (r->astate == AT_END)
		return 0;
	rc = arr_skip_ws(r, &c, err);
	if (rc > 0 && c == ']') {
		r->ipos++;
		r->astate = AT_END;
		rc = arr_skip_ws(r, &c, err);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return rm_error_set(err, RM_EDATA, "%s:%zu: invalid JSON "
			    "(text after the array)", rm_in_name(r->in), r->aline);
		return 0;
	}
	if (rc > 0 && r->astate == AFTER_ELEM) {
		if (c != ',')
			return arr_error(r, err, "',' or ']' expected after an element");
		r->ipos++;
		rc = arr_skip_ws(r, &c, err);
		if (rc > 0 && c == ']')
			return arr_error(r, err, "',' before ']'");
	}
	if (rc < 0)
		return rc;
	if (rc == 0) {
		r->astate = AT_END;
		return rm_error_set(err, RM_EDATA, "%s:%zu: the JSON array is not "
		    "closed (']' missing)", rm_in_name(r->in), r->aline);
	}
	if (c == ',')
		return arr_error(r, err, "an element is missing before ','");
	*line = r->aline;
	return arr_element(r, err);
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
		/* Consume up to the bracket, counting lines; then elements
		 * are read one at a time (arr_next). */
		size_t k;

		r->is_array = 1;
		r->aline = 1;
		r->ibuf = malloc(ARRAY_CHUNK);
		if (r->ibuf == NULL) {
			free(r);
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		}
		for (k = 0; k < i; k++)
			r->aline += p[k] == '\n';
		n = rm_in_read(in, r->ibuf, i + 1, err);
		if (n < 0) {
			rm_jsonl_free(r);
			return (int)n;
		}
		r->astate = AFTER_OPEN;
	}
	*rp = r;
	return 0;
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

int
rm_jsonl_next(struct rm_jsonl *r, struct rm_json_record *rec,
	      struct rm_error *err)
{
	struct rm_json_line ln;
	int rc;

	cJSON_Delete(r->cur);
	r->cur = NULL;
	r->recoverable = 0;
	memset(rec, 0, sizeof *rec);
	rc = rm_jsonl_next_line(r, &ln, err);
	if (rc <= 0)
		return rc;
	rc = rm_json_parse_record(&ln, rec, &r->cur, err);
	r->recoverable = rc < 0;
	return rc;
}

int
rm_jsonl_next_line(struct rm_jsonl *r, struct rm_json_line *ln,
		   struct rm_error *err)
{
	memset(ln, 0, sizeof *ln);
	if (r->is_array) {
		size_t line = 0;
		int rc = arr_next(r, &line, err);

		if (rc <= 0)
			return rc;
		snprintf(r->where, sizeof r->where, "%s:%zu: element %zu",
		    rm_in_name(r->in), line, r->count);
		ln->raw = r->line;
		ln->len = r->len;
		ln->index = r->count++;
		ln->line = line;
		ln->where = r->where;
		return 1;
	}
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
	cJSON_Delete(r->cur);
	free(r->line);
	free(r->ibuf);
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
