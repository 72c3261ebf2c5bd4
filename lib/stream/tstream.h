/*
 * tstream.h - the tensor stream (.rmt): rmkit's binary record format.
 *
 * A stream is a header (magic, version, JSON metadata, CRC), then records,
 * each a small set of named, typed, shaped tensors with a CRC-32, then an
 * end record carrying the record count.  It is read and written strictly
 * sequentially, so it goes through pipes and through zstd (the reader sits
 * on a struct rm_in, the writer on a struct rm_out).  The byte layout is
 * documented in man/rmt.5; keep the two in step.
 *
 * Every size read from a stream is checked against a limit before anything
 * is allocated for it, and a record's buffer grows only as its bytes
 * actually arrive, so a corrupt length costs at most twice the bytes that
 * are really there.
 *
 * Ownership:
 *  - rm_tsw_open / rm_tsr_open borrow the rm_out / rm_in: it must outlive
 *    the writer / reader, and the caller still commits or closes it.
 *  - rm_tsw_close writes the end record and frees the writer;
 *    rm_tsw_free discards a writer without an end record (so readers will
 *    see the stream as truncated).  Both accept NULL.
 *  - A record returned by rm_tsr_next, its tensors, their names and data
 *    belong to the reader and stay valid until the next rm_tsr_next or
 *    rm_tsr_close.  Tensor data is 8-byte aligned, little-endian.
 *  - Tensors given to rm_tsw_write are only read during the call.
 *
 * Record numbers in messages count from 0, like the `id` of records.
 */
#ifndef RM_TSTREAM_H
#define RM_TSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "stream/io.h"
#include "stream/tensor.h"

#define RM_TS_VERSION 1
/* Largest record body (bytes between the frame header and its CRC). */
#define RM_TS_MAX_RECORD ((uint64_t)1 << 30)
#define RM_TS_MAX_TENSORS 1024
#define RM_TS_MAX_META ((size_t)1 << 20)

/*
 * rm_crc32 - CRC-32 as in zlib, PNG and Ethernet: polynomial 0x04C11DB7
 * processed bit-reflected (0xEDB88320), initial value 0xFFFFFFFF, final
 * XOR 0xFFFFFFFF.  Check value: rm_crc32(0, "123456789", 9) == 0xCBF43926.
 * Start with crc 0 and feed pieces in order: crc = rm_crc32(crc, p, n).
 */
uint32_t rm_crc32(uint32_t crc, const void *p, size_t n);

/* ---- writing ---- */

struct rm_tsw;

/*
 * rm_tsw_open - write the stream header to out.  meta is a JSON object
 * text (e.g. {"tool":"rm-tokenize","eos_id":50256}) or NULL for none; it
 * must parse and be at most RM_TS_MAX_META bytes.
 */
int rm_tsw_open(struct rm_tsw **wp, struct rm_out *out, const char *meta,
		struct rm_error *err);
/*
 * rm_tsw_write - append one record of n tensors (0..RM_TS_MAX_TENSORS).
 * Each tensor needs a unique name of 1..63 bytes without NUL, a dtype the
 * stream can carry (u8 i32 i64 u64 f32 f64), 0..4 dims, and nbytes equal
 * to numel * element size.  A rejected record writes nothing.
 */
int rm_tsw_write(struct rm_tsw *w, const struct rm_tensor *ts, size_t n,
		 struct rm_error *err);
/* Records written so far. */
uint64_t rm_tsw_count(const struct rm_tsw *w);

struct rm_buf;
/*
 * rm_ts_encode - the exact bytes rm_tsw_write would write for this record
 * (frame, body and CRC) into b, which is reset first; for programs that
 * serialise records in several threads and append them in order with
 * rm_tsw_write_encoded.  name and index only label error messages.
 */
int rm_ts_encode(const struct rm_tensor *ts, size_t n, struct rm_buf *b,
		 const char *name, uint64_t index, struct rm_error *err);
/* rm_tsw_write_encoded - append one record that rm_ts_encode made. */
int rm_tsw_write_encoded(struct rm_tsw *w, const void *rec, size_t len,
			 struct rm_error *err);
/* rm_tsw_close - write the end record (not commit out) and free w. */
int rm_tsw_close(struct rm_tsw *w, struct rm_error *err);
void rm_tsw_free(struct rm_tsw *w);

/* ---- reading ---- */

struct rm_record {
	uint64_t index;                 /* 0-based position in the stream */
	const char *source;             /* the stream's name, for messages */
	size_t n;
	const struct rm_tensor *t;      /* n tensors in stored order */
};

struct rm_tsr;

/*
 * rm_tsr_detect - 1 when in starts with the tensor stream magic, 0 when it
 * does not (JSONL, anything else, empty), < 0 on a read error or when the
 * first eight bytes hold five or more of the magic's bytes but not the
 * magic (RM_EDATA, "FILE: damaged tensor stream magic (...)").  Consumes
 * nothing.
 */
int rm_tsr_detect(struct rm_in *in, struct rm_error *err);
/* rm_tsr_open - read and check the header. */
int rm_tsr_open(struct rm_tsr **rp, struct rm_in *in, struct rm_error *err);
/* Lower the record size limit (default RM_TS_MAX_RECORD); for tests. */
void rm_tsr_set_limit(struct rm_tsr *r, uint64_t max_record);
/* The header's metadata: JSON object text, "" when there is none. */
const char *rm_tsr_meta(const struct rm_tsr *r);
uint32_t rm_tsr_version(const struct rm_tsr *r);
/*
 * rm_tsr_next - read the next record into *rec.  Returns 1 for a record,
 * 0 after the end record (its count checked, nothing after it), < 0 on
 * error: bad CRC, truncation anywhere, sizes over the limits, malformed
 * tensor entries.  Messages read "votes.rmt: record 17: crc mismatch ...".
 */
int rm_tsr_next(struct rm_tsr *r, const struct rm_record **rec,
		struct rm_error *err);
/* Records returned so far. */
uint64_t rm_tsr_count(const struct rm_tsr *r);
void rm_tsr_close(struct rm_tsr *r);

/* The tensor named name, or NULL. */
const struct rm_tensor *rm_record_find(const struct rm_record *rec,
				       const char *name);
/*
 * rm_record_get - the tensor named name, checked to have dtype dt and
 * ndim dimensions (ndim < 0: any).  Fails with RM_EDATA and a message such
 * as "pairs.rmt: record 3: tensor 'chosen' is f32 [2], expected i32 with 1
 * dimension" or "...: no tensor 'chosen'".
 */
int rm_record_get(const struct rm_record *rec, const char *name,
		  enum rm_dtype dt, int ndim, const struct rm_tensor **t,
		  struct rm_error *err);
/* Scalar shortcuts: a u64 / i32 / f32 scalar (0-d or [1]) named name. */
int rm_record_u64(const struct rm_record *rec, const char *name,
		  uint64_t *v, struct rm_error *err);
int rm_record_i32(const struct rm_record *rec, const char *name,
		  int32_t *v, struct rm_error *err);
int rm_record_f32(const struct rm_record *rec, const char *name, float *v,
		  struct rm_error *err);

#endif
