/*
 * jsonraw.h - working on the source text of a JSON object record without
 * re-printing it: finding top-level members, reading 64-bit integers
 * exactly (cJSON keeps numbers as doubles, exact only below 2^53), and
 * splicing fields into a record while every other byte passes through.
 *
 * The functions expect text that already parsed as a JSON object (as every
 * record from jsonl.h did); on other text they fail with RM_EDATA rather
 * than read out of bounds.  Keys are compared byte for byte with their
 * source text between the quotes (escapes are not decoded).
 *
 * Ownership: results point into the caller's text and live as long as it;
 * rm_jraw_splice appends to a caller-owned struct rm_buf.
 */
#ifndef RM_JSONRAW_H
#define RM_JSONRAW_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "stream/jsonl.h"

struct rm_jraw_member {
	const char *key;        /* between the quotes, not NUL-terminated */
	size_t key_len;
	const char *val;        /* the value's source text */
	size_t val_len;
};

/*
 * rm_jraw_next - iterate over the top-level members of obj[0..len).  Start
 * with *pos = 0.  Returns 1 with *m filled, 0 after the last member,
 * RM_EDATA when the text is not a JSON object.
 */
int rm_jraw_next(const char *obj, size_t len, size_t *pos,
		 struct rm_jraw_member *m);

/* rm_jraw_find - the value text of the first member named key: 1 found,
 * 0 absent, RM_EDATA on malformed text. */
int rm_jraw_find(const char *obj, size_t len, const char *key,
		 const char **val, size_t *val_len);

/*
 * rm_jraw_parse_u64 - a JSON value text as an exact unsigned 64-bit
 * integer: a number without sign, fraction or exponent, or a string
 * holding decimal digits or "0x" and 1..16 hex digits.  0 on success,
 * RM_EDATA otherwise (also on overflow).
 */
int rm_jraw_parse_u64(const char *val, size_t n, uint64_t *v);

/*
 * rm_json_u64 - read member key of a record as an exact u64 (see above).
 * Returns 1 and sets *v, 0 when the member is absent or null, RM_EDATA
 * with a located message ("FILE:LINE: field 'hash' is not an unsigned
 * 64-bit integer") otherwise.
 */
int rm_json_u64(const struct rm_json_record *rec, const char *key,
		uint64_t *v, struct rm_error *err);

/*
 * rm_json_record_id - the record's id: its own "id" member when that is an
 * unsigned integer, otherwise its 0-based position (rec->index).
 */
uint64_t rm_json_record_id(const struct rm_json_record *rec);

struct rm_jraw_field {
	const char *key;        /* NUL-terminated */
	const char *val;        /* JSON value text to write */
	size_t val_len;
};

/*
 * rm_jraw_splice - append obj[0..len) to out with n fields set: every
 * top-level member whose key equals a field's key gets that field's value
 * text in place of its own; fields the object does not have are added
 * before its closing brace, in order.  All other bytes are copied as they
 * are.  Returns 0, RM_EDATA on malformed text, RM_ENOMEM.
 */
int rm_jraw_splice(struct rm_buf *out, const char *obj, size_t len,
		   const struct rm_jraw_field *f, size_t n);

#endif
