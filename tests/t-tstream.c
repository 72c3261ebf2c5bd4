/*
 * t-tstream.c - tensor stream: CRC check value, round trips (plain, zstd),
 * truncation at every byte is an error, every flipped bit is an error,
 * absurd declared sizes are rejected without a big allocation, writer
 * validation, detection by content.
 */
#include "check.h"
#include "testfs.h"
#include "base/buf.h"
#include "stream/tstream.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define NREC 5
static const char meta[] = "{\"tool\":\"t-tstream\",\"eos_id\":50256}";

/* Record k of the test stream: a mix of dtypes, ranks and sizes. */
struct rec {
	uint64_t id, hash;
	int32_t chosen[40], rejected[3];
	size_t nchosen;
	float margin;
	double grid[2][3];
	uint8_t bytes[5];
	int64_t offsets[3];
	struct rm_tensor t[8];
};

static void
make_rec(struct rec *r, int k)
{
	memset(r, 0, sizeof *r);
	r->id = (uint64_t)k;
	r->hash = 0xF00DFACECAFEBEEFull ^ (uint64_t)k * 0x9E3779B97F4A7C15ull;
	r->nchosen = (size_t)(k * 9) % 41;  /* 0, 9, 18, ... */
	for (size_t i = 0; i < r->nchosen; i++)
		r->chosen[i] = (int32_t)(i * 1000 + (size_t)k) - 7;
	for (int i = 0; i < 3; i++)
		r->rejected[i] = -k - i;
	r->margin = 0.1f * (float)k - 0.25f;
	for (int i = 0; i < 6; i++)
		r->grid[i / 3][i % 3] = 1.0 / (k + i + 1);
	for (int i = 0; i < 5; i++)
		r->bytes[i] = (uint8_t)(250 + i + k);
	r->offsets[0] = 0;
	r->offsets[1] = k;
	r->offsets[2] = (int64_t)1 << 40;
	rm_tensor_scalar(&r->t[0], "id", RM_DT_U64, &r->id);
	rm_tensor_scalar(&r->t[1], "hash", RM_DT_U64, &r->hash);
	rm_tensor_vector(&r->t[2], "chosen", RM_DT_I32, r->chosen, r->nchosen);
	rm_tensor_vector(&r->t[3], "rejected", RM_DT_I32, r->rejected, 3);
	rm_tensor_scalar(&r->t[4], "margin", RM_DT_F32, &r->margin);
	rm_tensor_vector(&r->t[5], "grid", RM_DT_F64, r->grid, 6);
	r->t[5].ndim = 2;
	r->t[5].dims[0] = 2;
	r->t[5].dims[1] = 3;
	rm_tensor_vector(&r->t[6], "bytes", RM_DT_U8, r->bytes, 5);
	rm_tensor_vector(&r->t[7], "offsets", RM_DT_I64, r->offsets, 3);
}

static void
write_stream(const char *path, int nrec, int finish)
{
	struct rm_error err = { 0 };
	struct rm_out *out;
	struct rm_tsw *w;
	struct rec r;

	CHECK(rm_out_open(&out, path, RM_OUT_BINARY, 0, &err) == 0, "%s", err.msg);
	CHECK(rm_tsw_open(&w, out, meta, &err) == 0, "%s", err.msg);
	for (int k = 0; k < nrec; k++) {
		make_rec(&r, k);
		CHECK(rm_tsw_write(w, r.t, 8, &err) == 0, "write %d: %s", k, err.msg);
	}
	CHECK(rm_tsw_count(w) == (uint64_t)nrec, "count");
	if (finish)
		CHECK(rm_tsw_close(w, &err) == 0, "%s", err.msg);
	else
		rm_tsw_free(w);
	CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
}

