/*
 * rm-cat - print rmkit streams as JSON Lines: tensor streams become one
 * JSON object per record, JSON records (JSONL or an array) pass through one
 * a line, each checked; plain or zstd, by content.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "stream/io.h"
#include "stream/jsonl.h"
#include "stream/tstream.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: rm-cat [-hz] [--header] [-o file] [file ...]\n");
}

enum { OPT_HEADER = 256, OPT_VERSION };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "output", required_argument, NULL, 'o' },
	{ "zstd", no_argument, NULL, 'z' },
	{ "header", no_argument, NULL, OPT_HEADER },
	{ NULL, 0, NULL, 0 },
};

/* Bytes of a JSON string: quotes, escapes for " \ and control bytes. */
static int
put_bytes(struct rm_out *out, const char *s, size_t n, struct rm_error *err)
{
	char b[8];
	int rc = rm_out_write(out, "\"", 1, err);
	const char *end = s + n;

	for (; rc == 0 && s < end; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			b[0] = '\\';
			b[1] = (char)c;
			rc = rm_out_write(out, b, 2, err);
		} else if (c < 0x20) {
			snprintf(b, sizeof b, "\\u%04x", c);
			rc = rm_out_write(out, b, 6, err);
		} else {
			rc = rm_out_write(out, s, 1, err);
		}
	}
	return rc ? rc : rm_out_write(out, "\"", 1, err);
}

static int
put_string(struct rm_out *out, const char *s, struct rm_error *err)
{
	return put_bytes(out, s, strlen(s), err);
}

/* Whether n bytes are well-formed UTF-8 (shortest forms, no surrogates). */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (k == 0 || c > 0xf4 || k >= n - i)
			return 0;
		cp = c & (0x3f >> k);
		for (unsigned j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* One element as a JSON number: integers exactly, floats by rm_json_float. */
static int
put_elem(struct rm_out *out, enum rm_dtype dt, const unsigned char *p,
	 struct rm_error *err)
{
	char b[40];
	int n = 0;

	switch (dt) {
	case RM_DT_U8: n = snprintf(b, sizeof b, "%u", *p); break;
	case RM_DT_I32: {
		int32_t v;
		memcpy(&v, p, 4);
		n = snprintf(b, sizeof b, "%ld", (long)v);
		break;
	}
	case RM_DT_I64: {
		int64_t v;
		memcpy(&v, p, 8);
		n = snprintf(b, sizeof b, "%lld", (long long)v);
		break;
	}
	case RM_DT_U64: {
		uint64_t v;
		memcpy(&v, p, 8);
		n = snprintf(b, sizeof b, "%llu", (unsigned long long)v);
		break;
	}
	case RM_DT_F32: {
		float v;
		memcpy(&v, p, 4);
		n = rm_json_float(b, sizeof b, v, 9);
		break;
	}
	case RM_DT_F64: {
		double v;
		memcpy(&v, p, 8);
		n = rm_json_float(b, sizeof b, v, 17);
		break;
	}
	default:
		return rm_error_set(err, RM_EDATA, "dtype %d", (int)dt);
	}
	return rm_out_write(out, b, (size_t)n, err);
}

/* Dimension d of t, starting at element index *at: nested arrays. */
static int
put_dims(struct rm_out *out, const struct rm_tensor *t, int d, uint64_t *at,
	 struct rm_error *err)
{
	size_t es = rm_dtype_size(t->dtype);
	const unsigned char *base = t->data;
	int rc;

	/* A one-dimensional u8 tensor of UTF-8 is text (rm-tokenize --keep). */
	if (d == 0 && t->ndim == 1 && t->dtype == RM_DT_U8 &&
	    utf8_valid(base, t->dims[0]))
		return put_bytes(out, t->data, t->dims[0], err);
	if (d == t->ndim) {
		rc = put_elem(out, t->dtype, base + *at * es, err);
		(*at)++;
		return rc;
	}
	if ((rc = rm_out_write(out, "[", 1, err)) < 0)
		return rc;
	for (uint64_t i = 0; i < t->dims[d]; i++) {
		if (i > 0 && (rc = rm_out_write(out, ",", 1, err)) < 0)
			return rc;
		if ((rc = put_dims(out, t, d + 1, at, err)) < 0)
			return rc;
	}
	return rm_out_write(out, "]", 1, err);
}

static int
put_record(struct rm_out *out, const struct rm_record *rec,
	   struct rm_error *err)
{
	int rc = rm_out_write(out, "{", 1, err);

	for (size_t i = 0; rc == 0 && i < rec->n; i++) {
		uint64_t at = 0;
		if (i > 0)
			rc = rm_out_write(out, ",", 1, err);
		if (rc == 0)
			rc = put_string(out, rec->t[i].name, err);
		if (rc == 0)
			rc = rm_out_write(out, ":", 1, err);
		if (rc == 0)
			rc = put_dims(out, &rec->t[i], 0, &at, err);
	}
	return rc ? rc : rm_out_write(out, "}\n", 2, err);
}

/* The header's metadata on one line ({} when there is none). */
static int
put_meta(struct rm_out *out, const char *meta, struct rm_error *err)
{
	cJSON *j = cJSON_Parse(meta);
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	int rc;

	rc = rm_out_printf(out, err, "%s\n", s ? s : "{}");
	cJSON_free(s);
	cJSON_Delete(j);
	return rc;
}

static int
cat_tensors(struct rm_out *out, struct rm_in *in, int header,
	    struct rm_error *err)
{
	const struct rm_record *rec;
	struct rm_tsr *r;
	int rc;

	if ((rc = rm_tsr_open(&r, in, err)) < 0)
		return rc;
	if (header)
		rc = put_meta(out, rm_tsr_meta(r), err);
	else
		while ((rc = rm_tsr_next(r, &rec, err)) == 1)
			if ((rc = put_record(out, rec, err)) < 0)
				break;
	rm_tsr_close(r);
	return rc;
}

/* JSON records (JSON Lines or an array), each checked, one a line. */
static int
cat_json(struct rm_out *out, struct rm_in *in, struct rm_error *err)
{
	struct rm_json_record rec;
	struct rm_jsonl *js;
	size_t n = 0;
	int rc;

	if ((rc = rm_jsonl_open(&js, in, err)) < 0)
		return rc;
	while ((rc = rm_jsonl_next(js, &rec, err)) == 1) {
		n++;
		if ((rc = rm_out_write(out, rec.raw, rec.raw_len, err)) < 0 ||
		    (rc = rm_out_write(out, "\n", 1, err)) < 0)
			break;
	}
	if (rc == RM_EDATA && n == 0) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		rc = rm_error_set(err, RM_EDATA, "%s (neither a tensor stream "
		    "nor JSON)", msg);
	}
	rm_jsonl_free(js);
	return rc;
}

