/*
 * pairs.c - token streams in memory: loading with limits, epoch order,
 * batching by token budget.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/pairs.h"
#include "base/rng.h"

#define DEF_MAX_RECORDS ((size_t)1 << 28)
#define DEF_MAX_TOKENS ((size_t)1 << 31)

int
rm_pairs_new(struct rm_pairs **out, const struct rm_pairs_options *o,
	     struct rm_error *err)
{
	*out = NULL;
	struct rm_pairs *p = calloc(1, sizeof *p);
	if (!p || !(p->seq_off = malloc(sizeof *p->seq_off))) {
		free(p);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	p->cap_seq = 0;  /* seq_off holds cap_seq + 1 entries */
	p->seq_off[0] = 0;
	if (o)
		p->opt = *o;
	if (!p->opt.max_records)
		p->opt.max_records = DEF_MAX_RECORDS;
	if (!p->opt.max_tokens)
		p->opt.max_tokens = DEF_MAX_TOKENS;
	p->kind = p->opt.kind;
	p->vocab_size = p->eos_id = p->bos_id = -1;
	*out = p;
	return 0;
}

void
rm_pairs_free(struct rm_pairs *p)
{
	if (!p)
		return;
	free(p->rec);
	free(p->seq_off);
	free(p->tokens);
	free(p);
}

void
rm_pairs_clear(struct rm_pairs *p)
{
	p->n = p->n_seqs = p->n_tokens = 0;
	p->longest_seq = p->longest_rec = 0;
	p->n_truncated = p->n_margin = p->n_target = 0;
	p->kind = p->opt.kind;
	p->seq_off[0] = 0;
}

/* An optional integer member of the header's metadata in lo..hi: 0 (and *out
 * set when present), RM_EDATA otherwise. */
static int
meta_int(const cJSON *m, const char *key, long lo, long hi, long *out,
	 struct rm_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
		char *s = cJSON_PrintUnformatted(v);
		int rc = rm_error_set(err, RM_EDATA, "header: %s %s is not an integer "
				      "in %ld..%ld", key, s ? s : "?", lo, hi);
		cJSON_free(s);
		return rc;
	}
	*out = (long)v->valuedouble;
	return 0;
}

int
rm_pairs_set_meta(struct rm_pairs *p, const char *json, struct rm_error *err)
{
	if (!json || !*json)
		return 0;
	cJSON *m = cJSON_Parse(json);
	if (!m || !cJSON_IsObject(m)) {
		cJSON_Delete(m);
		return rm_error_set(err, RM_EDATA, "stream metadata is not a JSON object");
	}
	/* Declared sizes are checked here, before anything is sized by
	 * them: a vocabulary is at most RM_PAIRS_MAX_VOCAB (a model's
	 * embedding is allocated from it), a token id lies inside it. */
	long vocab = -1, eos = -1, bos = -1;
	int rc = meta_int(m, "vocab_size", 1, RM_PAIRS_MAX_VOCAB, &vocab, err);
	if (rc == 0)
		rc = meta_int(m, "eos_id", -1, vocab > 0 ? vocab - 1 : RM_PAIRS_MAX_VOCAB - 1,
			      &eos, err);
	if (rc == 0)
		rc = meta_int(m, "bos_id", -1, vocab > 0 ? vocab - 1 : RM_PAIRS_MAX_VOCAB - 1,
			      &bos, err);
	if (rc < 0) {
		cJSON_Delete(m);
		return rc;
	}
	p->vocab_size = vocab;
	p->eos_id = eos;
	p->bos_id = bos;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "tokenizer");
	if (cJSON_IsString(v))
		snprintf(p->tokenizer, sizeof p->tokenizer, "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(m, "tokenizer_hash");
	if (cJSON_IsString(v))
		snprintf(p->tokenizer_hash, sizeof p->tokenizer_hash, "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(m, "template");
	if (cJSON_IsString(v))
		snprintf(p->tmpl, sizeof p->tmpl, "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(m, "template_hash");
	if (cJSON_IsString(v))
		snprintf(p->tmpl_hash, sizeof p->tmpl_hash, "%s", v->valuestring);
	cJSON_Delete(m);
	return 0;
}

/* Grow *a (elements of sz bytes, capacity *cap) to hold need elements. */
static int
grow(void **a, size_t *cap, size_t need, size_t sz)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	void *q = realloc(*a, c * sz);
	if (!q)
		return -1;
	*a = q;
	*cap = c;
	return 0;
}

/* An optional f32 or f64 scalar (0-d or [1]); 0 absent, 1 found, < 0 bad. */
static int
opt_scalar(const struct rm_record *rec, const char *name, float *v,
	   struct rm_error *err)
{
	const struct rm_tensor *t = rm_record_find(rec, name);
	if (!t)
		return 0;
	if (rm_tensor_numel(t) != 1 || t->ndim > 1 ||
	    (t->dtype != RM_DT_F32 && t->dtype != RM_DT_F64))
		return rm_error_set(err, RM_EDATA, "%s: record %llu: '%s' is not an f32 or f64 scalar",
				    rec->source, (unsigned long long)rec->index, name);
	double d;
	if (t->dtype == RM_DT_F32) {
		float f;
		memcpy(&f, t->data, sizeof f);
		d = f;
	} else {
		memcpy(&d, t->data, sizeof d);
	}
	if (!(d == d) || d > 1e30 || d < -1e30)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: '%s' is not a finite number",
				    rec->source, (unsigned long long)rec->index, name);
	*v = (float)d;
	return 1;
}