/* Read a whole stream; returns records read, or the error code. */
static int
read_all(const char *path, int verify, struct rm_error *err)
{
	struct rm_in *in;
	struct rm_tsr *r;
	const struct rm_record *rec;
	int rc, n = 0;

	if ((rc = rm_in_open(&in, path, err)) < 0)
		return rc;
	if ((rc = rm_tsr_open(&r, in, err)) < 0) {
		rm_in_close(in);
		return rc;
	}
	while ((rc = rm_tsr_next(r, &rec, err)) == 1) {
		if (verify) {
			struct rec want;
			make_rec(&want, n);
			CHECK(rec->index == (uint64_t)n, "index");
			CHECK(rec->n == 8, "record %d has %zu tensors", n, rec->n);
			for (size_t i = 0; i < rec->n && i < 8; i++) {
				const struct rm_tensor *a = &rec->t[i], *b = &want.t[i];
				CHECK(strcmp(a->name, b->name) == 0 &&
				      a->dtype == b->dtype && a->ndim == b->ndim &&
				      a->nbytes == b->nbytes &&
				      memcmp(a->dims, b->dims, sizeof a->dims) == 0 &&
				      memcmp(a->data, b->data, a->nbytes) == 0,
				      "record %d tensor %zu (%s) differs", n, i,
				      b->name);
				CHECK((uintptr_t)a->data % 8 == 0, "alignment");
			}
			uint64_t id = 99;
			float m = 0;
			CHECK(rm_record_u64(rec, "id", &id, err) == 0 &&
			      id == (uint64_t)n, "id");
			CHECK(rm_record_f32(rec, "margin", &m, err) == 0 &&
			      m == want.margin, "margin");
			const struct rm_tensor *t;
			CHECK(rm_record_get(rec, "chosen", RM_DT_I32, 1, &t, err) == 0 &&
			      t->dims[0] == want.nchosen, "get chosen");
			CHECK(rm_record_get(rec, "chosen", RM_DT_F32, 1, &t, err) ==
			      RM_EDATA && t == NULL &&
			      strstr(err->msg, "tensor 'chosen' is i32") != NULL,
			      "wrong type: %s", err->msg);
			CHECK(rm_record_get(rec, "nope", RM_DT_F32, 0, &t, err) ==
			      RM_EDATA && strstr(err->msg, ": record ") &&
			      strstr(err->msg, "no tensor 'nope'"), "%s", err->msg);
			CHECK(rm_record_i32(rec, "rejected", (int32_t *)&m, err) ==
			      RM_EDATA, "vector is not a scalar");
			CHECK(rm_record_find(rec, "grid") == &rec->t[5], "find");
		}
		n++;
	}
	if (rc == 0 && verify)
		CHECK(strcmp(rm_tsr_meta(r), meta) == 0 &&
		      rm_tsr_version(r) == RM_TS_VERSION &&
		      rm_tsr_count(r) == (uint64_t)n, "meta/version/count");
	/* After the end, next keeps returning 0. */
	if (rc == 0)
		CHECK(rm_tsr_next(r, &rec, err) == 0 && rec == NULL, "after end");
	rm_tsr_close(r);
	rm_in_close(in);
	return rc < 0 ? rc : n;
}

static void
test_crc(void)
{
	uint32_t c = rm_crc32(0, "123456789", 9);

	CHECK(c == 0xCBF43926u, "check value %08x", c);
	c = rm_crc32(rm_crc32(0, "1234", 4), "56789", 5);
	CHECK(c == 0xCBF43926u, "incremental %08x", c);
	CHECK(rm_crc32(0, "", 0) == 0, "empty");
}

