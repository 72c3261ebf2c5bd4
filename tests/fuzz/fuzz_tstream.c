/*
 * fuzz_tstream.c - the tensor stream reader (tstream.h) over plain and
 * zstd input, and the token-stream loader on top of it (pairs.h, what
 * rm-train, rm-vote and rm-metastep read).
 *
 * Input: byte 0 is the mode; the rest is the stream.  Bit 0: compress the
 * rest with zstd first, so the mutations reach the reader through the
 * decompressor.  Bit 1: read with rm_pairs_read instead of record by
 * record.  Every tensor handed out must be consistent (nbytes matches its
 * shape, data 8-byte aligned), and a header's vocab_size and eos_id are
 * accepted only inside their bounds.
 */
#include <stdint.h>

#include <zstd.h>

#include "fuzz.h"
#include "train/pairs.h"
#include "stream/tstream.h"

static void
tstream_records(struct rm_tsr *r)
{
	struct rm_error err = {0};
	const struct rm_record *rec;
	int rc;
	while ((rc = rm_tsr_next(r, &rec, &err)) == 1) {
		for (size_t i = 0; i < rec->n; i++) {
			const struct rm_tensor *t = &rec->t[i];
			if (t->ndim < 0 || t->ndim > RM_TENSOR_MAX_DIMS ||
			    rm_tensor_numel(t) * rm_dtype_size(t->dtype) != t->nbytes ||
			    (t->nbytes && ((uintptr_t)t->data & 7)) ||
			    strlen(t->name) < 1)
				abort();
			/* touch every byte, so ASan sees a short buffer */
			volatile uint8_t x = 0;
			for (size_t b = 0; b < t->nbytes; b++)
				x ^= ((const uint8_t *)t->data)[b];
			(void)x;
		}
		uint64_t u;
		int32_t i32;
		float f;
		const struct rm_tensor *t;
		fuzz_check_err(rm_record_u64(rec, "id", &u, &err), &err, "u64");
		fuzz_check_err(rm_record_i32(rec, "prompt_len", &i32, &err), &err, "i32");
		fuzz_check_err(rm_record_f32(rec, "chosen", &f, &err), &err, "f32");
		fuzz_check_err(rm_record_get(rec, "tokens", RM_DT_I32, 1, &t, &err),
			       &err, "get");
	}
	fuzz_check_err(rc, &err, "rm_tsr_next");
}

static void
tstream_pairs(struct rm_tsr *r)
{
	struct rm_error err = {0};
	struct rm_pairs_options o = {0};
	o.max_len = 4096;
	o.max_records = 1 << 16;
	o.max_tokens = 1 << 22;
	struct rm_pairs *p;
	int rc = rm_pairs_new(&p, &o, &err);
	fuzz_check_err(rc, &err, "rm_pairs_new");
	if (rc < 0)
		return;
	rc = rm_pairs_set_meta(p, rm_tsr_meta(r), &err);
	fuzz_check_err(rc, &err, "rm_pairs_set_meta");
	/* declared sizes accepted only inside their bounds */
	if (rc >= 0 && (p->vocab_size == 0 || p->vocab_size < -1 ||
	    p->vocab_size > RM_PAIRS_MAX_VOCAB || p->eos_id < -1 ||
	    (p->vocab_size > 0 && p->eos_id >= p->vocab_size)))
		abort();
	while (rc >= 0 && (rc = rm_pairs_read(p, r, 64, 0, &err)) == 1)
		;
	fuzz_check_err(rc, &err, "rm_pairs_read");
	if (rc == 0) {
		for (size_t i = 0; i < p->n; i++) {
			const struct rm_pairs_rec *q = &p->rec[i];
			if (q->seq + q->n_seq > p->n_seqs)
				abort();
			for (uint32_t j = 0; j < q->n_seq; j++)
				if (p->seq_off[q->seq + j] > p->seq_off[q->seq + j + 1] ||
				    p->seq_off[q->seq + j + 1] > p->n_tokens)
					abort();
		}
		rc = rm_pairs_check_vocab(p, 300, "fuzz", &err);
		fuzz_check_err(rc, &err, "rm_pairs_check_vocab");
		(void)rm_pairs_fingerprint(p);
	}
	rm_pairs_free(p);
}

static int
fuzz_tstream(const uint8_t *data, size_t n)
{
	if (n < 1)
		return 0;
	int mode = data[0];
	data++, n--;
	void *z = NULL;
	if (mode & 1) {
		size_t cap = ZSTD_compressBound(n);
		z = malloc(cap);
		size_t zn = ZSTD_compress(z, cap, data, n, 1);
		if (ZSTD_isError(zn))
			abort();
		data = z, n = zn;
	}
	struct rm_in *in = fuzz_memin(data, n, "fuzz.rmt");
	if (in) {
		struct rm_error err = {0};
		struct rm_tsr *r;
		int rc = rm_tsr_detect(in, &err);
		fuzz_check_err(rc, &err, "rm_tsr_detect");
		rc = rm_tsr_open(&r, in, &err);
		fuzz_check_err(rc, &err, "rm_tsr_open");
		if (rc >= 0) {
			if (mode & 2)
				tstream_pairs(r);
			else
				tstream_records(r);
			rm_tsr_close(r);
		}
		rm_in_close(in);
	}
	free(z);
	return 0;
}

FUZZ_ENTRY(fuzz_tstream)