/* The sequences of one record: up to k views into tensor data. */
struct seqs {
	const char *what;        /* tensor name for messages */
	const int32_t *tok;      /* concatenated */
	size_t n_seq;
	const int64_t *off;      /* [n_seq + 1] or NULL (then lens) */
	size_t lens[2];
	const int32_t *two[2];
};

static int
get_seqs(const struct rm_record *rec, enum rm_pairs_kind *kind, struct seqs *s,
	 struct rm_error *err)
{
	const struct rm_tensor *t;
	int rc;
	memset(s, 0, sizeof *s);
	enum rm_pairs_kind k = RM_PAIRS_ANY;
	if (rm_record_find(rec, "chosen") || rm_record_find(rec, "rejected"))
		k = RM_PAIRS_PAIR;
	else if (rm_record_find(rec, "responses"))
		k = RM_PAIRS_GROUP;
	else if (rm_record_find(rec, "response"))
		k = RM_PAIRS_SINGLE;
	else
		return rm_error_set(err, RM_EDATA, "%s: record %llu: no token sequences "
				    "('chosen' and 'rejected', 'response' or 'responses')",
				    rec->source, (unsigned long long)rec->index);
	static const char *const kname[] = {"", "pair", "single response", "group"};
	if (*kind != RM_PAIRS_ANY && *kind != k)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: a %s among %ss",
				    rec->source, (unsigned long long)rec->index, kname[k],
				    kname[*kind]);
	*kind = k;
	if (k == RM_PAIRS_PAIR) {
		static const char *const nm[2] = {"chosen", "rejected"};
		s->n_seq = 2;
		for (int j = 0; j < 2; j++) {
			if ((rc = rm_record_get(rec, nm[j], RM_DT_I32, 1, &t, err)) < 0)
				return rc;
			s->two[j] = t->data;
			s->lens[j] = (size_t)t->dims[0];
		}
	} else if (k == RM_PAIRS_SINGLE) {
		if ((rc = rm_record_get(rec, "response", RM_DT_I32, 1, &t, err)) < 0)
			return rc;
		s->n_seq = 1;
		s->two[0] = t->data;
		s->lens[0] = (size_t)t->dims[0];
	} else {
		const struct rm_tensor *o;
		if ((rc = rm_record_get(rec, "responses", RM_DT_I32, 1, &t, err)) < 0 ||
		    (rc = rm_record_get(rec, "offsets", RM_DT_I64, 1, &o, err)) < 0)
			return rc;
		size_t n = (size_t)o->dims[0];
		if (n < 2 || n - 1 > RM_PAIRS_MAX_GROUP)
			return rm_error_set(err, RM_EDATA, "%s: record %llu: a group of %zu responses "
					    "(1 to %d allowed)", rec->source,
					    (unsigned long long)rec->index, n ? n - 1 : 0,
					    RM_PAIRS_MAX_GROUP);
		s->off = o->data;
		s->n_seq = n - 1;
		s->tok = t->data;
		if (s->off[0] != 0 || (uint64_t)s->off[n - 1] != t->dims[0])
			return rm_error_set(err, RM_EDATA, "%s: record %llu: 'offsets' do not span "
					    "'responses' (0 to %llu)", rec->source,
					    (unsigned long long)rec->index,
					    (unsigned long long)t->dims[0]);
		for (size_t j = 0; j + 1 < n; j++)
			if (s->off[j + 1] < s->off[j])
				return rm_error_set(err, RM_EDATA, "%s: record %llu: 'offsets' decrease",
						    rec->source, (unsigned long long)rec->index);
	}
	return 0;
}