static void
test_round_trip(void)
{
	struct rm_error err = { 0 };
	int n;

	write_stream(tpath("a.rmt"), NREC, 1);
	n = read_all(tpath("a.rmt"), 1, &err);
	CHECK(n == NREC, "plain: %d: %s", n, err.msg);
	write_stream(tpath("a.rmt.zst"), NREC, 1);
	n = read_all(tpath("a.rmt.zst"), 1, &err);
	CHECK(n == NREC, "zstd: %d: %s", n, err.msg);
	write_stream(tpath("empty.rmt"), 0, 1);
	n = read_all(tpath("empty.rmt"), 1, &err);
	CHECK(n == 0, "empty stream: %d: %s", n, err.msg);

	/* No end record: truncated, and the message says so. */
	write_stream(tpath("noend.rmt"), 2, 0);
	n = read_all(tpath("noend.rmt"), 0, &err);
	CHECK(n == RM_EDATA && strstr(err.msg, "noend.rmt: truncated: no end "
				      "record after 2 records"), "%s", err.msg);

	/* Detection by content. */
	const char *files[] = { "a.rmt", "a.rmt.zst", "j.jsonl", "nothing" };
	put_file(tpath("j.jsonl"), "{\"a\":1}\n", 8);
	put_file(tpath("nothing"), "", 0);
	for (int i = 0; i < 4; i++) {
		struct rm_in *in;
		const unsigned char *p;
		CHECK(rm_in_open(&in, tpath(files[i]), &err) == 0, "%s", err.msg);
		CHECK(rm_tsr_detect(in, &err) == (i < 2), "detect %s", files[i]);
		/* Detection consumed nothing. */
		if (i == 2)
			CHECK(rm_in_peek(in, &p, 1, &err) == 1 && *p == '{', "peek");
		rm_in_close(in);
	}
}

static void
test_truncation(void)
{
	struct rm_error err = { 0 };
	size_t n;
	unsigned char *b;

	write_stream(tpath("t.rmt"), 3, 1);
	b = get_file(tpath("t.rmt"), &n);
	for (size_t cut = 0; cut < n; cut++) {
		put_file(tpath("cut.rmt"), b, cut);
		int rc = read_all(tpath("cut.rmt"), 0, &err);
		CHECK(rc == RM_EDATA, "cut at %zu of %zu: rc %d", cut, n, rc);
		CHECK(strstr(err.msg, "cut.rmt: ") != NULL, "message names "
		      "the file: %s", err.msg);
	}
	/* Data after the end record. */
	b = realloc(b, n + 1);
	b[n] = '\n';
	put_file(tpath("tail.rmt"), b, n + 1);
	CHECK(read_all(tpath("tail.rmt"), 0, &err) == RM_EDATA &&
	      strstr(err.msg, "data after the end record"), "%s", err.msg);
	free(b);
}

static void
test_flips(void)
{
	struct rm_error err = { 0 };
	size_t n, hits = 0;
	unsigned char *b;

	write_stream(tpath("f.rmt"), 2, 1);
	b = get_file(tpath("f.rmt"), &n);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b[i] ^= (unsigned char)(1 << bit);
			put_file(tpath("flip.rmt"), b, n);
			int rc = read_all(tpath("flip.rmt"), 0, &err);
			b[i] ^= (unsigned char)(1 << bit);
			CHECK(rc < 0, "flip byte %zu bit %d not detected", i, bit);
			if (strstr(err.msg, "crc mismatch"))
				hits++;
		}
	}
	CHECK(hits > n, "crc mismatch reported for %zu of %zu flips", hits, 3 * n);
	/* A flip in record 1's data: the message names file and record. */
	b[n - 20 - 30] ^= 1;
	put_file(tpath("flip.rmt"), b, n);
	CHECK(read_all(tpath("flip.rmt"), 0, &err) == RM_EDATA &&
	      strstr(err.msg, "flip.rmt: record 1: crc mismatch"), "%s", err.msg);
	free(b);
}

/* A hand-made stream: header, then the given frame bodies. */
struct hand {
	unsigned char b[4096];
	size_t n;
};

static void
le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

static void
le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

static void
hand_header(struct hand *h)
{
	memcpy(h->b, "\x89RMT\r\n\x1a\n", 8);
	le32(h->b + 8, 1);
	le32(h->b + 12, 0);
	le32(h->b + 16, rm_crc32(0, h->b, 16));
	h->n = 20;
}

/* A frame with a correct CRC, or with declared length len_override. */
static void
hand_frame(struct hand *h, const char *tag, const void *body, size_t n,
	   uint64_t len_override)
{
	unsigned char *f = h->b + h->n;

	memcpy(f, tag, 4);
	le32(f + 4, len_override ? (uint32_t)len_override : (uint32_t)n);
	memcpy(f + 8, body, n);
	le32(f + 8 + n, rm_crc32(0, f, 8 + n));
	h->n += 12 + n;
}