/* Copy one operand to out; 0, or < 0 with err set. */
static int
cat_one(struct rm_out *out, const char *path, int header,
	struct rm_error *err)
{
	struct rm_in *in;
	int rc, kind;

	if ((rc = rm_in_open(&in, path, err)) < 0)
		return rc;
	kind = rm_tsr_detect(in, err);
	if (kind < 0)
		rc = kind;
	else if (kind == 1)
		rc = cat_tensors(out, in, header, err);
	else if (header)
		rc = rm_error_set(err, RM_EDATA, "%s: not a tensor stream, "
				  "no header to print", rm_in_name(in));
	else
		rc = cat_json(out, in, err);
	rm_in_close(in);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *opath = NULL;
	struct rm_out *out;
	struct rm_error err;
	int c, flags = 0, header = 0, status = RM_EXIT_OK, rc;

	rm_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "ho:z", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return rm_finish_stdout(RM_EXIT_OK);
		case OPT_VERSION: rm_print_version();
		case 'o': opath = optarg; break;
		case 'z': flags |= RM_OUT_ZSTD; break;
		case OPT_HEADER: header = 1; break;
		default: usage(stderr); return RM_EXIT_USAGE;
		}
	}
	if (rm_out_open(&out, opath, flags, 0, &err) < 0) {
		rm_warn_err(&err);
		return err.code == RM_EUSAGE ? RM_EXIT_USAGE : RM_EXIT_FAIL;
	}
	for (int i = optind; i < argc || i == optind; i++) {
		/* No operand: standard input. */
		rc = cat_one(out, i < argc ? argv[i] : NULL, header, &err);
		if (rc < 0 && rm_out_error(out) == RM_EPIPE) {
			rm_out_abort(out);
			return RM_EXIT_FAIL;
		}
		if (rc < 0) {
			rm_warn_err(&err);
			status = RM_EXIT_FAIL;
		}
		if (rm_out_error(out) < 0 || i + 1 >= argc)
			break;  /* output failed: other operands cannot help */
	}
	if (status != RM_EXIT_OK && opath != NULL) {
		rm_out_abort(out);
		return status;
	}
	if (rm_out_commit(out, &err) < 0) {
		if (err.code != RM_EPIPE)
			rm_warn_err(&err);
		return RM_EXIT_FAIL;
	}
	return status;
}
