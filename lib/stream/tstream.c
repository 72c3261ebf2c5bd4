/*
 * tstream.c - tensor stream (.rmt) reader and writer.  Layout (man/rmt.5):
 *
 *   header  magic "\x89RMT\r\n\x1a\n" | u32 version | u32 meta_len |
 *           meta bytes | u32 crc32(all header bytes before it)
 *   frame   tag[4] | u32 body_len | body | u32 crc32(tag, len, body)
 *           tag "RECD": body = u32 ntensors | u32 0 | entries
 *           tag "DONE": body = u64 record count; the stream ends there
 *   entry   u8 dtype | u8 ndim | u16 name_len | u32 0 | u64 dims[ndim] |
 *           name, zero-padded to 8 | data, zero-padded to 8
 *
 * All integers little-endian; every entry starts 8-aligned in the body, so
 * tensor data handed out from an 8-aligned buffer is aligned for its type.
 */
#include "stream/tstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/buf.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tstream.c hands out little-endian data as native arrays"
#endif

static const unsigned char magic[8] = { 0x89, 'R', 'M', 'T', '\r', '\n',
					0x1a, '\n' };
static const char tag_rec[4] = { 'R', 'E', 'C', 'D' };
static const char tag_end[4] = { 'D', 'O', 'N', 'E' };

/*
 * ---- CRC-32 (reflected 0xEDB88320), slicing by 8 ----
 *
 * crc_table[0] is the classic byte-at-a-time table; crc_table[k][i] is the
 * CRC of byte i followed by k zero bytes, so eight bytes fold in with eight
 * independent lookups (about 8 times the byte loop's speed: the token
 * stream writer checksums every byte it writes).
 */
static uint32_t crc_table[8][256];

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xFF] ^
			    (crc_table[k - 1][i] >> 8);
}