static void
seq_view(const struct seqs *s, size_t j, const int32_t **tok, size_t *len,
	 const char **name)
{
	static const char *const nm[2] = {"chosen", "rejected"};
	if (s->off) {
		*tok = s->tok + s->off[j];
		*len = (size_t)(s->off[j + 1] - s->off[j]);
		*name = "responses";
	} else {
		*tok = s->two[j];
		*len = s->lens[j];
		*name = s->n_seq == 1 ? "response" : nm[j];
	}
}

/* Append one record; on failure the set is left as it was. */
static int
add_record(struct rm_pairs *p, const struct rm_record *rec, struct rm_error *err)
{
	struct seqs s;
	enum rm_pairs_kind kind = p->kind;
	int rc = get_seqs(rec, &kind, &s, err);
	if (rc < 0)
		return rc;
	unsigned long long ri = (unsigned long long)rec->index;
	struct rm_pairs_rec r = {0};
	r.target = 1.0f;
	if ((rc = rm_record_u64(rec, "id", &r.id, err)) < 0 ||
	    (rc = rm_record_u64(rec, "hash", &r.hash, err)) < 0)
		return rc;
	if (rm_record_find(rec, "prompt_len") &&
	    (rc = rm_record_i32(rec, "prompt_len", &r.prompt_len, err)) < 0)
		return rc;
	int has_m = opt_scalar(rec, "margin", &r.margin, err);
	if (has_m < 0)
		return has_m;
	int has_t = opt_scalar(rec, "target", &r.target, err);
	if (has_t < 0)
		return has_t;
	if (!(r.target >= 0 && r.target <= 1))
		return rm_error_set(err, RM_EDATA, "%s: record %llu: target %g is not in [0, 1]",
				    rec->source, ri, (double)r.target);

	/* lengths after truncation */
	size_t total = 0, maxcut = 0;
	if (r.prompt_len < 0)
		return rm_error_set(err, RM_EDATA, "%s: record %llu: prompt_len %d is negative",
				    rec->source, ri, (int)r.prompt_len);
	for (size_t j = 0; j < s.n_seq; j++) {
		const int32_t *t;
		size_t len;
		const char *nm;
		seq_view(&s, j, &t, &len, &nm);
		if (len == 0)
			return rm_error_set(err, RM_EDATA, "%s: record %llu: sequence '%s'%s is empty",
					    rec->source, ri, nm, s.off ? " (one of them)" : "");
		if ((size_t)r.prompt_len > len)
			return rm_error_set(err, RM_EDATA, "%s: record %llu: prompt_len %d is longer "
					    "than sequence '%s'%s (%zu tokens)", rec->source, ri,
					    (int)r.prompt_len, nm, s.off ? " (one of them)" : "", len);
		if (p->opt.max_len && len > p->opt.max_len) {
			if (!p->opt.truncate) {
				if (s.off)
					return rm_error_set(err, RM_EDATA, "%s: record %llu: response %zu "
							    "has %zu tokens, more than %zu",
							    rec->source, ri, j, len, p->opt.max_len);
				return rm_error_set(err, RM_EDATA, "%s: record %llu: sequence '%s' has "
						    "%zu tokens, more than %zu", rec->source, ri,
						    nm, len, p->opt.max_len);
			}
			if (len - p->opt.max_len > maxcut)
				maxcut = len - p->opt.max_len;
			len = p->opt.max_len;
		}
		total += len;
	}
	if (p->n + 1 > p->opt.max_records)
		return rm_error_set(err, RM_ENOMEM, "%s: record %llu: more than %zu records",
				    rec->source, ri, p->opt.max_records);
	if (total > p->opt.max_tokens || p->n_tokens > p->opt.max_tokens - total)
		return rm_error_set(err, RM_ENOMEM, "%s: record %llu: more than %zu tokens in all",
				    rec->source, ri, p->opt.max_tokens);
	if (grow((void **)&p->rec, &p->cap_rec, p->n + 1, sizeof *p->rec) < 0 ||
	    grow((void **)&p->tokens, &p->cap_tok, p->n_tokens + total, sizeof *p->tokens) < 0)
		return rm_error_set(err, RM_ENOMEM, "%s: record %llu: out of memory",
				    rec->source, ri);
	/* seq_off holds cap_seq + 1 entries */
	if (p->n_seqs + s.n_seq + 1 > p->cap_seq + 1) {
		size_t c = p->cap_seq ? p->cap_seq : 256;
		while (c < p->n_seqs + s.n_seq)
			c *= 2;
		size_t *q = realloc(p->seq_off, (c + 1) * sizeof *q);
		if (!q)
			return rm_error_set(err, RM_ENOMEM, "%s: record %llu: out of memory",
					    rec->source, ri);
		p->seq_off = q;
		p->cap_seq = c;
	}

	r.seq = p->n_seqs;
	r.n_seq = (uint32_t)s.n_seq;
	r.index = p->n_read;
	if (maxcut) {
		r.prompt_len = r.prompt_len > (int32_t)maxcut ? r.prompt_len - (int32_t)maxcut : 0;
		p->n_truncated++;
	}
	for (size_t j = 0; j < s.n_seq; j++) {
		const int32_t *t;
		size_t len;
		const char *nm;
		seq_view(&s, j, &t, &len, &nm);
		if (p->opt.max_len && len > p->opt.max_len) {
			t += len - p->opt.max_len;  /* keep the end */
			len = p->opt.max_len;
		}
		memcpy(p->tokens + p->n_tokens, t, len * sizeof *t);
		p->n_tokens += len;
		p->seq_off[++p->n_seqs] = p->n_tokens;
		if (len > p->longest_seq)
			p->longest_seq = len;
	}
	if (total > p->longest_rec)
		p->longest_rec = total;
	p->n_margin += has_m;
	p->n_target += has_t;
	p->rec[p->n++] = r;
	p->kind = kind;
	return 0;
}

