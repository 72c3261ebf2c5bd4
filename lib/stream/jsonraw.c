/*
 * jsonraw.c - top-level member scanner, exact u64, field splicing.
 */
#include "stream/jsonraw.h"

#include <string.h>

static size_t
skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
	    s[i] == '\r'))
		i++;
	return i;
}

/* End of the string starting at s[i] == '"' (index past the closing
 * quote), or 0 when unterminated. */
static size_t
skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* End of the value starting at s[i], or 0 when malformed.  Nested values
 * are skipped by bracket depth; the text is trusted to be valid JSON. */
static size_t
skip_value(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	if (i >= len)
		return 0;
	if (s[i] != '{' && s[i] != '[' && s[i] != '"') {
		/* number or literal: up to a delimiter */
		size_t j = i;
		while (j < len && !strchr(",}] \t\r\n", s[j]))
			j++;
		return j > i ? j : 0;
	}
	while (i < len) {
		char c = s[i];

		if (c == '"') {
			i = skip_string(s, len, i);
			if (i == 0)
				return 0;
			if (depth == 0)
				return i;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (depth == 0)
				return 0;
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return 0;
}

int
rm_jraw_next(const char *obj, size_t len, size_t *pos,
	     struct rm_jraw_member *m)
{
	size_t i = *pos, k;

	if (i == 0) {
		i = skip_ws(obj, len, 0);
		if (i >= len || obj[i] != '{')
			return RM_EDATA;
		i++;
	} else {
		i = skip_ws(obj, len, i);
		if (i < len && obj[i] == '}')
			return 0;
		if (i >= len || obj[i] != ',')
			return RM_EDATA;
		i++;
	}
	i = skip_ws(obj, len, i);
	if (i < len && obj[i] == '}' && *pos == 0)
		return 0;
	if (i >= len || obj[i] != '"')
		return RM_EDATA;
	k = skip_string(obj, len, i);
	if (k == 0)
		return RM_EDATA;
	m->key = obj + i + 1;
	m->key_len = k - i - 2;
	i = skip_ws(obj, len, k);
	if (i >= len || obj[i] != ':')
		return RM_EDATA;
	i = skip_ws(obj, len, i + 1);
	k = skip_value(obj, len, i);
	if (k == 0)
		return RM_EDATA;
	m->val = obj + i;
	m->val_len = k - i;
	*pos = k;
	return 1;
}

static int
key_is(const struct rm_jraw_member *m, const char *key)
{
	return strlen(key) == m->key_len && memcmp(m->key, key, m->key_len) == 0;
}

int
rm_jraw_find(const char *obj, size_t len, const char *key,
	     const char **val, size_t *val_len)
{
	struct rm_jraw_member m;
	size_t pos = 0;
	int rc;

	while ((rc = rm_jraw_next(obj, len, &pos, &m)) == 1) {
		if (key_is(&m, key)) {
			*val = m.val;
			*val_len = m.val_len;
			return 1;
		}
	}
	return rc;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
rm_jraw_parse_u64(const char *val, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
		val++;
		n -= 2;
		if (n > 2 && val[0] == '0' && (val[1] == 'x' || val[1] == 'X')) {
			if (n - 2 > 16)
				return RM_EDATA;
			for (i = 2; i < n; i++) {
				int h = hexval(val[i]);
				if (h < 0)
					return RM_EDATA;
				x = x << 4 | (uint64_t)h;
			}
			*v = x;
			return 0;
		}
	}
	if (n == 0 || (n > 1 && val[0] == '0'))
		return RM_EDATA;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)val[i] - '0';
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return RM_EDATA;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int
rm_json_u64(const struct rm_json_record *rec, const char *key, uint64_t *v,
	    struct rm_error *err)
{
	const char *val;
	size_t n;
	int rc = rm_jraw_find(rec->raw, rec->raw_len, key, &val, &n);

	if (rc < 0)
		return rm_error_set(err, RM_EDATA, "%s: malformed record", rec->where);
	if (rc == 0 || (n == 4 && memcmp(val, "null", 4) == 0))
		return 0;
	if (rm_jraw_parse_u64(val, n, v) < 0)
		return rm_error_set(err, RM_EDATA,
		    "%s: field '%s' is not an unsigned 64-bit integer",
		    rec->where, key);
	return 1;
}

uint64_t
rm_json_record_id(const struct rm_json_record *rec)
{
	const char *val;
	size_t n;
	uint64_t id;

	if (rm_jraw_find(rec->raw, rec->raw_len, "id", &val, &n) == 1 &&
	    val[0] != '"' && rm_jraw_parse_u64(val, n, &id) == 0)
		return id;
	return rec->index;
}

int
rm_jraw_splice(struct rm_buf *out, const char *obj, size_t len,
	       const struct rm_jraw_field *f, size_t n)
{
	unsigned char seen[64] = {0};
	struct rm_jraw_member m;
	size_t pos = 0, copied = 0, end, nmem = 0;
	int rc;

	if (n > sizeof seen)
		return RM_EDATA;
	while ((rc = rm_jraw_next(obj, len, &pos, &m)) == 1) {
		nmem++;
		for (size_t j = 0; j < n; j++) {
			size_t at = (size_t)(m.val - obj);
			if (!key_is(&m, f[j].key))
				continue;
			if (rm_buf_append(out, obj + copied, at - copied) < 0 ||
			    rm_buf_append(out, f[j].val, f[j].val_len) < 0)
				return RM_ENOMEM;
			copied = at + m.val_len;
			seen[j] = 1;
			break;
		}
	}
	if (rc < 0)
		return rc;
	/* pos is past the last member (or the opening brace); the closing
	 * brace follows after blanks. */
	end = skip_ws(obj, len, pos == 0 ? skip_ws(obj, len, 0) + 1 : pos);
	if (end >= len || obj[end] != '}')
		return RM_EDATA;
	if (rm_buf_append(out, obj + copied, end - copied) < 0)
		return RM_ENOMEM;
	for (size_t j = 0; j < n; j++) {
		if (seen[j])
			continue;
		if ((nmem++ ? rm_buf_append(out, ",", 1) : 0) < 0 ||
		    rm_buf_json_string(out, f[j].key, strlen(f[j].key)) < 0 ||
		    rm_buf_append(out, ":", 1) < 0 ||
		    rm_buf_append(out, f[j].val, f[j].val_len) < 0)
			return RM_ENOMEM;
	}
	return rm_buf_append(out, obj + end, len - end);
}
