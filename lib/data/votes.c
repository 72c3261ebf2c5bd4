/*
 * votes.c - vote records from tensor streams or JSONL.
 */
#include "data/votes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/io.h"
#include "stream/jsonl.h"
#include "stream/jsonraw.h"
#include "stream/tstream.h"

struct rm_votes {
	struct rm_in *in;
	struct rm_tsr *ts;
	struct rm_jsonl *js;
	double *rewards;
	size_t cap;
	char where[600];
};

const char *
rm_vote_kind_name(enum rm_vote_kind k)
{
	static const char *const names[] = { "pair", "delta", "group", "single" };

	return (unsigned)k < 4 ? names[k] : "?";
}

int
rm_votes_open(struct rm_votes **vp, const char *path, struct rm_error *err)
{
	struct rm_votes *vs;
	int rc;

	*vp = NULL;
	vs = calloc(1, sizeof *vs);
	if (vs == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	if ((rc = rm_in_open(&vs->in, path, err)) < 0)
		goto fail;
	if ((rc = rm_tsr_detect(vs->in, err)) < 0)
		goto fail;
	rc = rc ? rm_tsr_open(&vs->ts, vs->in, err) :
	    rm_jsonl_open(&vs->js, vs->in, err);
	if (rc < 0)
		goto fail;
	*vp = vs;
	return 0;
fail:
	rm_votes_close(vs);
	return rc;
}

const char *
rm_votes_name(const struct rm_votes *vs)
{
	return rm_in_name(vs->in);
}

int
rm_votes_is_tstream(const struct rm_votes *vs)
{
	return vs->ts != NULL;
}

void
rm_votes_close(struct rm_votes *vs)
{
	if (vs == NULL)
		return;
	rm_tsr_close(vs->ts);
	rm_jsonl_free(vs->js);
	rm_in_close(vs->in);
	free(vs->rewards);
	free(vs);
}

static int
grow(struct rm_votes *vs, size_t k, struct rm_error *err)
{
	double *p;

	if (k <= vs->cap)
		return 0;
	p = realloc(vs->rewards, k * sizeof *p);
	if (p == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	vs->rewards = p;
	vs->cap = k;
	return 0;
}

static int
check_finite(const struct rm_vote *v, const char *name, double x,
       struct rm_error *err)
{
	if (isfinite(x) && fabs(x) <= RM_SCORE_MAX)
		return 0;
	if (isfinite(x))
		return rm_error_set(err, RM_ENUM, "%s: score '%s' is %g, beyond "
		    "+-%g (statistics over it would overflow)", v->where, name, x,
		    RM_SCORE_MAX);
	return rm_error_set(err, RM_ENUM, "%s: score '%s' is not finite (%g)",
	    v->where, name, x);
}

/* Fill the kind-specific fields from the scores present; checks them. */
static int
classify(struct rm_vote *v, int has_c, int has_r, int has_d, int has_g,
	 int has_s, struct rm_error *err)
{
	if (has_c != has_r)
		return rm_error_set(err, RM_EDATA, "%s: '%s' without '%s'",
		    v->where, has_c ? "chosen" : "rejected",
		    has_c ? "rejected" : "chosen");
	if (has_c) {
		v->kind = RM_VOTE_PAIR;
		if (check_finite(v, "chosen", v->chosen, err) < 0 ||
		    check_finite(v, "rejected", v->rejected, err) < 0)
			return err ? err->code : RM_ENUM;
		v->delta = v->chosen - v->rejected;
	} else if (has_d) {
		v->kind = RM_VOTE_DELTA;
		if (check_finite(v, "delta", v->delta, err) < 0)
			return err ? err->code : RM_ENUM;
	} else if (has_g) {
		v->kind = RM_VOTE_GROUP;
		for (size_t i = 0; i < v->k; i++) {
			char name[32];
			snprintf(name, sizeof name, "rewards[%zu]", i);
			if (check_finite(v, name, v->rewards[i], err) < 0)
				return err ? err->code : RM_ENUM;
		}
	} else if (has_s) {
		v->kind = RM_VOTE_SINGLE;
		if (check_finite(v, "reward", v->reward, err) < 0)
			return err ? err->code : RM_ENUM;
	} else {
		return rm_error_set(err, RM_EDATA, "%s: no scores (expected "
		    "'chosen' and 'rejected', 'delta', 'rewards' or 'reward')",
		    v->where);
	}
	return 1;
}

/* An f32 scalar: 1 present, 0 absent, < 0 of the wrong type or shape. */
static int
ts_f32(const struct rm_record *rec, const char *name, double *x,
       struct rm_error *err)
{
	float f;
	int rc;

	if (rm_record_find(rec, name) == NULL)
		return 0;
	if ((rc = rm_record_f32(rec, name, &f, err)) < 0)
		return rc;
	*x = f;
	return 1;
}

static int
next_tstream(struct rm_votes *vs, struct rm_vote *v, struct rm_error *err)
{
	const struct rm_record *rec;
	const struct rm_tensor *t;
	int rc = rm_tsr_next(vs->ts, &rec, err);
	float f;

	if (rc <= 0)
		return rc;
	v->index = rec->index;
	snprintf(vs->where, sizeof vs->where, "%s: record %llu", rec->source,
	    (unsigned long long)rec->index);
	v->where = vs->where;
	if ((rc = rm_record_u64(rec, "id", &v->id, err)) < 0)
		return rc;
	if (rm_record_find(rec, "hash")) {
		if ((rc = rm_record_u64(rec, "hash", &v->hash, err)) < 0)
			return rc;
		v->has_hash = 1;
	}
	int has_c, has_r, has_d, has_s;
	if ((has_c = ts_f32(rec, "chosen", &v->chosen, err)) < 0 ||
	    (has_r = ts_f32(rec, "rejected", &v->rejected, err)) < 0 ||
	    (has_d = ts_f32(rec, "delta", &v->delta, err)) < 0 ||
	    (has_s = ts_f32(rec, "reward", &v->reward, err)) < 0)
		return err ? err->code : RM_EDATA;
	int has_g = rm_record_find(rec, "rewards") != NULL;
	if (has_g) {
		if ((rc = rm_record_get(rec, "rewards", RM_DT_F32, 1, &t, err)) < 0)
			return rc;
		v->k = (size_t)t->dims[0];
		if ((rc = grow(vs, v->k, err)) < 0)
			return rc;
		for (size_t i = 0; i < v->k; i++) {
			memcpy(&f, (const char *)t->data + 4 * i, 4);
			vs->rewards[i] = f;
		}
		v->rewards = vs->rewards;
	}
	return classify(v, has_c, has_r, has_d, has_g, has_s, err);
}

/* A number field: 1 present, 0 absent, < 0 not a number.  cJSON turns an
 * overflowing literal such as 1e999 into inf, which classify() reports. */
static int
json_num(const struct rm_json_record *rec, const char *key, double *x,
	 struct rm_error *err)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(rec->json, key);

	if (f == NULL || cJSON_IsNull(f))
		return 0;
	if (!cJSON_IsNumber(f))
		return rm_error_set(err, RM_EDATA, "%s: field '%s' is not a number",
		    rec->where, key);
	*x = f->valuedouble;
	return 1;
}

static int
next_jsonl(struct rm_votes *vs, struct rm_vote *v, struct rm_error *err)
{
	struct rm_json_record rec;
	const cJSON *g;
	int rc = rm_jsonl_next(vs->js, &rec, err);
	int has_c, has_r, has_d, has_s, has_g = 0;

	if (rc <= 0)
		return rc;
	snprintf(vs->where, sizeof vs->where, "%s", rec.where);
	v->where = vs->where;
	v->index = rec.index;
	if ((rc = rm_json_u64(&rec, "id", &v->id, err)) < 0)
		return rc;
	if (rc == 0)
		v->id = rec.index;
	if ((rc = rm_json_u64(&rec, "hash", &v->hash, err)) < 0)
		return rc;
	v->has_hash = rc;
	if ((has_c = json_num(&rec, "chosen", &v->chosen, err)) < 0 ||
	    (has_r = json_num(&rec, "rejected", &v->rejected, err)) < 0 ||
	    (has_d = json_num(&rec, "delta", &v->delta, err)) < 0 ||
	    (has_s = json_num(&rec, "reward", &v->reward, err)) < 0)
		return err ? err->code : RM_EDATA;
	g = cJSON_GetObjectItemCaseSensitive(rec.json, "rewards");
	if (g != NULL && !cJSON_IsNull(g)) {
		const cJSON *e;
		size_t i = 0;

		if (!cJSON_IsArray(g))
			return rm_error_set(err, RM_EDATA,
			    "%s: field 'rewards' is not an array", rec.where);
		v->k = (size_t)cJSON_GetArraySize(g);
		if ((rc = grow(vs, v->k, err)) < 0)
			return rc;
		cJSON_ArrayForEach(e, g) {
			if (!cJSON_IsNumber(e))
				return rm_error_set(err, RM_EDATA,
				    "%s: 'rewards[%zu]' is not a number", rec.where, i);
			vs->rewards[i++] = e->valuedouble;
		}
		v->rewards = vs->rewards;
		has_g = 1;
	}
	return classify(v, has_c, has_r, has_d, has_g, has_s, err);
}

int
rm_votes_next(struct rm_votes *vs, struct rm_vote *v, struct rm_error *err)
{
	memset(v, 0, sizeof *v);
	return vs->ts ? next_tstream(vs, v, err) : next_jsonl(vs, v, err);
}

/* Pair and delta scores mix: both give a reward difference. */
static int
family(enum rm_vote_kind k)
{
	return k == RM_VOTE_DELTA ? RM_VOTE_PAIR : k;
}

int
rm_votes_read_row(struct rm_votes **vs, size_t m, struct rm_vote *v,
		  uint64_t i, struct rm_error *err)
{
	int got0 = 0;

	for (size_t j = 0; j < m; j++) {
		int rc = rm_votes_next(vs[j], &v[j], err);

		if (rc < 0)
			return rc;
		if (j == 0)
			got0 = rc;
		else if (rc != got0)
			return rm_error_set(err, RM_EDATA,
			    "%s: %s after %llu records, but %s %s",
			    rm_votes_name(vs[j]), rc ? "goes on" : "ends",
			    (unsigned long long)i, rm_votes_name(vs[0]),
			    rc ? "ends there" : "goes on");
		if (rc == 0)
			continue;
		if (j == 0)
			continue;
		if (family(v[j].kind) != family(v[0].kind))
			return rm_error_set(err, RM_EDATA,
			    "%s: %s scores, but %s has %s scores", v[j].where,
			    rm_vote_kind_name(v[j].kind), v[0].where,
			    rm_vote_kind_name(v[0].kind));
		if (v[j].id != v[0].id)
			return rm_error_set(err, RM_EDATA,
			    "%s: id %llu does not match %s (id %llu)", v[j].where,
			    (unsigned long long)v[j].id, v[0].where,
			    (unsigned long long)v[0].id);
		if (v[j].has_hash && v[0].has_hash && v[j].hash != v[0].hash)
			return rm_error_set(err, RM_EDATA,
			    "%s: id %llu: hash %llu does not match %s (hash %llu)",
			    v[j].where, (unsigned long long)v[j].id,
			    (unsigned long long)v[j].hash, v[0].where,
			    (unsigned long long)v[0].hash);
	}
	return got0;
}
