/*
 * t-pairs.c - token streams in memory: loading pairs, singles and groups,
 * metadata, optional margin and target, length limits (error or keep the
 * end), mixed kinds, chunked reading, epoch order, batching by budget,
 * packing.
 */
#include <string.h>

#include "check.h"
#include "train/pairs.h"
#include "testfs.h"

static const char meta[] =
	"{\"tool\":\"t-pairs\",\"tokenizer\":\"bytes\",\"vocab_size\":257,\"eos_id\":256}";

/* Pair k: chosen has k + 2 tokens, rejected 3; margin and target on odd k. */
static void
write_pairs(const char *path, int n, int odd_group)
{
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_error err;
	if (rm_out_open(&out, path, RM_OUT_BINARY, 0, &err) < 0 ||
	    rm_tsw_open(&w, out, meta, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	for (int k = 0; k < n; k++) {
		uint64_t id = 100 + (uint64_t)k, hash = 0xABCDEF00u + (uint64_t)k;
		int32_t c[64], r[3] = {5, 6, 256}, pl = 1;
		float m = 0.5f * (float)k, t = 0.25f;
		for (int i = 0; i < k + 2; i++)
			c[i] = i == k + 1 ? 256 : k + i;
		struct rm_tensor ts[8];
		int64_t off[3] = {0, 2, 3};  /* outlives the if: written below */
		size_t nt = 0;
		rm_tensor_scalar(&ts[nt++], "id", RM_DT_U64, &id);
		rm_tensor_scalar(&ts[nt++], "hash", RM_DT_U64, &hash);
		rm_tensor_scalar(&ts[nt++], "prompt_len", RM_DT_I32, &pl);
		if (odd_group && k == 3) {
			rm_tensor_vector(&ts[nt++], "responses", RM_DT_I32, r, 3);
			rm_tensor_vector(&ts[nt++], "offsets", RM_DT_I64, off, 3);
		} else {
			rm_tensor_vector(&ts[nt++], "chosen", RM_DT_I32, c, (uint64_t)k + 2);
			rm_tensor_vector(&ts[nt++], "rejected", RM_DT_I32, r, 3);
		}
		if (k % 2) {
			rm_tensor_scalar(&ts[nt++], "margin", RM_DT_F32, &m);
			rm_tensor_scalar(&ts[nt++], "target", RM_DT_F32, &t);
		}
		if (rm_tsw_write(w, ts, nt, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			exit(1);
		}
	}
	if (rm_tsw_close(w, &err) < 0 || rm_out_commit(out, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
}

static void
write_groups(const char *path)
{
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_error err;
	if (rm_out_open(&out, path, RM_OUT_BINARY, 0, &err) < 0 ||
	    rm_tsw_open(&w, out, NULL, &err) < 0)
		exit(1);
	for (int k = 0; k < 4; k++) {
		uint64_t id = (uint64_t)k, hash = 7;
		int32_t toks[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, pl = 1;
		int64_t off[5] = {0, 1, 3, 6, 10};
		struct rm_tensor ts[5];
		rm_tensor_scalar(&ts[0], "id", RM_DT_U64, &id);
		rm_tensor_scalar(&ts[1], "hash", RM_DT_U64, &hash);
		rm_tensor_scalar(&ts[2], "prompt_len", RM_DT_I32, &pl);
		rm_tensor_vector(&ts[3], "responses", RM_DT_I32, toks, 10);
		off[k + 1] = 10;  /* group k has k + 1 responses spanning all */
		rm_tensor_vector(&ts[4], "offsets", RM_DT_I64, off, (uint64_t)k + 2);
		if (rm_tsw_write(w, ts, 5, &err) < 0)
			exit(1);
	}
	rm_tsw_close(w, &err);
	rm_out_commit(out, &err);
}

int
main(void)
{
	struct rm_pairs *p;
	struct rm_error err;
	testfs_init("t-pairs");
	const char *pp = tpath("pairs.rmt");
	write_pairs(pp, 10, 0);

	/* whole load */
	int rc = rm_pairs_load(&p, pp, NULL, &err);
	CHECK(rc == 0, "load: %s", err.msg);
	CHECK(p->kind == RM_PAIRS_PAIR && p->n == 10 && p->n_seqs == 20, "counts %zu", p->n);
	CHECK(p->vocab_size == 257 && p->eos_id == 256 && !strcmp(p->tokenizer, "bytes"),
	      "meta %ld %ld %s", p->vocab_size, p->eos_id, p->tokenizer);
	CHECK(p->rec[3].id == 103 && p->rec[3].hash == 0xABCDEF03u, "id/hash");
	CHECK(p->rec[3].margin == 1.5f && p->rec[3].target == 0.25f, "margin/target");
	CHECK(p->rec[2].margin == 0 && p->rec[2].target == 1, "defaults");
	CHECK(p->n_margin == 5 && p->n_target == 5, "counts of margin %zu", p->n_margin);
	CHECK(rm_pairs_rec_tokens(p, 4) == 6 + 3, "rec tokens");
	CHECK(p->longest_seq == 11 && p->longest_rec == 14, "longest %zu", p->longest_seq);
	const int32_t *c4 = p->tokens + p->seq_off[p->rec[4].seq];
	CHECK(c4[0] == 4 && c4[5] == 256, "chosen tokens");
	CHECK(rm_pairs_check_vocab(p, 257, "x", &err) == 0, "vocab ok");
	CHECK(rm_pairs_check_vocab(p, 256, "x", &err) == RM_EDATA &&
	      strstr(err.msg, "record 0 (id 100)"), "vocab: %s", err.msg);
	uint64_t fp = rm_pairs_fingerprint(p);

	/* order: deterministic, a permutation, differs by epoch and seed */
	size_t o1[10], o2[10], o3[10];
	rm_pairs_order(o1, 10, 5, 0, 1);
	rm_pairs_order(o2, 10, 5, 0, 1);
	CHECK(!memcmp(o1, o2, sizeof o1), "same order");
	rm_pairs_order(o3, 10, 5, 1, 1);
	CHECK(memcmp(o1, o3, sizeof o1), "epochs differ");
	int seen[10] = {0};
	for (int i = 0; i < 10; i++)
		seen[o1[i]]++;
	for (int i = 0; i < 10; i++)
		CHECK(seen[i] == 1, "permutation");
	rm_pairs_order(o2, 10, 5, 0, 0);
	CHECK(o2[0] == 0 && o2[9] == 9, "no shuffle");

	/* fit: tokens of records 0.. are 5, 6, 7, 8, ... */
	CHECK(rm_pairs_fit(p, o2, 10, 11, 0) == 2, "fit tokens");
	CHECK(rm_pairs_fit(p, o2, 10, 18, 0) == 3, "fit tokens exact");
	CHECK(rm_pairs_fit(p, o2, 10, 1000, 4) == 4, "fit records");
	CHECK(rm_pairs_fit(p, o2, 10, 4, 0) == 0, "first too big");
	CHECK(rm_pairs_fit(p, o2, 2, 1000, 0) == 2, "end of idx");

	/* pack: chosen block then rejected block */
	int32_t tok[64];
	size_t off[8], seqs[8];
	uint64_t keys[8];
	size_t idx[2] = {2, 0};
	size_t ns = rm_pairs_pack(p, idx, 2, tok, off, keys, seqs);
	CHECK(ns == 4 && off[0] == 0 && off[1] == 4 && off[2] == 6 && off[3] == 9 && off[4] == 12,
	      "offsets");
	CHECK(tok[0] == 2 && tok[4] == 0 && tok[6] == 5, "pack tokens");
	CHECK(seqs[0] == 4 && seqs[1] == 0 && seqs[2] == 5 && seqs[3] == 1, "seqs");
	CHECK(keys[0] == (2u << 16) && keys[2] == ((2u << 16) | 1), "keys");
	rm_pairs_free(p);

	/* length limit: error naming the record, or keep the end */
	struct rm_pairs_options o = {0};
	o.max_len = 6;
	CHECK(rm_pairs_load(&p, pp, &o, &err) == RM_EDATA && p == NULL, "too long");
	CHECK(strstr(err.msg, "record 5: sequence 'chosen' has 7 tokens, more than 6"), "%s",
	      err.msg);
	o.truncate = 1;
	CHECK(rm_pairs_load(&p, pp, &o, &err) == 0, "truncate: %s", err.msg);
	CHECK(p->n_truncated == 5 && p->longest_seq == 6, "truncated %zu", p->n_truncated);
	c4 = p->tokens + p->seq_off[p->rec[9].seq];
	CHECK(c4[0] == 9 + 5 && c4[5] == 256, "kept the end: %d", c4[0]);
	CHECK(p->rec[9].prompt_len == 0, "prompt_len cut");
	CHECK(rm_pairs_fingerprint(p) != fp, "fingerprint sees truncation");
	rm_pairs_free(p);

	/* limits on records and tokens */
	memset(&o, 0, sizeof o);
	o.max_records = 3;
	CHECK(rm_pairs_load(&p, pp, &o, &err) == RM_ENOMEM && strstr(err.msg, "record 3"),
	      "max records: %s", err.msg);
	o.max_records = 0;
	o.max_tokens = 20;
	CHECK(rm_pairs_load(&p, pp, &o, &err) == RM_ENOMEM, "max tokens");

	/* chunked reading keeps stream positions */
	struct rm_in *in;
	struct rm_tsr *r;
	CHECK(rm_in_open(&in, pp, &err) == 0 && rm_tsr_open(&r, in, &err) == 0, "open");
	CHECK(rm_pairs_new(&p, NULL, &err) == 0, "new");
	CHECK(rm_pairs_read(p, r, 4, 0, &err) == 1 && p->n == 4, "chunk 1");
	rm_pairs_clear(p);
	CHECK(rm_pairs_read(p, r, 4, 0, &err) == 1 && p->n == 4 && p->rec[0].index == 4 &&
	      p->rec[0].id == 104, "chunk 2");
	rm_pairs_clear(p);
	CHECK(rm_pairs_read(p, r, 4, 0, &err) == 0 && p->n == 2, "last chunk");
	rm_pairs_free(p);
	rm_tsr_close(r);
	rm_in_close(in);

	/* a group among pairs */
	write_pairs(tpath("mixed.rmt"), 5, 1);
	CHECK(rm_pairs_load(&p, tpath("mixed.rmt"), NULL, &err) == RM_EDATA &&
	      strstr(err.msg, "record 3: a group among pairs"), "mixed: %s", err.msg);

	/* groups */
	write_groups(tpath("groups.rmt"));
	CHECK(rm_pairs_load(&p, tpath("groups.rmt"), NULL, &err) == 0, "groups: %s", err.msg);
	CHECK(p->kind == RM_PAIRS_GROUP && p->n == 4 && p->n_seqs == 1 + 2 + 3 + 4, "groups");
	CHECK(p->rec[3].n_seq == 4 && p->vocab_size == -1, "group 3");
	size_t gi[2] = {1, 2};
	ns = rm_pairs_pack(p, gi, 2, tok, off, NULL, seqs);
	CHECK(ns == 5 && off[5] == 20 && seqs[0] == 1 && seqs[4] == 5, "group pack");
	rm_pairs_free(p);
	/* a required kind */
	o = (struct rm_pairs_options){0};
	o.kind = RM_PAIRS_PAIR;
	CHECK(rm_pairs_load(&p, tpath("groups.rmt"), &o, &err) == RM_EDATA &&
	      strstr(err.msg, "a group among pairs"), "required kind: %s", err.msg);

	/* not a token stream */
	put_file(tpath("x.jsonl"), "{}\n", 3);
	CHECK(rm_pairs_load(&p, tpath("x.jsonl"), NULL, &err) == RM_EDATA &&
	      strstr(err.msg, "not a token stream"), "jsonl: %s", err.msg);

	int rc2 = check_done();
	testfs_done(rc2);
	return rc2;
}