uint32_t
rm_crc32(uint32_t crc, const void *p, size_t n)
{
	static int ready;
	const unsigned char *b = p;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		crc_init();   /* idempotent: racing threads write equal values */
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	crc = ~crc;
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 |
		    (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
		uint32_t hi = (uint32_t)b[4] | (uint32_t)b[5] << 8 |
		    (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
		crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
		    crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
		    crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
		b += 8;
		n -= 8;
	}
	while (n--)
		crc = crc_table[0][(crc ^ *b++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian helpers ---- */

static void
put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

static uint16_t
get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static size_t
pad8(size_t n)
{
	return (8 - n % 8) % 8;
}

/* dtypes a tensor stream carries (f16/bf16 are safetensors storage only) */
static int
stream_dtype(unsigned t)
{
	return t >= RM_DT_U8 && t <= RM_DT_F64;
}

/*
 * The element count of a stream tensor, or -1 when its shape is too large:
 * the dims, with each 0 counted as 1, times the element size must stay
 * within RM_TS_MAX_RECORD.  A zero dimension means no data, but readers
 * that build nested arrays (rm-cat) still walk the other dimensions, so
 * [5, 2^40, 0] is refused rather than printed as 5 * 2^40 empty arrays.
 */
static int
stream_numel(const uint64_t *dims, int ndim, size_t es, uint64_t *numel)
{
	uint64_t ones[RM_TENSOR_MAX_DIMS] = { 0 }, walk;
	int zero = 0;

	for (int d = 0; d < ndim; d++) {
		ones[d] = dims[d] ? dims[d] : 1;
		zero |= dims[d] == 0;
	}
	if (rm_shape_numel(ones, ndim, RM_TS_MAX_RECORD / es, &walk) < 0)
		return -1;
	*numel = zero ? 0 : walk;
	return 0;
}

static void
shape_str(char *b, size_t n, const struct rm_tensor *t)
{
	size_t k = (size_t)snprintf(b, n, "[");

	for (int i = 0; i < t->ndim && k < n; i++)
		k += (size_t)snprintf(b + k, n - k, "%s%llu", i ? ", " : "",
				      (unsigned long long)t->dims[i]);
	if (k < n)
		snprintf(b + k, n - k, "]");
}

/* 1 when s[0..n) is exactly one JSON object (whitespace around is fine). */
static int
json_object(const char *s, size_t n)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
	int ok = cJSON_IsObject(j);

	cJSON_Delete(j);
	if (!ok || end == NULL)
		return 0;
	while (end < s + n && strchr(" \t\r\n", *end) != NULL && *end)
		end++;
	return end == s + n;
}

/* ---- writer ---- */

/*
 * A writer appends to its stream, or (out NULL: rm_ts_encode's) to a memory
 * buffer, with name and count standing in for the stream's in messages.
 */
struct rm_tsw {
	struct rm_out *out;
	uint64_t count;
	uint32_t crc;
	struct rm_buf *mem;
	const char *name;
};

static const char *
tsw_name(const struct rm_tsw *w)
{
	return w->out ? rm_out_name(w->out) : w->name;
}

/* Write and fold into the running CRC. */
static int
w_put(struct rm_tsw *w, const void *p, size_t n, struct rm_error *err)
{
	w->crc = rm_crc32(w->crc, p, n);
	if (w->out == NULL)
		return rm_buf_append(w->mem, p, n) < 0 ?
		    rm_error_set(err, RM_ENOMEM, "%s: out of memory", w->name) : 0;
	return rm_out_write(w->out, p, n, err);
}

static int
w_zeros(struct rm_tsw *w, size_t n, struct rm_error *err)
{
	static const unsigned char z[8];

	return n ? w_put(w, z, n, err) : 0;
}

static int
w_crc(struct rm_tsw *w, struct rm_error *err)
{
	unsigned char b[4];

	put_u32(b, w->crc);
	if (w->out == NULL)
		return rm_buf_append(w->mem, b, 4) < 0 ?
		    rm_error_set(err, RM_ENOMEM, "%s: out of memory", w->name) : 0;
	return rm_out_write(w->out, b, 4, err);
}

int
rm_tsw_open(struct rm_tsw **wp, struct rm_out *out, const char *meta,
	    struct rm_error *err)
{
	struct rm_tsw *w;
	unsigned char h[16];
	size_t mlen = meta ? strlen(meta) : 0;
	int rc;

	*wp = NULL;
	if (mlen > RM_TS_MAX_META)
		return rm_error_set(err, RM_EUSAGE,
				    "%s: metadata is %zu bytes, limit %zu",
				    rm_out_name(out), mlen, RM_TS_MAX_META);
	if (mlen > 0 && !json_object(meta, mlen))
		return rm_error_set(err, RM_EUSAGE,
				    "%s: metadata is not a JSON object",
				    rm_out_name(out));
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	w->out = out;
	memcpy(h, magic, 8);
	put_u32(h + 8, RM_TS_VERSION);
	put_u32(h + 12, (uint32_t)mlen);
	if ((rc = w_put(w, h, 16, err)) < 0 ||
	    (rc = w_put(w, meta, mlen, err)) < 0 ||
	    (rc = w_crc(w, err)) < 0) {
		free(w);
		return rc;
	}
	*wp = w;
	return 0;
}

/* Check one tensor for the stream; returns its entry size or 0 (err set). */
static uint64_t
entry_size(const struct rm_tsw *w, const struct rm_tensor *t, size_t i,
	   struct rm_error *err)
{
	const char *name = tsw_name(w);
	size_t nl = strnlen(t->name, sizeof t->name);
	size_t es = rm_dtype_size(t->dtype);
	uint64_t numel = 1;

	if (nl == 0 || nl > RM_TENSOR_MAX_NAME) {
		rm_error_set(err, RM_EUSAGE, "%s: record %llu: tensor %zu: "
			     "name must be 1 to %d bytes", name,
			     (unsigned long long)w->count, i,
			     RM_TENSOR_MAX_NAME);
		return 0;
	}
	if (!stream_dtype(t->dtype)) {
		rm_error_set(err, RM_EUSAGE, "%s: record %llu: tensor '%s': "
			     "dtype %d cannot go in a tensor stream", name,
			     (unsigned long long)w->count, t->name,
			     (int)t->dtype);
		return 0;
	}
	if (t->ndim < 0 || t->ndim > RM_TENSOR_MAX_DIMS) {
		rm_error_set(err, RM_EUSAGE, "%s: record %llu: tensor '%s': "
			     "%d dimensions", name,
			     (unsigned long long)w->count, t->name, t->ndim);
		return 0;
	}
	if (stream_numel(t->dims, t->ndim, es, &numel) < 0) {
		rm_error_set(err, RM_EUSAGE, "%s: record %llu: tensor '%s': "
			     "shape too large", name,
			     (unsigned long long)w->count, t->name);
		return 0;
	}
	if (numel * es != t->nbytes ||
	    (t->nbytes > 0 && t->data == NULL)) {
		rm_error_set(err, RM_EUSAGE, "%s: record %llu: tensor '%s': "
			     "%zu data bytes do not match the shape", name,
			     (unsigned long long)w->count, t->name, t->nbytes);
		return 0;
	}
	return 8 + 8 * (uint64_t)t->ndim + nl + pad8(nl) + t->nbytes +
	       pad8(t->nbytes);
}

static int
write_record(struct rm_tsw *w, const struct rm_tensor *ts, size_t n,
	     struct rm_error *err)
{
	unsigned char b[8 + 8 * RM_TENSOR_MAX_DIMS];
	uint64_t body = 8, es;
	int rc;

	if (n > RM_TS_MAX_TENSORS)
		return rm_error_set(err, RM_EUSAGE, "%s: record %llu: %zu "
				    "tensors, limit %d", tsw_name(w),
				    (unsigned long long)w->count, n,
				    RM_TS_MAX_TENSORS);
	for (size_t i = 0; i < n; i++) {
		if ((es = entry_size(w, &ts[i], i, err)) == 0)
			return RM_EUSAGE;
		body += es;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ts[i].name, ts[j].name) == 0)
				return rm_error_set(err, RM_EUSAGE,
						    "%s: record %llu: tensor "
						    "'%s' appears twice",
						    tsw_name(w),
						    (unsigned long long)w->count,
						    ts[i].name);
	}
	if (body > RM_TS_MAX_RECORD)
		return rm_error_set(err, RM_EUSAGE, "%s: record %llu: %llu "
				    "bytes, limit %llu", tsw_name(w),
				    (unsigned long long)w->count,
				    (unsigned long long)body,
				    (unsigned long long)RM_TS_MAX_RECORD);
	w->crc = 0;
	memcpy(b, tag_rec, 4);
	put_u32(b + 4, (uint32_t)body);
	if ((rc = w_put(w, b, 8, err)) < 0)
		return rc;
	put_u32(b, (uint32_t)n);
	put_u32(b + 4, 0);
	if ((rc = w_put(w, b, 8, err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct rm_tensor *t = &ts[i];
		size_t nl = strlen(t->name);

		memset(b, 0, sizeof b);
		b[0] = (unsigned char)t->dtype;
		b[1] = (unsigned char)t->ndim;
		put_u16(b + 2, (uint16_t)nl);
		for (int d = 0; d < t->ndim; d++)
			put_u64(b + 8 + 8 * d, t->dims[d]);
		if ((rc = w_put(w, b, 8 + 8 * (size_t)t->ndim, err)) < 0 ||
		    (rc = w_put(w, t->name, nl, err)) < 0 ||
		    (rc = w_zeros(w, pad8(nl), err)) < 0 ||
		    (rc = w_put(w, t->data, t->nbytes, err)) < 0 ||
		    (rc = w_zeros(w, pad8(t->nbytes), err)) < 0)
			return rc;
	}
	return w_crc(w, err);
}

int
rm_tsw_write(struct rm_tsw *w, const struct rm_tensor *ts, size_t n,
	     struct rm_error *err)
{
	int rc = write_record(w, ts, n, err);

	if (rc < 0)
		return rc;
	w->count++;
	return 0;
}

int
rm_ts_encode(const struct rm_tensor *ts, size_t n, struct rm_buf *b,
	     const char *name, uint64_t index, struct rm_error *err)
{
	struct rm_tsw w = { .count = index, .mem = b, .name = name };

	rm_buf_reset(b);
	return write_record(&w, ts, n, err);
}

int
rm_tsw_write_encoded(struct rm_tsw *w, const void *rec, size_t len,
		     struct rm_error *err)
{
	int rc;

	if (len < 12 || memcmp(rec, tag_rec, 4) != 0)
		return rm_error_set(err, RM_EUSAGE, "%s: record %llu: not an "
				    "encoded record", tsw_name(w),
				    (unsigned long long)w->count);
	if ((rc = rm_out_write(w->out, rec, len, err)) < 0)
		return rc;
	w->count++;
	return 0;
}

uint64_t
rm_tsw_count(const struct rm_tsw *w)
{
	return w->count;
}

int
rm_tsw_close(struct rm_tsw *w, struct rm_error *err)
{
	unsigned char b[16];
	int rc;

	if (w == NULL)
		return 0;
	w->crc = 0;
	memcpy(b, tag_end, 4);
	put_u32(b + 4, 8);
	put_u64(b + 8, w->count);
	rc = w_put(w, b, 16, err);
	if (rc == 0)
		rc = w_crc(w, err);
	free(w);
	return rc;
}

void
rm_tsw_free(struct rm_tsw *w)
{
	free(w);
}

/* ---- reader ---- */

struct rm_tsr {
	struct rm_in *in;
	uint32_t version;
	char *meta;
	uint64_t max_record;
	uint64_t count;
	int done;
	unsigned char *body;
	size_t cap;
	struct rm_tensor *t;
	size_t tcap;
	struct rm_record rec;
};

int
rm_tsr_detect(struct rm_in *in, struct rm_error *err)
{
	const unsigned char *p;
	ssize_t n = rm_in_peek(in, &p, 4, err);

	if (n < 0)
		return (int)n;
	if (n == 4 && memcmp(p, magic, 4) == 0)
		return 1;
	/* Five or more of the magic's eight bytes in place: a tensor stream
	 * whose first bytes were damaged, not text (a JSON record starts
	 * with '{' or '[' and shares none of them). */
	n = rm_in_peek(in, &p, 8, err);
	if (n < 0)
		return (int)n;
	if (n == 8) {
		int same = 0;
		for (int i = 0; i < 8; i++)
			same += p[i] == magic[i];
		if (same >= 5)
			return rm_error_set(err, RM_EDATA, "%s: damaged tensor "
			    "stream magic (%02x %02x %02x %02x %02x %02x %02x %02x, "
			    "not 89 52 4d 54 0d 0a 1a 0a)", rm_in_name(in), p[0],
			    p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
	}
	return 0;
}

/*
 * Read exactly n bytes into r->body[at..at+n), growing the buffer as the
 * bytes arrive (never ahead of them by more than a factor of two).
 * Returns 0, 1 when the input ended first (*got bytes read), < 0 on error.
 */
static int
r_fill_n(struct rm_tsr *r, size_t at, size_t n, size_t *gotp,
	 struct rm_error *err)
{
	size_t have = 0, k;
	ssize_t got;

	*gotp = 0;

	while (have < n) {
		if (r->cap == at + have) {
			size_t c = r->cap < 65536 ? 65536 : r->cap * 2;
			unsigned char *p;
			if (c > at + n)
				c = at + n;
			p = realloc(r->body, c);
			if (p == NULL)
				return rm_error_set(err, RM_ENOMEM,
						    "%s: out of memory",
						    rm_in_name(r->in));
			r->body = p;
			r->cap = c;
		}
		k = r->cap - at - have;
		if (k > n - have)
			k = n - have;
		got = rm_in_read(r->in, r->body + at + have, k, err);
		if (got < 0)
			return (int)got;
		have += (size_t)got;
		*gotp = have;
		if ((size_t)got < k)
			return 1;
	}
	return 0;
}

static int
r_fill(struct rm_tsr *r, size_t at, size_t n, struct rm_error *err)
{
	size_t got;

	return r_fill_n(r, at, n, &got, err);
}

int
rm_tsr_open(struct rm_tsr **rp, struct rm_in *in, struct rm_error *err)
{
	const char *name = rm_in_name(in);
	struct rm_tsr *r;
	uint32_t mlen, crc;
	int rc;

	*rp = NULL;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	r->in = in;
	r->max_record = RM_TS_MAX_RECORD;
	rc = r_fill(r, 0, 16, err);
	if (rc == 0 && memcmp(r->body, magic, 8) != 0)
		rc = 2;
	if (rc > 0) {
		rc = rm_error_set(err, RM_EDATA, "%s: not a tensor stream "
				  "(bad magic)", name);
		goto fail;
	}
	if (rc < 0)
		goto fail;
	r->version = get_u32(r->body + 8);
	mlen = get_u32(r->body + 12);
	if (r->version != RM_TS_VERSION) {
		rc = rm_error_set(err, RM_EDATA, "%s: tensor stream version "
				  "%u, this reader knows %d", name, r->version,
				  RM_TS_VERSION);
		goto fail;
	}
	if (mlen > RM_TS_MAX_META) {
		rc = rm_error_set(err, RM_EDATA, "%s: header: metadata of %u "
				  "bytes exceeds the limit of %zu", name, mlen,
				  RM_TS_MAX_META);
		goto fail;
	}
	rc = r_fill(r, 16, (size_t)mlen + 4, err);
	if (rc > 0) {
		rc = rm_error_set(err, RM_EDATA, "%s: header: truncated", name);
		goto fail;
	}
	if (rc < 0)
		goto fail;
	crc = rm_crc32(0, r->body, 16 + (size_t)mlen);
	if (crc != get_u32(r->body + 16 + mlen)) {
		rc = rm_error_set(err, RM_EDATA, "%s: header: crc mismatch",
				  name);
		goto fail;
	}
	r->meta = malloc((size_t)mlen + 1);
	if (r->meta == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(r->meta, r->body + 16, mlen);
	r->meta[mlen] = '\0';
	if (mlen > 0 && (memchr(r->meta, '\0', mlen) != NULL ||
			 !json_object(r->meta, mlen))) {
		rc = rm_error_set(err, RM_EDATA, "%s: header: metadata is not "
				  "a JSON object", name);
		goto fail;
	}
	r->rec.source = name;
	*rp = r;
	return 0;
fail:
	rm_tsr_close(r);
	return rc;
}

void
rm_tsr_set_limit(struct rm_tsr *r, uint64_t max_record)
{
	r->max_record = max_record && max_record < RM_TS_MAX_RECORD
			? max_record : RM_TS_MAX_RECORD;
}

const char *
rm_tsr_meta(const struct rm_tsr *r)
{
	return r->meta;
}

uint32_t
rm_tsr_version(const struct rm_tsr *r)
{
	return r->version;
}

uint64_t
rm_tsr_count(const struct rm_tsr *r)
{
	return r->count;
}

void
rm_tsr_close(struct rm_tsr *r)
{
	if (r == NULL)
		return;
	free(r->meta);
	free(r->body);
	free(r->t);
	free(r);
}

static int
all_zero(const unsigned char *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

/* Parse the RECD body in r->body[8..8+len) into r->t. */
static int
parse_record(struct rm_tsr *r, size_t len, struct rm_error *err)
{
	const char *name = rm_in_name(r->in);
	unsigned long long idx = (unsigned long long)r->count;
	const unsigned char *b = r->body + 8;
	size_t off = 8, n;

#define BAD(...) rm_error_set(err, RM_EDATA, "%s: record %llu: " \
			      __VA_ARGS__)
	if (len < 8)
		return BAD("body of %zu bytes is too short", name, idx, len);
	n = get_u32(b);
	if (n > RM_TS_MAX_TENSORS || n > (len - 8) / 8)
		return BAD("%zu tensors declared", name, idx, n);
	if (get_u32(b + 4) != 0)
		return BAD("reserved field is not zero", name, idx);
	if (n > r->tcap) {
		size_t c = r->tcap ? r->tcap : 8;
		while (c < n)
			c *= 2;
		struct rm_tensor *p = realloc(r->t, c * sizeof *p);
		if (p == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		r->t = p;
		r->tcap = c;
	}
	for (size_t i = 0; i < n; i++) {
		struct rm_tensor *t = &r->t[i];
		size_t nl, es, need;
		uint64_t numel = 1;

		if (len - off < 8)
			return BAD("tensor %zu: entry runs past the record",
				   name, idx, i);
		t->dtype = b[off];
		t->ndim = b[off + 1];
		nl = get_u16(b + off + 2);
		if (!stream_dtype(t->dtype))
			return BAD("tensor %zu: unknown dtype %u", name, idx,
				   i, (unsigned)t->dtype);
		if (t->ndim > RM_TENSOR_MAX_DIMS)
			return BAD("tensor %zu: %d dimensions", name, idx, i,
				   t->ndim);
		if (nl == 0 || nl > RM_TENSOR_MAX_NAME)
			return BAD("tensor %zu: name of %zu bytes", name, idx,
				   i, nl);
		if (get_u32(b + off + 4) != 0)
			return BAD("tensor %zu: reserved field is not zero",
				   name, idx, i);
		off += 8;
		need = 8 * (size_t)t->ndim + nl + pad8(nl);
		if (len - off < need)
			return BAD("tensor %zu: entry runs past the record",
				   name, idx, i);
		es = rm_dtype_size(t->dtype);
		for (int d = 0; d < RM_TENSOR_MAX_DIMS; d++)
			t->dims[d] = d < t->ndim ? get_u64(b + off + 8 * d) : 0;
		if (stream_numel(t->dims, t->ndim, es, &numel) < 0)
			return BAD("tensor %zu: shape too large", name, idx,
				   i);
		off += 8 * (size_t)t->ndim;
		memcpy(t->name, b + off, nl);
		t->name[nl] = '\0';
		if (memchr(t->name, '\0', nl) != NULL ||
		    !all_zero(b + off + nl, pad8(nl)))
			return BAD("tensor %zu: bad name", name, idx, i);
		off += nl + pad8(nl);
		t->nbytes = (size_t)numel * es;
		if (len - off < t->nbytes + pad8(t->nbytes))
			return BAD("tensor '%s': data runs past the record",
				   name, idx, t->name);
		t->data = b + off;
		off += t->nbytes;
		if (!all_zero(b + off, pad8(t->nbytes)))
			return BAD("tensor '%s': padding is not zero", name,
				   idx, t->name);
		off += pad8(t->nbytes);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->t[j].name, t->name) == 0)
				return BAD("tensor '%s' appears twice", name,
					   idx, t->name);
	}
	if (off != len)
		return BAD("%zu bytes after the last tensor", name, idx,
			   len - off);
#undef BAD
	r->rec.index = r->count;
	r->rec.n = n;
	r->rec.t = r->t;
	return 0;
}

int
rm_tsr_next(struct rm_tsr *r, const struct rm_record **rec,
	    struct rm_error *err)
{
	const char *name = rm_in_name(r->in);
	unsigned long long idx = (unsigned long long)r->count;
	const unsigned char *p;
	uint32_t len, crc;
	size_t got;
	int rc, is_end;

	*rec = NULL;
	if (r->done)
		return 0;
	rc = r_fill_n(r, 0, 8, &got, err);
	if (rc < 0)
		return rc;
	if (rc > 0 && got == 0)
		return rm_error_set(err, RM_EDATA, "%s: truncated: no end "
				    "record after %llu records", name, idx);
	if (rc > 0)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: truncated",
				    name, idx);
	is_end = memcmp(r->body, tag_end, 4) == 0;
	if (!is_end && memcmp(r->body, tag_rec, 4) != 0)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: unknown "
				    "frame tag %02x %02x %02x %02x", name, idx,
				    r->body[0], r->body[1], r->body[2],
				    r->body[3]);
	len = get_u32(r->body + 4);
	if (is_end && len != 8)
		return rm_error_set(err, RM_EDATA, "%s: end record: size %u, "
				    "expected 8", name, len);
	if (len > r->max_record)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: size %u "
				    "exceeds the limit of %llu bytes", name,
				    idx, len,
				    (unsigned long long)r->max_record);
	rc = r_fill(r, 8, (size_t)len + 4, err);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: truncated",
				    name, idx);
	crc = rm_crc32(0, r->body, 8 + (size_t)len);
	if (crc != get_u32(r->body + 8 + len))
		return rm_error_set(err, RM_EDATA, "%s: record %llu: crc "
				    "mismatch", name, idx);
	if (is_end) {
		uint64_t n = get_u64(r->body + 8);
		ssize_t more;
		if (n != r->count)
			return rm_error_set(err, RM_EDATA, "%s: end record "
					    "counts %llu records, read %llu",
					    name, (unsigned long long)n, idx);
		more = rm_in_peek(r->in, &p, 1, err);
		if (more < 0)
			return (int)more;
		if (more > 0)
			return rm_error_set(err, RM_EDATA, "%s: data after "
					    "the end record", name);
		r->done = 1;
		return 0;
	}
	rc = parse_record(r, len, err);
	if (rc < 0)
		return rc;
	r->count++;
	*rec = &r->rec;
	return 1;
}