int
rm_pairs_read(struct rm_pairs *p, struct rm_tsr *r, size_t max_records,
	      size_t max_tokens, struct rm_error *err)
{
	for (;;) {
		if ((max_records && p->n >= max_records) ||
		    (max_tokens && p->n_tokens >= max_tokens))
			return 1;
		const struct rm_record *rec;
		int rc = rm_tsr_next(r, &rec, err);
		if (rc <= 0)
			return rc;
		if ((rc = add_record(p, rec, err)) < 0)
			return rc;
		p->n_read++;
	}
}

int
rm_pairs_open(struct rm_pairs **out, struct rm_in **inp, struct rm_tsr **rp,
	      const char *path, const struct rm_pairs_options *o,
	      struct rm_error *err)
{
	*out = NULL;
	*inp = NULL;
	*rp = NULL;
	struct rm_in *in = NULL;
	struct rm_tsr *r = NULL;
	struct rm_pairs *p = NULL;
	int rc = rm_in_open(&in, path, err);
	if (rc < 0)
		return rc;
	if ((rc = rm_tsr_detect(in, err)) <= 0) {
		if (rc == 0)
			rc = rm_error_set(err, RM_EDATA, "%s: not a token stream (run rm-tokenize first)",
					  rm_in_name(in));
		goto fail;
	}
	if ((rc = rm_tsr_open(&r, in, err)) < 0 || (rc = rm_pairs_new(&p, o, err)) < 0)
		goto fail;
	snprintf(p->name, sizeof p->name, "%s", rm_in_name(in));
	if ((rc = rm_pairs_set_meta(p, rm_tsr_meta(r), err)) < 0) {
		rm_error_prefix(err, "%s", rm_in_name(in));
		goto fail;
	}
	*out = p;
	*inp = in;
	*rp = r;
	return 0;
fail:
	rm_pairs_free(p);
	rm_tsr_close(r);
	rm_in_close(in);
	return rc;
}

int
rm_pairs_load(struct rm_pairs **out, const char *path,
	      const struct rm_pairs_options *o, struct rm_error *err)
{
	struct rm_in *in;
	struct rm_tsr *r;
	struct rm_pairs *p;
	int rc = rm_pairs_open(&p, &in, &r, path, o, err);
	if (rc < 0)
		return rc;
	rc = rm_pairs_read(p, r, 0, 0, err);
	rm_tsr_close(r);
	rm_in_close(in);
	if (rc < 0) {
		rm_pairs_free(p);
		p = NULL;
	}
	*out = p;
	return rc < 0 ? rc : 0;
}

