/*
 * jsonl.h - reading JSON records: JSON Lines, or one JSON array of records.
 *
 * The form is told from the content: input whose first non-blank byte is
 * '[' is a JSON array, anything else is JSON Lines.  Both are read one
 * record at a time in bounded memory: a line, or an array element found
 * from its brackets and quotes, each at most the stream's line limit
 * (rm_in_set_max_line, RM_IN_MAX_LINE by default).  An element's text is
 * its source bytes without the blanks between tokens (strings and numbers
 * byte for byte), so that it is one line when written out as JSON Lines.
 * CRLF line ends and a last line without a newline are accepted; blank
 * lines are skipped and not counted as records.  Every record must be one
 * JSON object (RFC 8259: no raw control character inside a string) in
 * valid UTF-8.  A record that is not is one bad record (recoverable); a
 * damaged array structure (a missing ',' or ']', text after the array)
 * ends the input.
 *
 * Ownership: the reader borrows the struct rm_in (the caller closes it after
 * rm_jsonl_free).  A struct rm_json_record filled by rm_jsonl_next points
 * into the reader and stays valid until the next call or rm_jsonl_free.
 * Errors are located as "FILE:LINE: ..." (JSONL) or
 * "FILE:LINE: element N: ..." (arrays: the line the element starts on, N
 * from 0).
 */
#ifndef RM_JSONL_H
#define RM_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "stream/io.h"

struct rm_jsonl;

struct rm_json_record {
	const cJSON *json;   /* the record object */
	const char *raw;     /* its source bytes (see hash.h), not NUL-terminated */
	size_t raw_len;
	size_t index;        /* 0-based record number */
	size_t line;         /* 1-based input line (of an element: its first) */
	uint64_t hash;       /* rm_hash64(raw, raw_len) */
	const char *where;   /* "FILE:LINE" or "FILE:LINE: element N" */
};

int rm_jsonl_open(struct rm_jsonl **rp, struct rm_in *in, struct rm_error *err);
/* 1 and *rec filled, 0 at the end, < 0 on error (message located). */
int rm_jsonl_next(struct rm_jsonl *r, struct rm_json_record *rec,
		  struct rm_error *err);
/*
 * Reading and parsing apart, so that records can be parsed in parallel:
 * rm_jsonl_next_line hands out the next record's text unparsed (a
 * non-blank line, or an array element as above; raw and where point into
 * the reader until its next call; copy them to keep them), and
 * rm_json_parse_record, which any thread may call, parses it into a record
 * exactly as rm_jsonl_next does.  On success *json owns the parsed tree
 * (free it with cJSON_Delete) and rec points into ln and *json.  Errors of
 * rm_jsonl_next_line end the input; those of rm_json_parse_record are the
 * one record's.
 */
struct rm_json_line {
	const char *raw;
	size_t len;
	size_t index;        /* 0-based record number */
	size_t line;         /* 1-based input line (of an element: its first) */
	const char *where;   /* "FILE:LINE" or "FILE:LINE: element N" */
};
int rm_jsonl_next_line(struct rm_jsonl *r, struct rm_json_line *ln,
		       struct rm_error *err);
int rm_json_parse_record(const struct rm_json_line *ln,
			 struct rm_json_record *rec, cJSON **json,
			 struct rm_error *err);

/*
 * 1 when the last error of rm_jsonl_next was in one record's content
 * (invalid JSON or UTF-8, not an object) and reading can go on with the
 * next record; 0 after stream errors, which end the input.
 */
int rm_jsonl_recoverable(const struct rm_jsonl *r);
/* 1 when the input is a JSON array rather than JSON Lines. */
int rm_jsonl_is_array(const struct rm_jsonl *r);
void rm_jsonl_free(struct rm_jsonl *r);

/* 1 when buf[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF);
 * otherwise 0 and *bad gets the offset of the first bad byte. */
int rm_utf8_valid(const char *buf, size_t n, size_t *bad);

/*
 * Field access with located messages, e.g.
 * "pairs.jsonl:17: field 'chosen' is not a string".  The string returned by
 * rm_json_string points into the record.  Missing optional fields: use
 * rm_json_number_opt, which returns 0 and leaves *v alone when absent.
 */
int rm_json_string(const struct rm_json_record *rec, const cJSON *obj,
		   const char *key, const char **s, struct rm_error *err);
int rm_json_number_opt(const struct rm_json_record *rec, const cJSON *obj,
		       const char *key, double *v, struct rm_error *err);

#endif