/* ---- record access ---- */

const struct rm_tensor *
rm_record_find(const struct rm_record *rec, const char *name)
{
	for (size_t i = 0; i < rec->n; i++)
		if (strcmp(rec->t[i].name, name) == 0)
			return &rec->t[i];
	return NULL;
}

int
rm_record_get(const struct rm_record *rec, const char *name,
	      enum rm_dtype dt, int ndim, const struct rm_tensor **tp,
	      struct rm_error *err)
{
	const struct rm_tensor *t = rm_record_find(rec, name);
	char shape[128];

	*tp = NULL;
	if (t == NULL)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: no "
				    "tensor '%s'", rec->source,
				    (unsigned long long)rec->index, name);
	if (t->dtype != dt || (ndim >= 0 && t->ndim != ndim)) {
		shape_str(shape, sizeof shape, t);
		if (ndim >= 0)
			return rm_error_set(err, RM_EDATA, "%s: record %llu: "
					    "tensor '%s' is %s %s, expected %s "
					    "with %d dimension%s", rec->source,
					    (unsigned long long)rec->index,
					    name, rm_dtype_name(t->dtype),
					    shape, rm_dtype_name(dt), ndim,
					    ndim == 1 ? "" : "s");
		return rm_error_set(err, RM_EDATA, "%s: record %llu: tensor "
				    "'%s' is %s %s, expected %s", rec->source,
				    (unsigned long long)rec->index, name,
				    rm_dtype_name(t->dtype), shape,
				    rm_dtype_name(dt));
	}
	*tp = t;
	return 0;
}

static int
record_scalar(const struct rm_record *rec, const char *name,
	      enum rm_dtype dt, void *v, struct rm_error *err)
{
	const struct rm_tensor *t;
	int rc = rm_record_get(rec, name, dt, -1, &t, err);

	if (rc < 0)
		return rc;
	if (rm_tensor_numel(t) != 1 || t->ndim > 1)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: tensor "
				    "'%s' is not a scalar", rec->source,
				    (unsigned long long)rec->index, name);
	memcpy(v, t->data, rm_dtype_size(dt));
	return 0;
}

int
rm_record_u64(const struct rm_record *rec, const char *name, uint64_t *v,
	      struct rm_error *err)
{
	return record_scalar(rec, name, RM_DT_U64, v, err);
}

int
rm_record_i32(const struct rm_record *rec, const char *name, int32_t *v,
	      struct rm_error *err)
{
	return record_scalar(rec, name, RM_DT_I32, v, err);
}

int
rm_record_f32(const struct rm_record *rec, const char *name, float *v,
	      struct rm_error *err)
{
	return record_scalar(rec, name, RM_DT_F32, v, err);
}