size_t
rm_pairs_rec_tokens(const struct rm_pairs *p, size_t i)
{
	const struct rm_pairs_rec *r = &p->rec[i];
	return p->seq_off[r->seq + r->n_seq] - p->seq_off[r->seq];
}

int
rm_pairs_check_vocab(const struct rm_pairs *p, long vocab, const char *name,
		     struct rm_error *err)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct rm_pairs_rec *r = &p->rec[i];
		for (size_t t = p->seq_off[r->seq]; t < p->seq_off[r->seq + r->n_seq]; t++)
			if (p->tokens[t] < 0 || p->tokens[t] >= vocab)
				return rm_error_set(err, RM_EDATA, "%s: record %zu (id %llu): token id %ld "
						    "is outside the model's vocabulary of %ld",
						    name, r->index, (unsigned long long)r->id,
						    (long)p->tokens[t], vocab);
	}
	return 0;
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
	uint64_t x = h ^ v;
	return rm_splitmix64(&x);
}

uint64_t
rm_pairs_fingerprint(const struct rm_pairs *p)
{
	uint64_t h = 0x726d706169727321ull ^ p->n;
	for (size_t i = 0; i < p->n; i++) {
		const struct rm_pairs_rec *r = &p->rec[i];
		uint32_t mb, tb;
		memcpy(&mb, &r->margin, 4);
		memcpy(&tb, &r->target, 4);
		h = mix(h, r->id);
		h = mix(h, r->hash);
		h = mix(h, ((uint64_t)mb << 32) | tb);
		h = mix(h, r->n_seq);
		for (size_t j = r->seq; j < r->seq + r->n_seq; j++) {
			h = mix(h, p->seq_off[j + 1] - p->seq_off[j]);
			for (size_t t = p->seq_off[j]; t < p->seq_off[j + 1]; t++)
				h = mix(h, (uint32_t)p->tokens[t]);
		}
	}
	return h;
}

void
rm_pairs_order(size_t *order, size_t n, uint64_t seed, uint64_t epoch, int shuffle)
{
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (!shuffle)
		return;
	struct rm_rng r;
	rm_rng_stream(&r, seed, 0x64617461 /* "data" */, epoch, 0);
	rm_rng_shuffle(&r, order, n);
}

size_t
rm_pairs_fit(const struct rm_pairs *p, const size_t *idx, size_t n,
	     size_t max_tokens, size_t max_records)
{
	size_t k = 0, tok = 0;
	while (k < n && (!max_records || k < max_records)) {
		size_t t = rm_pairs_rec_tokens(p, idx[k]);
		if (t > max_tokens - tok)
			break;
		tok += t;
		k++;
	}
	return k;
}

/* Append sequence j of record r as batch sequence ns. */
static void
put_seq(const struct rm_pairs *p, const struct rm_pairs_rec *r, size_t j,
	int32_t *tokens, size_t *offsets, uint64_t *keys, size_t *seqs, size_t ns)
{
	size_t s = r->seq + j, at = offsets[ns];
	size_t len = p->seq_off[s + 1] - p->seq_off[s];
	memcpy(tokens + at, p->tokens + p->seq_off[s], len * sizeof *tokens);
	offsets[ns + 1] = at + len;
	if (keys)
		keys[ns] = ((uint64_t)r->index << 16) | j;
	if (seqs)
		seqs[ns] = s;
}

size_t
rm_pairs_pack(const struct rm_pairs *p, const size_t *idx, size_t k,
	      int32_t *tokens, size_t *offsets, uint64_t *keys, size_t *seqs)
{
	size_t ns = 0;
	offsets[0] = 0;
	if (p->kind == RM_PAIRS_PAIR) {
		for (size_t j = 0; j < 2; j++)
			for (size_t i = 0; i < k; i++, ns++)
				put_seq(p, &p->rec[idx[i]], j, tokens, offsets, keys, seqs, ns);
		return ns;
	}
	for (size_t i = 0; i < k; i++)
		for (size_t j = 0; j < p->rec[idx[i]].n_seq; j++, ns++)
			put_seq(p, &p->rec[idx[i]], j, tokens, offsets, keys, seqs, ns);
	return ns;
}