static void
hand_end(struct hand *h, uint64_t count)
{
	unsigned char c[8];

	le64(c, count);
	hand_frame(h, "DONE", c, 8, 0);
}

/* A record with one entry: dtype, ndim, dims, name "x", data bytes. */
static size_t
hand_body(unsigned char *b, unsigned ntensors, int dtype, int ndim,
	  const uint64_t *dims, size_t ndata)
{
	size_t o = 0;

	memset(b, 0, 1024);
	le32(b, ntensors);
	o = 8;
	b[o] = (unsigned char)dtype;
	b[o + 1] = (unsigned char)ndim;
	b[o + 2] = 1;
	o += 8;
	for (int d = 0; d < ndim; d++, o += 8)
		le64(b + o, dims[d]);
	b[o] = 'x';
	o += 8;
	return o + ndata + (8 - ndata % 8) % 8;
}

static int
read_hand(const struct hand *h, struct rm_error *err)
{
	put_file(tpath("hand.rmt"), h->b, h->n);
	return read_all(tpath("hand.rmt"), 0, err);
}

static void
test_absurd(void)
{
	struct rm_error err = { 0 };
	struct hand h;
	unsigned char body[1024];
	uint64_t dims[4] = { 3, 0, 0, 0 };
	size_t n;
	int rc;

	/* A valid hand-made record, to be sure the pieces are right. */
	hand_header(&h);
	n = hand_body(body, 1, RM_DT_I32, 1, dims, 12);
	hand_frame(&h, "RECD", body, n, 0);
	hand_end(&h, 1);
	CHECK(read_hand(&h, &err) == 1, "hand-made record: %s", err.msg);

	/* End count disagrees. */
	hand_header(&h);
	hand_frame(&h, "RECD", body, n, 0);
	hand_end(&h, 2);
	CHECK(read_hand(&h, &err) == RM_EDATA && strstr(err.msg, "end record"),
	      "%s", err.msg);

	/* Record length over the limit: rejected before reading it. */
	hand_header(&h);
	hand_frame(&h, "RECD", body, n, 0xFFFFFFF0u);
	CHECK(read_hand(&h, &err) == RM_EDATA &&
	      strstr(err.msg, "record 0: size 4294967280 exceeds the limit"),
	      "%s", err.msg);

	/* Absurd shapes and counts inside a correctly checksummed record. */
	static const struct {
		unsigned ntensors;
		int dtype, ndim;
		uint64_t d0, d1;
		const char *msg;
	} bad[] = {
		{ 1u << 31, RM_DT_I32, 1, 3, 0, "tensors declared" },
		{ 1, RM_DT_I32, 1, 1ull << 62, 0, "shape too large" },
		{ 1, RM_DT_I32, 2, 1ull << 33, 1ull << 33, "shape too large" },
		{ 1, RM_DT_F64, 2, 0, 1ull << 63, "shape too large" },
		{ 1, RM_DT_F64, 2, 1ull << 61, 1ull << 3, "shape too large" },
		{ 1, RM_DT_I32, 5, 1, 1, "5 dimensions" },
		{ 1, RM_DT_F16, 1, 3, 0, "unknown dtype 7" },
		{ 1, 0, 1, 3, 0, "unknown dtype 0" },
		{ 2, RM_DT_I32, 1, 3, 0, "entry runs past" },
		{ 1, RM_DT_I32, 1, 5, 0, "data runs past" },
		{ 1, RM_DT_I32, 1, 2, 0, "bytes after the last tensor" },
		/* zero-size: no data, but the other dims still count */
		{ 1, RM_DT_I32, 4, 1ull << 40, 0, "shape too large" },
		{ 1, RM_DT_I32, 4, 0, 1ull << 62, "shape too large" },
		/* [3, 0, 7, 0] is valid: the 12 bytes meant for data are extra */
		{ 1, RM_DT_I32, 4, 3, 0, "16 bytes after the last" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t d[4] = { bad[i].d0, bad[i].d1, 7, 1 };
		if (bad[i].ndim == 4)   /* [d0, d1, 7, 0] */
			d[3] = 0;
		hand_header(&h);
		/* Body sized for 3 i32 whatever the dims say. */
		size_t m = hand_body(body, bad[i].ntensors, bad[i].dtype,
				     bad[i].ndim > 4 ? 0 : bad[i].ndim, d, 12);
		body[9] = (unsigned char)bad[i].ndim;
		if (bad[i].ndim > 4)
			m = 8 + 8 + 8 + 16;
		hand_frame(&h, "RECD", body, m, 0);
		hand_end(&h, 1);
		rc = read_hand(&h, &err);
		CHECK(rc == RM_EDATA && strstr(err.msg, bad[i].msg),
		      "case %zu: rc %d: %s", i, rc, err.msg);
	}

	/* Duplicate names. */
	{
		struct rm_tensor t[2];
		int32_t v = 1;
		rm_tensor_scalar(&t[0], "x", RM_DT_I32, &v);
		rm_tensor_scalar(&t[1], "x", RM_DT_I32, &v);
		struct rm_out *out;
		struct rm_tsw *w;
		CHECK(rm_out_open(&out, tpath("w.rmt"), 0, 0, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_open(&w, out, NULL, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_write(w, t, 2, &err) == RM_EUSAGE &&
		      strstr(err.msg, "'x' appears twice"), "%s", err.msg);
		/* Bad names, dtypes, shapes: rejected, nothing written. */
		memset(t[1].name, 'n', sizeof t[1].name);
		CHECK(rm_tsw_write(w, t + 1, 1, &err) == RM_EUSAGE, "long name");
		t[1].name[0] = 0;
		CHECK(rm_tsw_write(w, t + 1, 1, &err) == RM_EUSAGE, "empty name");
		strcpy(t[1].name, "y");
		t[1].dtype = RM_DT_BF16;
		CHECK(rm_tsw_write(w, t + 1, 1, &err) == RM_EUSAGE, "bf16");
		t[1].dtype = RM_DT_I32;
		t[1].nbytes = 8;
		CHECK(rm_tsw_write(w, t + 1, 1, &err) == RM_EUSAGE &&
		      strstr(err.msg, "do not match the shape"), "%s", err.msg);
		t[1].nbytes = 4;
		t[1].ndim = 5;
		CHECK(rm_tsw_write(w, t + 1, 1, &err) == RM_EUSAGE, "5 dims");
		t[1].ndim = 0;
		CHECK(rm_tsw_write(w, t + 1, 1, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_write(w, NULL, 0, &err) == 0, "empty record: %s", err.msg);
		CHECK(rm_tsw_close(w, &err) == 0, "%s", err.msg);
		CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
		CHECK(read_all(tpath("w.rmt"), 0, &err) == 2, "after rejects: %s",
		      err.msg);
		CHECK(rm_out_open(&out, tpath("w2.rmt"), 0, 0, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_open(&w, out, "[1]", &err) == RM_EUSAGE, "meta not object");
		CHECK(rm_tsw_open(&w, out, "{} x", &err) == RM_EUSAGE, "meta junk");
		CHECK(rm_tsw_open(&w, out, " {\"a\": [1]}\n", &err) == 0, "%s", err.msg);
		rm_tsw_free(w);
		rm_out_abort(out);
	}

	/* Zero-size tensors with large other dims round-trip. */
	{
		struct rm_tensor z[2];
		struct rm_out *out;
		struct rm_tsw *w;
		struct rm_in *in;
		struct rm_tsr *r;
		const struct rm_record *rec;
		static const uint64_t shapes[2][4] = { { 3, 3, 3, 0 },
						       { 1ull << 20, 0 } };
		for (int i = 0; i < 2; i++) {
			rm_tensor_vector(&z[i], i ? "b" : "a", RM_DT_I64, NULL, 0);
			z[i].ndim = i ? 2 : 4;
			memcpy(z[i].dims, shapes[i], sizeof shapes[i]);
		}
		CHECK(rm_out_open(&out, tpath("z.rmt"), 0, 0, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_open(&w, out, NULL, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_write(w, z, 2, &err) == 0, "zero-size write: %s", err.msg);
		CHECK(rm_tsw_close(w, &err) == 0, "%s", err.msg);
		CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
		CHECK(rm_in_open(&in, tpath("z.rmt"), &err) == 0, "%s", err.msg);
		CHECK(rm_tsr_open(&r, in, &err) == 0, "%s", err.msg);
		CHECK(rm_tsr_next(r, &rec, &err) == 1 && rec->n == 2 &&
		      rec->t[0].dims[2] == 3 && rec->t[0].dims[3] == 0 &&
		      rec->t[1].dims[0] == 1ull << 20 && rec->t[1].nbytes == 0,
		      "zero-size read: %s", err.msg);
		rm_tsr_close(r);
		rm_in_close(in);
		/* ... but not when the other dims describe too much. */
		z[1].dims[0] = 1ull << 40;
		CHECK(rm_out_open(&out, tpath("z.rmt"), 0, 0, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_open(&w, out, NULL, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_write(w, z, 2, &err) == RM_EUSAGE &&
		      strstr(err.msg, "tensor 'b': shape too large"), "%s", err.msg);
		rm_tsw_free(w);
		rm_out_abort(out);
	}

	/* Unknown version, bad magic, bad header crc. */
	hand_header(&h);
	le32(h.b + 8, 2);
	le32(h.b + 16, rm_crc32(0, h.b, 16));
	CHECK(read_hand(&h, &err) == RM_EDATA && strstr(err.msg, "version 2"),
	      "%s", err.msg);
	hand_header(&h);
	h.b[16] ^= 1;
	CHECK(read_hand(&h, &err) == RM_EDATA && strstr(err.msg, "header: crc"),
	      "%s", err.msg);
	hand_header(&h);
	le32(h.b + 12, 0x7FFFFFFF);
	CHECK(read_hand(&h, &err) == RM_EDATA && strstr(err.msg, "metadata"),
	      "%s", err.msg);

	/*
	 * A record that declares 1 GiB - 8 but holds a few bytes: truncated,
	 * not out of memory, even with the address space capped at 256 MiB.
	 * (Skipped under sanitizers, whose shadow memory needs more.)
	 */
	hand_header(&h);
	hand_frame(&h, "RECD", body, 100, (1u << 30) - 8);
	put_file(tpath("big.rmt"), h.b, h.n);
	if (getenv("RM_SANITIZED") == NULL) {
		pid_t pid = fork();
		if (pid == 0) {
			struct rlimit rl = { 256u << 20, 256u << 20 };
			setrlimit(RLIMIT_AS, &rl);
			rc = read_all(tpath("big.rmt"), 0, &err);
			_exit(rc == RM_EDATA && strstr(err.msg, "record 0: truncated")
			      ? 0 : 1);
		}
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "big declared record");
	}
	/* And a limit set by the caller. */
	{
		struct rm_in *in;
		struct rm_tsr *r;
		const struct rm_record *rec;
		CHECK(rm_in_open(&in, tpath("a.rmt"), &err) == 0, "%s", err.msg);
		CHECK(rm_tsr_open(&r, in, &err) == 0, "%s", err.msg);
		rm_tsr_set_limit(r, 64);
		CHECK(rm_tsr_next(r, &rec, &err) == RM_EDATA &&
		      strstr(err.msg, "exceeds the limit of 64 bytes"), "%s", err.msg);
		rm_tsr_close(r);
		rm_in_close(in);
	}
}

/* The two examples printed in man/rmt.5, byte for byte. */
static void
test_golden(void)
{
	static const unsigned char empty[40] = {
		0x89, 0x52, 0x4d, 0x54, 0x0d, 0x0a, 0x1a, 0x0a,
		0x01, 0, 0, 0, 0, 0, 0, 0,
		0xda, 0xe5, 0x5a, 0x61,
		0x44, 0x4f, 0x4e, 0x45, 0x08, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xbf, 0x0b, 0xa4,
	};
	static const unsigned char body[32] = {
		1, 0, 0, 0, 0, 0, 0, 0,
		4, 0, 2, 0, 0, 0, 0, 0,
		'i', 'd', 0, 0, 0, 0, 0, 0,
		5, 0, 0, 0, 0, 0, 0, 0,
	};
	struct rm_error err = { 0 };
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_tensor t;
	uint64_t id = 5;
	unsigned char *b;
	size_t n;

	write_stream(tpath("golden.rmt"), 0, 1);  /* has metadata: not golden */
	CHECK(rm_out_open(&out, tpath("golden.rmt"), 0, 0, &err) == 0, "%s", err.msg);
	CHECK(rm_tsw_open(&w, out, NULL, &err) == 0, "%s", err.msg);
	CHECK(rm_tsw_close(w, &err) == 0, "%s", err.msg);
	CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
	b = get_file(tpath("golden.rmt"), &n);
	CHECK(n == 40 && memcmp(b, empty, 40) == 0, "empty stream bytes (%zu)", n);
	free(b);

	CHECK(rm_out_open(&out, tpath("golden.rmt"), 0, 0, &err) == 0, "%s", err.msg);
	CHECK(rm_tsw_open(&w, out, NULL, &err) == 0, "%s", err.msg);
	rm_tensor_scalar(&t, "id", RM_DT_U64, &id);
	CHECK(rm_tsw_write(w, &t, 1, &err) == 0, "%s", err.msg);
	CHECK(rm_tsw_close(w, &err) == 0, "%s", err.msg);
	CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
	b = get_file(tpath("golden.rmt"), &n);
	CHECK(n == 20 + 8 + 32 + 4 + 20 && memcmp(b + 20, "RECD\x20\0\0\0", 8) == 0 &&
	      memcmp(b + 28, body, 32) == 0 &&
	      rm_crc32(0, b + 20, 40) == (uint32_t)(b[60] | b[61] << 8 |
						     b[62] << 16 | (uint32_t)b[63] << 24),
	      "id record bytes");
	free(b);
}

/* Records serialised apart (rm_ts_encode) and appended in order give the
 * same bytes as rm_tsw_write. */
static void
test_encoded(void)
{
	struct rm_error err = { 0 };
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_buf b = { 0 };
	struct rec r;
	unsigned char *x, *y;
	size_t nx, ny;

	write_stream(tpath("direct.rmt"), NREC, 1);
	CHECK(rm_out_open(&out, tpath("enc.rmt"), RM_OUT_BINARY, 0, &err) == 0, "%s", err.msg);
	CHECK(rm_tsw_open(&w, out, meta, &err) == 0, "%s", err.msg);
	for (int k = 0; k < NREC; k++) {
		make_rec(&r, k);
		CHECK(rm_ts_encode(r.t, 8, &b, "enc", (uint64_t)k, &err) == 0, "%s", err.msg);
		CHECK(rm_tsw_write_encoded(w, b.p, b.len, &err) == 0, "%s", err.msg);
	}
	CHECK(rm_tsw_write_encoded(w, "JUNKJUNKJUNK", 12, &err) == RM_EUSAGE &&
	      strstr(err.msg, "not an encoded record"), "junk refused: %s", err.msg);
	CHECK(rm_tsw_count(w) == NREC, "count");
	CHECK(rm_tsw_close(w, &err) == 0, "%s", err.msg);
	CHECK(rm_out_commit(out, &err) == 0, "%s", err.msg);
	/* a bad tensor is reported with the given name and index */
	make_rec(&r, 1);
	r.t[2].nbytes++;
	CHECK(rm_ts_encode(r.t, 8, &b, "enc", 41, &err) == RM_EUSAGE &&
	      strstr(err.msg, "enc: record 41: tensor 'chosen'"), "%s", err.msg);
	rm_buf_release(&b);
	x = get_file(tpath("direct.rmt"), &nx);
	y = get_file(tpath("enc.rmt"), &ny);
	CHECK(nx == ny && memcmp(x, y, nx) == 0, "encoded stream differs");
	free(x);
	free(y);
}

int
main(void)
{
	testfs_init("t-tstream");
	test_crc();
	test_golden();
	test_round_trip();
	test_encoded();
	test_truncation();
	test_flips();
	test_absurd();
	testfs_done(check_failures);
	return check_done();
}
