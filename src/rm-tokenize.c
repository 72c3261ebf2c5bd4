/*
 * rm-tokenize - preference records to a token stream.
 *
 * Records are read in batches; each batch is tokenized in parallel (one
 * tokenizer context per thread) and written in input order, so the output
 * is the same for any -j.  With 2 or more threads a reader thread
 * decompresses and splits the next batch while the workers tokenize this
 * one (two batches in flight, so memory stays flat in the input size).
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/bpe.h"
#include "base/buf.h"
#include "base/hash.h"
#include "cli/cli.h"
#include "cli/layoutopt.h"
#include "stream/io.h"
#include "stream/jsonl.h"
#include "base/pool.h"
#include "text/prefs.h"
#include "text/tokspec.h"
#include "stream/tstream.h"

#define BATCH 512
#define MAX_KEEP 16
/* --special-tokens template: split, except inside message contents */
#define SPECIALS_TEMPLATE 2

static const char usage_text[] =
"usage: rm-tokenize [-hkqz] [-j threads] [-o file] [-t tokenizer] [-s shape]\n"
"                   [-T template] [-m max-len] [--overlong cut|drop]\n"
"                   [--eos] [--no-eos] [--special-tokens split|text|template]\n"
"                   [--merge-turns]\n"
"                   [--prompt-key key[,key...]] [--chosen-key key]\n"
"                   [--rejected-key key] [--a-key key] [--b-key key]\n"
"                   [--label-key key[,key...]] [--label-values a,b[,tie]|sign]\n"
"                   [--responses-key key] [--score-key key] [--rank-key key]\n"
"                   [--codes-key key] [--pairs all|best|random] [--seed n]\n"
"                   [--ties keep|drop] [--concat] [--keep field]... [file]\n";

static void
usage(FILE *f)
{
	fputs(usage_text, f);
	if (f == stdout)
		fputs(
"Tokenize preference records (pairs, groups, single responses) into a\n"
"tensor stream.\n"
"  -t, --tokenizer SPEC  gpt2 (default), bytes, a model directory (its\n"
"                        tokenizer.json and tokenizer_config.json),\n"
"                        tokenizer.json, or ENC,VOCAB\n"
"  -s, --shape SHAPE     auto (default), hh, standard, conversational, turns,\n"
"                        sharegpt, group, single, pandalm, shp, arena,\n"
"                        helpsteer2, ab, ultrafeedback, nectar, codes, scored\n"
"  -T, --template NAME   chat template: hh (default without a model\n"
"                        directory), chatml, qwen3, llama3, llama3-header,\n"
"                        gemma, mistral, deepseek3\n"
"  -m, --max-len N       at most N tokens per sequence, EOS included\n"
"      --overlong MODE   a response longer than the limit: cut (default) or drop\n"
"      --eos             append the end-of-text id (default with -T hh)\n"
"      --no-eos          do not append it (default with a chat template)\n"
"      --special-tokens M  special-token text: split (as the token; the\n"
"                        default for tokenizer.json), text, or template\n"
"                        (the template's own are tokens, any in message\n"
"                        contents text: a prompt-injection guard)\n"
"      --merge-turns     join consecutive turns of one role (a blank line\n"
"                        between), for templates that need alternating roles\n"
"      --prompt-key K,...  the prompt's field (several: joined by a blank line)\n"
"      --a-key K, --b-key K  the two responses of an A-versus-B layout\n"
"      --label-key K,...   its label (several: annotators, the majority wins)\n"
"      --label-values A,B[,TIE]  label values meaning A won, B won, a tie;\n"
"                        or sign: negative A, positive B, 0 tie\n"
"      --responses-key K the list of rated responses\n"
"      --score-key K     their score (higher better; a dotted path inside a\n"
"                        response object, or a list beside the responses)\n"
"      --rank-key K      or their rank (lower better)\n"
"      --codes-key K     the list of pairwise codes (one per pair of answers)\n"
"      --pairs RULE      rated responses to pairs: all (default), best (the\n"
"                        best against each other one), random (the best\n"
"                        against one other, drawn with --seed)\n"
"      --seed N          the seed of --pairs random (default 1)\n"
"      --ties MODE       labelled ties: keep (target 0.5, default) or drop\n"
"      --concat          join a plain-text prompt and response as they are\n"
"                        (as TRL does) instead of through the template\n"
"      --keep FIELD      carry a numeric or string field into the stream\n"
"  -k, --skip-invalid    report invalid records on stderr and go on\n"
"  -j, --threads N       worker threads (default: all cores)\n"
"  -o, --output FILE     write to FILE (atomically) instead of stdout\n"
"  -z, --zstd            compress the output\n"
"  -q, --quiet           no summary on stderr\n"
"  -h, --help            this help\n"
"      --version         print the version\n", f);
}

struct opts {
	struct rm_pref_options pref;
	long max_len;
	int overlong_drop;
	int eos;                /* append eos_id */
	int32_t eos_id;
	int32_t lead[8];        /* BOS: kept first through truncation */
	size_t nlead;
	int lead_always;        /* add lead when absent (post_processor) */
	int32_t tail[8];        /* the post_processor's ids after the text */
	size_t ntail;
	int exact;              /* token bytes are text bytes (tokens_within) */
	int plain_content;      /* --special-tokens template */
	const char *keep[MAX_KEEP];
	size_t nkeep;
	int drop_ties;
};

struct item {
	int bad;                /* invalid record (message in msg) */
	int dropped, truncated;
	uint64_t id, hash;
	struct rm_pref pref;
	int has_margin, has_target, has_agreement, has_graded;
	int tie;                /* a labelled tie (dropped with --ties drop) */
	float margin, target, agreement, graded;
	cJSON *keep[MAX_KEEP];  /* copies of kept fields */
	int32_t prompt_len;
	int pending;            /* raw line read, to be parsed by a worker */
	struct rm_buf rec;      /* the encoded output record */
	char *raw;              /* the line (JSON Lines input) */
	size_t raw_len, raw_cap, index, line;
	size_t *off;            /* rated: the end of each record in rec */
	size_t noff, offcap;
	struct rm_buf one;      /* rated: one record being encoded */
	struct rm_ids seq[RM_PREF_MAX_RESPONSES];
	char msg[1024];
	char where[256];
};

struct job {
	const struct opts *o;
	const char *outname;
	const struct rm_bpe *bpe;
	struct rm_bpe_ctx **ctx;
	char **text;            /* per-thread concatenation buffer */
	size_t *text_cap;
	struct item *items;
};

static int load_item(const struct opts *o, const struct rm_json_record *rec,
		     struct item *it);

/* Read up to BATCH lines (or array elements) into items; parsed in the
 * workers.  1 at the end of the input, 0 if more may follow, or an error. */
static int
read_batch(struct rm_jsonl *jr, struct item *items, size_t *np,
	   struct rm_error *err)
{
	size_t n = 0;
	int eof = 0;

	while (n < BATCH) {
		struct item *it = &items[n];
		struct rm_json_line ln;
		int rc = rm_jsonl_next_line(jr, &ln, err);

		if (rc == 0) {
			eof = 1;
			break;
		}
		if (rc < 0) {
			*np = n;
			return -1;
		}
		if (ln.len + 1 > it->raw_cap) {
			char *t = realloc(it->raw, ln.len + 1);
			if (t == NULL) {
				*np = n;
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			}
			it->raw = t;
			it->raw_cap = ln.len + 1;
		}
		memcpy(it->raw, ln.raw, ln.len);
		it->raw_len = ln.len;
		it->index = ln.index;
		it->line = ln.line;
		snprintf(it->where, sizeof it->where, "%s", ln.where);
		it->pending = 1;
		n++;
	}
	*np = n;
	return eof;
}

/*
 * The reader thread: fills the two batches in turn, each once the main
 * thread has written and given it back.  Only it touches jr while it runs.
 */
struct reader {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rm_jsonl *jr;
	struct item *buf[2];
	size_t n[2];
	int full[2];            /* filled, not yet taken back by main */
	int rc[2];              /* read_batch's result for that batch */
	struct rm_error err;    /* the reader's error (rc -1) */
	int stop;               /* main is done: leave */
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;

	for (int k = 0;; k ^= 1) {
		size_t n;
		int rc;

		pthread_mutex_lock(&r->mu);
		while (r->full[k] && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop) {
			pthread_mutex_unlock(&r->mu);
			return NULL;
		}
		pthread_mutex_unlock(&r->mu);
		rc = read_batch(r->jr, r->buf[k], &n, &r->err);
		pthread_mutex_lock(&r->mu);
		r->n[k] = n;
		r->rc[k] = rc;
		r->full[k] = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (rc != 0)
			return NULL;
	}
}

static int encode_item(struct item *it, const struct opts *o,
		       const char *outname, struct rm_error *err);
static int encode_rated(struct item *it, const struct opts *o,
			const char *outname, struct rm_error *err);

/* Leading tokens that lie wholly inside the first prompt_bytes bytes. */
static size_t
tokens_within(const struct rm_bpe *bpe, const struct rm_ids *ids,
	      size_t prompt_bytes)
{
	size_t bytes = 0, i;

	for (i = 0; i < ids->n; i++) {
		const char *s;
		size_t len;
		if (rm_bpe_token(bpe, ids->v[i], &s, &len) < 0)
			break;
		if (bytes + len > prompt_bytes)
			break;
		bytes += len;
	}
	return i;
}

/*
 * encode - the ids of text (the prompt followed by response ri, or the
 * prompt alone with ri SIZE_MAX); with --special-tokens template, special
 * tokens are split out only outside the messages' contents.
 */
static int
encode(struct job *j, int thread, const struct rm_pref *p, size_t ri,
       const char *text, size_t len, struct rm_ids *out,
       struct rm_error *err)
{
	struct rm_span all = { 0, len }, *sp;
	size_t n = 0;
	int rc;

	if (!j->o->plain_content)
		return rm_bpe_encode(j->ctx[thread], text, len, out, err);
	if (p->spans == RM_PREF_SPANS_UNKNOWN)
		return rm_error_set(err, RM_EDATA, "--special-tokens template: "
		    "where the contents are is not known for a conversation "
		    "of several turns in an A-versus-B layout");
	if (p->spans == RM_PREF_SPANS_NONE)
		return rm_bpe_encode_plain(j->ctx[thread], text, len, &all, 1,
		    out, err);
	const struct rm_tspans *ps = &p->prompt_spans,
	    *rs = ri == SIZE_MAX ? NULL : &p->resp_spans[ri];
	sp = malloc((ps->n + (rs ? rs->n : 0) + 1) * sizeof *sp);
	if (sp == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t k = 0; k < ps->n; k++)
		sp[n++] = ps->v[k];
	for (size_t k = 0; rs && k < rs->n; k++) {
		sp[n] = rs->v[k];
		sp[n++].off += p->prompt_len;
	}
	rc = rm_bpe_encode_plain(j->ctx[thread], text, len, sp, n, out, err);
	free(sp);
	return rc;
}

static void
tokenize_item(void *vctx, size_t task, int thread)
{
	struct job *j = vctx;
	struct item *it = &j->items[task];
	const struct opts *o = j->o;
	struct rm_pref *p = &it->pref;
	struct rm_error err;
	size_t plen = SIZE_MAX, maxresp = 0, n = p->n;
	int32_t eos = o->eos ? o->eos_id : -1;
	size_t extra, nlead = 0;

	if (it->pending) {
		struct rm_json_line ln = { it->raw, it->raw_len, it->index,
		    it->line, it->where };
		struct rm_json_record rec;
		cJSON *json;

		it->pending = 0;
		it->id = it->index;
		if (rm_json_parse_record(&ln, &rec, &json, &err) < 0) {
			it->bad = 1;
			snprintf(it->msg, sizeof it->msg, "%s", err.msg);
			return;
		}
		load_item(o, &rec, it);
		cJSON_Delete(json);
		n = p->n;
	}
	if (it->bad || (it->tie && o->drop_ties))
		return;
	for (size_t i = 0; i < n; i++) {
		size_t need = p->prompt_len + p->resp_len[i] + 1;
		if (need > j->text_cap[thread]) {
			char *t = realloc(j->text[thread], need);
			if (t == NULL)
				goto nomem;
			j->text[thread] = t;
			j->text_cap[thread] = need;
		}
		memcpy(j->text[thread], p->prompt, p->prompt_len);
		memcpy(j->text[thread] + p->prompt_len, p->resp[i], p->resp_len[i]);
		it->seq[i].n = 0;
		if (encode(j, thread, p, i, j->text[thread],
		    p->prompt_len + p->resp_len[i], &it->seq[i], &err) < 0)
			goto fail;
		if (o->exact) {
			size_t pl = tokens_within(j->bpe, &it->seq[i],
			    p->prompt_len);
			if (pl < plen)
				plen = pl;
		}
	}
	if (!o->exact) {
		/* a normalizing tokenizer: the prompt's own ids, as far as
		 * every sequence starts with them */
		struct rm_ids *pi = &it->seq[RM_PREF_MAX_RESPONSES - 1];
		pi->n = 0;
		if (n >= RM_PREF_MAX_RESPONSES) {
			rm_error_set(&err, RM_EDATA, "more than %d responses",
			    RM_PREF_MAX_RESPONSES - 1);
			goto fail;
		}
		if (encode(j, thread, p, SIZE_MAX, p->prompt, p->prompt_len,
		    pi, &err) < 0)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			size_t k = 0;
			while (k < pi->n && k < it->seq[i].n &&
			    pi->v[k] == it->seq[i].v[k])
				k++;
			if (k < plen)
				plen = k;
		}
	}
	/* BOS: take it off the front (truncation keeps it), add it back */
	if (o->nlead > 0) {
		int all = 1;
		for (size_t i = 0; i < n && all; i++)
			all = it->seq[i].n >= o->nlead && memcmp(it->seq[i].v,
			    o->lead, o->nlead * sizeof *o->lead) == 0;
		if (all) {
			for (size_t i = 0; i < n; i++) {
				memmove(it->seq[i].v, it->seq[i].v + o->nlead,
				    (it->seq[i].n - o->nlead) * sizeof(int32_t));
				it->seq[i].n -= o->nlead;
			}
			plen = plen >= o->nlead ? plen - o->nlead : 0;
		}
		if (all || o->lead_always)
			nlead = o->nlead;
	}
	/* the post_processor's trailing ids, unless already there */
	for (size_t i = 0; i < n && o->ntail; i++) {
		struct rm_ids *q = &it->seq[i];
		if (q->n >= o->ntail && memcmp(q->v + q->n - o->ntail, o->tail,
		    o->ntail * sizeof *o->tail) == 0)
			continue;
		for (size_t k = 0; k < o->ntail; k++)
			if (rm_ids_push(q, o->tail[k], &err) < 0)
				goto nomem;
	}
	extra = nlead + (eos >= 0);
	for (size_t i = 0; i < n; i++)
		if (it->seq[i].n - plen > maxresp)
			maxresp = it->seq[i].n - plen;
	if (o->max_len > 0 && plen + maxresp + extra > (size_t)o->max_len) {
		size_t limit = (size_t)o->max_len;
		it->truncated = 1;
		if (maxresp + extra <= limit) {
			/* Drop the oldest prompt tokens, the same for every response. */
			size_t cut = plen + maxresp + extra - limit;
			for (size_t i = 0; i < n; i++) {
				memmove(it->seq[i].v, it->seq[i].v + cut,
				    (it->seq[i].n - cut) * sizeof(int32_t));
				it->seq[i].n -= cut;
			}
			plen -= cut;
		} else if (o->overlong_drop) {
			it->dropped = 1;
			return;
		} else {
			/* No prompt left; each response keeps its beginning. */
			for (size_t i = 0; i < n; i++) {
				size_t keep = it->seq[i].n - plen;
				if (keep > limit - extra)
					keep = limit - extra;
				memmove(it->seq[i].v, it->seq[i].v + plen,
				    keep * sizeof(int32_t));
				it->seq[i].n = keep;
			}
			plen = 0;
		}
	}
	if (eos >= 0)
		for (size_t i = 0; i < n; i++)
			if ((it->seq[i].n == 0 ||
			    it->seq[i].v[it->seq[i].n - 1] != eos) &&
			    rm_ids_push(&it->seq[i], eos, &err) < 0)
				goto nomem;
	if (nlead > 0) {
		for (size_t i = 0; i < n; i++) {
			struct rm_ids *q = &it->seq[i];
			if (rm_ids_reserve(q, nlead, &err) < 0)
				goto nomem;
			memmove(q->v + nlead, q->v, q->n * sizeof(int32_t));
			memcpy(q->v, o->lead, nlead * sizeof(int32_t));
			q->n += nlead;
		}
		plen += nlead;
	}
	it->prompt_len = (int32_t)plen;
	if ((p->kind == RM_PREF_RATED ? encode_rated(it, o, j->outname, &err) :
	    encode_item(it, o, j->outname, &err)) < 0) {
		it->bad = 2;
		snprintf(it->msg, sizeof it->msg, "%s", err.msg);
	}
	return;
nomem:
	it->bad = 2;
	snprintf(it->msg, sizeof it->msg, "%s: out of memory", it->where);
	return;
fail:
	it->bad = err.code == RM_ENOMEM ? 2 : 1;
	snprintf(it->msg, sizeof it->msg, "%.200s: %.800s", it->where, err.msg);
}

static void
item_release(struct item *it)
{
	rm_pref_release(&it->pref);
	for (size_t k = 0; k < MAX_KEEP; k++) {
		cJSON_Delete(it->keep[k]);
		it->keep[k] = NULL;
	}
	it->bad = it->dropped = it->truncated = it->tie = 0;
	it->has_margin = it->has_target = 0;
	it->has_agreement = it->has_graded = 0;
	it->noff = 0;
}

/* Parse one JSON record into an item; 0 or an error message in it->msg. */
static int
load_item(const struct opts *o, const struct rm_json_record *rec,
	  struct item *it)
{
	struct rm_error err = { 0 };
	const cJSON *idf = cJSON_GetObjectItemCaseSensitive(rec->json, "id");
	double v;
	int rc;

	if (it->where != rec->where)
		snprintf(it->where, sizeof it->where, "%s", rec->where);
	it->id = rec->index;
	it->hash = rec->hash;
	if (idf && cJSON_IsNumber(idf) && idf->valuedouble >= 0 &&
	    idf->valuedouble < 9007199254740992.0 &&
	    idf->valuedouble == floor(idf->valuedouble))
		it->id = (uint64_t)idf->valuedouble;
	if ((rc = rm_json_number_opt(rec, rec->json, "margin", &v, &err)) < 0)
		goto bad;
	if (rc) {
		if (!(fabs(v) <= 1e30)) {  /* as rm-train accepts (lib/train/pairs.c) */
			rm_error_set(&err, RM_EDATA, "%s: field 'margin' is %g, "
			    "beyond +-1e30", rec->where, v);
			goto bad;
		}
		it->has_margin = 1;
		it->margin = (float)v;
	}
	if ((rc = rm_json_number_opt(rec, rec->json, "target", &v, &err)) < 0)
		goto bad;
	if (rc) {
		if (v < 0 || v > 1) {
			rm_error_set(&err, RM_EDATA, "%s: field 'target' is %g, "
			    "not a probability in [0, 1]", rec->where, v);
			goto bad;
		}
		it->has_target = 1;
		it->target = (float)v;
	}
	for (size_t k = 0; k < o->nkeep; k++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(rec->json,
		    o->keep[k]);
		if (f == NULL)
			continue;
		if (!cJSON_IsNumber(f) && !cJSON_IsBool(f) && !cJSON_IsString(f)) {
			rm_error_set(&err, RM_EDATA, "%s: field '%s' to keep is not "
			    "a number, boolean or string", rec->where, o->keep[k]);
			goto bad;
		}
		it->keep[k] = cJSON_Duplicate(f, 1);
	}
	if (rm_pref_parse(rec, &o->pref, &it->pref, &err) < 0)
		goto bad;
	if (it->pref.labelled) {
		it->tie = it->pref.tie;
		if (!it->has_target && it->tie) {
			it->has_target = 1;
			it->target = 0.5f;
		}
		if (it->pref.votes > 1) {
			it->has_agreement = 1;
			it->agreement = (float)it->pref.agree / (float)it->pref.votes;
		}
		if (it->pref.has_graded) {
			it->has_graded = 1;
			it->graded = (float)it->pref.graded;
		}
	}
	return 0;
bad:
	it->bad = 1;
	snprintf(it->msg, sizeof it->msg, "%s", err.msg);
	return -1;
}

#define SCALAR(nm, dt, ptr) do { \
	snprintf(t[n].name, sizeof t[n].name, "%s", nm); \
	t[n].dtype = dt; t[n].ndim = 0; t[n].data = ptr; \
	t[n].nbytes = rm_dtype_size(dt); n++; } while (0)
#define VECTOR(nm, dt, ptr, len) do { \
	snprintf(t[n].name, sizeof t[n].name, "%s", nm); \
	t[n].dtype = dt; t[n].ndim = 1; t[n].dims[0] = len; t[n].data = ptr; \
	t[n].nbytes = (size_t)(len) * rm_dtype_size(dt); n++; } while (0)

/* The --keep fields of an item after t[0..n); returns the new count. */
static size_t
add_kept(struct rm_tensor *t, size_t n, const struct item *it,
	 const struct opts *o, double *kv)
{
	for (size_t k = 0; k < o->nkeep; k++) {
		const cJSON *f = it->keep[k];
		if (f == NULL)
			continue;
		if (cJSON_IsString(f)) {
			VECTOR(o->keep[k], RM_DT_U8, f->valuestring,
			    strlen(f->valuestring));
		} else {
			kv[k] = cJSON_IsBool(f) ? (cJSON_IsTrue(f) ? 1.0 : 0.0) :
			    f->valuedouble;
			SCALAR(o->keep[k], RM_DT_F64, &kv[k]);
		}
	}
	return n;
}

/* The item's output record, serialised into it->rec (in a worker). */
static int
encode_item(struct item *it, const struct opts *o, const char *outname,
	    struct rm_error *err)
{
	struct rm_tensor t[8 + MAX_KEEP];
	double kv[MAX_KEEP];
	int64_t *offs = NULL;
	int32_t *flat = NULL;
	size_t n = 0;
	int rc;

	memset(t, 0, sizeof t);
	SCALAR("id", RM_DT_U64, &it->id);
	SCALAR("hash", RM_DT_U64, &it->hash);
	switch (it->pref.kind) {
	case RM_PREF_PAIR:
		VECTOR("chosen", RM_DT_I32, it->seq[0].v, it->seq[0].n);
		VECTOR("rejected", RM_DT_I32, it->seq[1].v, it->seq[1].n);
		break;
	case RM_PREF_SINGLE:
		VECTOR("response", RM_DT_I32, it->seq[0].v, it->seq[0].n);
		break;
	case RM_PREF_GROUP: {
		size_t total = 0, k = it->pref.n;
		for (size_t i = 0; i < k; i++)
			total += it->seq[i].n;
		offs = malloc((k + 1) * sizeof *offs);
		flat = malloc((total ? total : 1) * sizeof *flat);
		if (offs == NULL || flat == NULL) {
			free(offs);
			free(flat);
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		}
		offs[0] = 0;
		for (size_t i = 0; i < k; i++) {
			memcpy(flat + offs[i], it->seq[i].v,
			    it->seq[i].n * sizeof *flat);
			offs[i + 1] = offs[i] + (int64_t)it->seq[i].n;
		}
		VECTOR("responses", RM_DT_I32, flat, total);
		VECTOR("offsets", RM_DT_I64, offs, k + 1);
		break;
	}
	default:
		break;
	}
	SCALAR("prompt_len", RM_DT_I32, &it->prompt_len);
	if (it->has_margin)
		SCALAR("margin", RM_DT_F32, &it->margin);
	if (it->has_target)
		SCALAR("target", RM_DT_F32, &it->target);
	if (it->has_agreement)
		SCALAR("agreement", RM_DT_F32, &it->agreement);
	if (it->has_graded)
		SCALAR("given_strength", RM_DT_F32, &it->graded);
	n = add_kept(t, n, it, o, kv);
	rc = rm_ts_encode(t, n, &it->rec, outname, it->id, err);
	free(offs);
	free(flat);
	return rc;
}

/* The pairs of a rated item, one record each, into it->rec. */
static int
encode_rated(struct item *it, const struct opts *o, const char *outname,
	     struct rm_error *err)
{
	struct rm_tensor t[10 + MAX_KEEP];
	double kv[MAX_KEEP];
	const struct rm_pref *p = &it->pref;

	rm_buf_reset(&it->rec);
	it->noff = 0;
	for (size_t i = 0; i < p->npairs; i++) {
		const struct rm_pref_pair *q = &p->pairs[i];
		uint64_t id = RM_PREF_PAIR_STRIDE * p->source_id + q->index;
		int32_t pix = (int32_t)q->index;
		float target = q->has_target ? (float)q->target : 0.5f;
		float margin = (float)q->margin, given = (float)q->graded;
		size_t n = 0;
		int rc;

		if (q->drop || (q->tie && o->drop_ties))
			continue;
		memset(t, 0, sizeof t);
		SCALAR("id", RM_DT_U64, &id);
		SCALAR("hash", RM_DT_U64, &it->hash);
		VECTOR("chosen", RM_DT_I32, it->seq[q->a].v, it->seq[q->a].n);
		VECTOR("rejected", RM_DT_I32, it->seq[q->b].v, it->seq[q->b].n);
		SCALAR("prompt_len", RM_DT_I32, &it->prompt_len);
		if (q->has_margin)
			SCALAR("margin", RM_DT_F32, &margin);
		if (q->has_target || q->tie)
			SCALAR("target", RM_DT_F32, &target);
		if (q->has_graded)
			SCALAR("given_strength", RM_DT_F32, &given);
		SCALAR("source_id", RM_DT_U64, (void *)&p->source_id);
		SCALAR("pair_index", RM_DT_I32, &pix);
		n = add_kept(t, n, it, o, kv);
		if ((rc = rm_ts_encode(t, n, &it->one, outname, id, err)) < 0)
			return rc;
		if (it->noff == it->offcap) {
			size_t cap = it->offcap ? 2 * it->offcap : 16;
			size_t *x = realloc(it->off, cap * sizeof *x);
			if (x == NULL)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			it->off = x;
			it->offcap = cap;
		}
		if (rm_buf_append(&it->rec, it->one.p, it->one.len) < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		it->off[it->noff++] = it->rec.len;
	}
	return 0;
}

/* One invalid record as a JSON line on stderr. */
static void
report_skip(const struct item *it)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddNumberToObject(o, "id", (double)it->id);
	cJSON_AddStringToObject(o, "error", it->msg);
	s = cJSON_PrintUnformatted(o);
	if (s)
		fprintf(stderr, "%s\n", s);
	free(s);
	cJSON_Delete(o);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tokenizer", required_argument, NULL, 't' },
		{ "template", required_argument, NULL, 'T' },
		{ "max-len", required_argument, NULL, 'm' },
		{ "overlong", required_argument, NULL, 'O' },
		{ "no-eos", no_argument, NULL, 'E' },
		{ "eos", no_argument, NULL, 'e' },
		{ "special-tokens", required_argument, NULL, 'S' },
		{ "merge-turns", no_argument, NULL, 'G' },
		{ "keep", required_argument, NULL, 'K' },
		RM_LAYOUTOPT_LONGOPTS,
		{ "ties", required_argument, NULL, 'I' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'X' },
		{ "skip-invalid", no_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "zstd", no_argument, NULL, 'z' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .eos = -1 };
	struct rm_tokconfig cfg = { 0 };
	int tmpl = -1, specials = -1;
	const char *tmpl_source = "built-in";
	char tmpl_hash[32] = "";
	const char *tokspec = "gpt2", *output = NULL, *input = NULL;
	int skip = 0, zstd = 0, quiet = 0, threads = 0, c, status = RM_EXIT_FAIL;
	struct rm_error err = { 0 };
	struct rm_bpe *bpe = NULL;
	struct rm_in *in = NULL;
	struct rm_out *out = NULL;
	struct rm_jsonl *jr = NULL;
	struct rm_tsw *w = NULL;
	struct rm_pool *pool = NULL;
	struct reader rd = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	pthread_t rd_thread;
	int rd_started = 0;
	struct item *cur = NULL;
	size_t nitems = 0;
	struct item *items = NULL;
	struct job job = { 0 };
	struct rm_progress prog;
	uint64_t nrec = 0, ntrunc = 0, ndrop = 0, nskip = 0, seen = 0;
	uint64_t nlab = 0, nties = 0, ndisagree = 0, nwritten = 0;
	uint64_t nrated = 0, nrpairs = 0, nrties = 0, nrdrop = 0;
	int done = 0, seed_set = 0;

	rm_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "t:s:T:m:kj:o:zqh", longopts,
	    NULL)) != -1) {
		if (rm_layoutopt_apply(c, optarg, &o.pref))
			continue;
		switch (c) {
		case 't': tokspec = optarg; break;
		case 's': rm_layoutopt_apply(RM_LAYOUTOPT_SHAPE, optarg, &o.pref); break;
		case 'T':
			if ((tmpl = rm_template_parse(optarg)) < 0)
				rm_usage_error("unknown template '%s' (known: %s)",
				    optarg, rm_template_names());
			break;
		case 'm': o.max_len = rm_opt_long("--max-len", optarg, 2, 1 << 24); break;
		case 'O':
			if (strcmp(optarg, "cut") != 0 && strcmp(optarg, "drop") != 0)
				rm_usage_error("--overlong takes cut or drop, not '%s'",
				    optarg);
			o.overlong_drop = strcmp(optarg, "drop") == 0;
			break;
		case 'G': o.pref.merge_turns = 1; break;
		case 'E': o.eos = 0; break;
		case 'e': o.eos = 1; break;
		case 'S':
			if (strcmp(optarg, "split") == 0)
				specials = RM_BPE_SPECIALS_SPLIT;
			else if (strcmp(optarg, "text") == 0)
				specials = RM_BPE_SPECIALS_TEXT;
			else if (strcmp(optarg, "template") == 0)
				specials = SPECIALS_TEMPLATE;
			else
				rm_usage_error("--special-tokens takes split, "
				    "text or template, not '%s'", optarg);
			break;
		case 'I':
			if (strcmp(optarg, "keep") != 0 && strcmp(optarg, "drop") != 0)
				rm_usage_error("--ties takes keep or drop, not '%s'",
				    optarg);
			o.drop_ties = strcmp(optarg, "drop") == 0;
			break;
		case 'p':
			if (rm_pair_rule_parse(optarg) < 0)
				rm_usage_error("--pairs takes all, best or random, "
				    "not '%s'", optarg);
			o.pref.pair_rule = (enum rm_pair_rule)rm_pair_rule_parse(optarg);
			break;
		case 'X':
			o.pref.pair_seed = (unsigned long long)rm_opt_long("--seed",
			    optarg, 0, 0x7fffffffffffffffL);
			seed_set = 1;
			break;
		case 'K': {
			static const char *const reserved[] = { "id", "hash",
			    "chosen", "rejected", "response", "responses",
			    "offsets", "prompt_len", "margin", "target",
			    "agreement", "given_strength", "source_id",
			    "pair_index" };
			if (o.nkeep == MAX_KEEP)
				rm_usage_error("at most %d --keep fields", MAX_KEEP);
			if (strlen(optarg) == 0 || strlen(optarg) > RM_TENSOR_MAX_NAME)
				rm_usage_error("--keep: bad field name '%s'", optarg);
			for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
				if (strcmp(optarg, reserved[i]) == 0)
					rm_usage_error("--keep: '%s' is always written "
					    "when present", optarg);
			o.keep[o.nkeep++] = optarg;
			break;
		}
		case 'k': skip = 1; break;
		case 'j': threads = rm_opt_threads(optarg); break;
		case 'o': output = optarg; break;
		case 'z': zstd = 1; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return rm_finish_stdout(RM_EXIT_OK);
		case 'V': rm_print_version();
		default: usage(stderr); return RM_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		rm_usage_error("one input file at most (ids count records from 0)");
	if (seed_set && o.pref.pair_rule != RM_PAIRS_RANDOM)
		rm_usage_error("--seed is for --pairs random");
	if (!seed_set)
		o.pref.pair_seed = 1;
	rm_layoutopt_check(&o.pref);
	if (optind < argc)
		input = argv[optind];
	if (threads == 0)
		threads = rm_ncores();

	if (rm_tokspec_open(&bpe, &cfg, tokspec, &err) < 0)
		goto fail;
	if (tmpl < 0 && cfg.chat_template) {
		const char *like = rm_template_guess(cfg.chat_template);
		tmpl = rm_template_recognise(cfg.chat_template);
		if (tmpl < 0) {
			rm_error_set(&err, RM_EDATA, "%s: chat_template is not one "
			    "rm-tokenize knows%s%s%s; pick a built-in with -T (%s)",
			    cfg.path, like ? " (it looks like " : "",
			    like ? like : "", like ? ")" : "", rm_template_names());
			goto fail;
		}
		tmpl_source = "tokenizer_config.json";
		snprintf(tmpl_hash, sizeof tmpl_hash, "%016llx",
		    (unsigned long long)rm_hash64(cfg.chat_template,
		    strlen(cfg.chat_template)));
	}
	if (tmpl < 0)
		tmpl = RM_TEMPLATE_HH;
	if (specials < 0)
		specials = strcmp(rm_bpe_name(bpe), "hf") == 0 ?
		    RM_BPE_SPECIALS_SPLIT : RM_BPE_SPECIALS_TEXT;
	o.exact = rm_bpe_exact_bytes(bpe);
	o.plain_content = specials == SPECIALS_TEMPLATE;
	o.pref.content_spans = o.plain_content;
	o.pref.chat.kind = (enum rm_template)tmpl;
	o.pref.chat.bos = cfg.bos_token ? cfg.bos_token : "";
	o.pref.chat.eos = cfg.eos_token ? cfg.eos_token : "";
	if (o.eos < 0)
		o.eos = tmpl == RM_TEMPLATE_HH;
	o.eos_id = -1;
	if (cfg.eos_token) {
		o.eos_id = rm_bpe_token_id(bpe, cfg.eos_token,
		    strlen(cfg.eos_token));
		if (o.eos_id < 0) {
			rm_error_set(&err, RM_EDATA, "%s: eos_token '%s' is not a "
			    "token of the tokenizer", cfg.path, cfg.eos_token);
			goto fail;
		}
	} else {
		o.eos_id = rm_bpe_eos(bpe);
	}
	if (o.eos && o.eos_id < 0)
		rm_warn("tokenizer '%s' has no end-of-text token: none appended",
		    tokspec);
	if (rm_in_open(&in, input, &err) < 0 ||
	    rm_jsonl_open(&jr, in, &err) < 0)
		goto fail;
	if (rm_out_open(&out, output, RM_OUT_BINARY | (zstd ? RM_OUT_ZSTD : 0),
	    0, &err) < 0)
		goto fail;
	{
		char meta[2048];
		/* the tokenizer's EOS whether appended or not (config.json's
		 * eos_token_id comes from it); eos_policy says which */
		int32_t eos = o.eos_id, bos = -1;
		const char *bos_policy = "none";
		const int32_t *pre, *suf;
		size_t npre, nsuf;
		rm_bpe_post(bpe, &pre, &npre, &suf, &nsuf);
		if (o.pref.chat.bos[0] && tmpl != RM_TEMPLATE_HH &&
		    tmpl != RM_TEMPLATE_CHATML && tmpl != RM_TEMPLATE_QWEN3) {
			/* the template writes BOS; apply_chat_template does not
			 * run the post_processor */
			bos = rm_bpe_token_id(bpe, o.pref.chat.bos,
			    strlen(o.pref.chat.bos));
			bos_policy = "template";
			if (bos >= 0) {
				o.lead[0] = bos;
				o.nlead = 1;
			}
		} else if (tmpl == RM_TEMPLATE_HH && (npre || nsuf)) {
			/* plain text: what tokenizer(text) adds */
			memcpy(o.lead, pre, npre * sizeof *pre);
			o.nlead = npre;
			o.lead_always = 1;
			memcpy(o.tail, suf, nsuf * sizeof *suf);
			o.ntail = nsuf;
			if (npre) {
				bos = pre[0];
				bos_policy = "tokenizer";
			}
		}
		snprintf(meta, sizeof meta,
		    "{\"tool\":\"rm-tokenize\",\"version\":\"%s\",\"tokenizer\":\"%s\","
		    "\"tokenizer_hash\":\"%016llx\",\"tokenizer_file_hash\":\"%016llx\","
		    "\"vocab_size\":%zu,\"bos_id\":%d,\"bos_policy\":\"%s\","
		    "\"eos_id\":%d,\"eos_policy\":\"%s\",\"special_tokens\":\"%s\","
		    "\"max_len\":%ld,\"template\":\"%s\",\"template_source\":\"%s\","
		    "\"template_hash\":\"%s\"%s}",
		    RM_VERSION, rm_bpe_name(bpe),
		    (unsigned long long)rm_bpe_hash(bpe),
		    (unsigned long long)rm_bpe_file_hash(bpe),
		    rm_bpe_vocab_size(bpe), (int)bos, bos_policy,
		    (int)eos, o.eos ? "append" : "none",
		    specials == SPECIALS_TEMPLATE ? "template" :
		    specials == RM_BPE_SPECIALS_SPLIT ? "split" : "text",
		    o.max_len, rm_template_name(o.pref.chat.kind), tmpl_source,
		    tmpl_hash, o.pref.merge_turns ? ",\"merge_turns\":true" : "");
		if (rm_tsw_open(&w, out, meta, &err) < 0)
			goto fail;
	}
	if (rm_pool_create(&pool, threads, &err) < 0)
		goto fail;
	nitems = threads > 1 ? 2 * BATCH : BATCH;
	items = calloc(nitems, sizeof *items);
	job.ctx = calloc((size_t)threads, sizeof *job.ctx);
	job.text = calloc((size_t)threads, sizeof *job.text);
	job.text_cap = calloc((size_t)threads, sizeof *job.text_cap);
	if (!items || !job.ctx || !job.text || !job.text_cap) {
		rm_error_set(&err, RM_ENOMEM, "out of memory");
		goto fail;
	}
	for (int t = 0; t < threads; t++)
	{
		if (rm_bpe_ctx_new(&job.ctx[t], bpe, &err) < 0)
			goto fail;
		rm_bpe_ctx_set_specials(job.ctx[t], specials == SPECIALS_TEMPLATE ?
		    RM_BPE_SPECIALS_SPLIT : specials);
	}
	job.o = &o;
	job.outname = rm_out_name(out);
	job.bpe = bpe;
	rm_progress_init(&prog, "records", 0);
	if (threads > 1) {
		rd.jr = jr;
		rd.buf[0] = items;
		rd.buf[1] = items + BATCH;
		if (pthread_create(&rd_thread, NULL, reader_main, &rd) != 0) {
			rm_error_set(&err, RM_ENOMEM, "cannot start the reader thread");
			goto fail;
		}
		rd_started = 1;
	}
	for (int k = 0; !done; k ^= 1) {
		size_t n = 0;
		int rc;

		if (rd_started) {
			pthread_mutex_lock(&rd.mu);
			while (!rd.full[k])
				pthread_cond_wait(&rd.cv, &rd.mu);
			n = rd.n[k];
			rc = rd.rc[k];
			pthread_mutex_unlock(&rd.mu);
			if (rc < 0)
				err = rd.err;
		} else {
			rc = read_batch(jr, items, &n, &err);
		}
		cur = rd_started ? rd.buf[k] : items;
		if (rc < 0)
			goto fail;
		done = rc > 0;
		seen += n;
		job.items = cur;
		rm_pool_run(pool, n, tokenize_item, &job);
		for (size_t i = 0; i < n; i++) {
			struct item *it = &cur[i];
			if (it->bad == 2) {
				rm_error_set(&err, RM_ENOMEM, "%s", it->msg);
				goto fail;
			}
			if (it->bad && !skip) {
				rm_error_set(&err, RM_EDATA, "%s", it->msg);
				goto fail;
			}
			if (!it->bad && it->pref.labelled) {
				nlab++;
				nties += it->tie;
				ndisagree += it->pref.agree < it->pref.votes;
			}
			if (it->bad) {
				report_skip(it);
				nskip++;
			} else if (it->tie && o.drop_ties) {
				;
			} else if (it->dropped) {
				ndrop++;
			} else if (it->pref.kind == RM_PREF_RATED) {
				size_t from = 0;
				nrated++;
				ntrunc += it->truncated;
				nrpairs += it->noff;
				for (size_t q = 0; q < it->pref.npairs; q++) {
					nrties += it->pref.pairs[q].tie;
					nrdrop += it->pref.pairs[q].drop;
				}
				for (size_t q = 0; q < it->noff; q++) {
					if (rm_tsw_write_encoded(w, it->rec.p + from,
					    it->off[q] - from, &err) < 0) {
						rm_error_prefix(&err, "%s", it->where);
						goto fail;
					}
					from = it->off[q];
				}
				nwritten += it->noff;
			} else {
				ntrunc += it->truncated;
				nwritten++;
				if (rm_tsw_write_encoded(w, it->rec.p, it->rec.len,
				    &err) < 0) {
					rm_error_prefix(&err, "%s", it->where);
					goto fail;
				}
			}
			item_release(it);
		}
		if (rd_started) {
			pthread_mutex_lock(&rd.mu);
			rd.full[k] = 0;
			pthread_cond_broadcast(&rd.cv);
			pthread_mutex_unlock(&rd.mu);
		}
		nrec += n;
		rm_progress_update(&prog, nrec, "%s", "");
	}
	rm_progress_end(&prog);
	if (nrec > 0 && nskip == nrec) {
		rm_error_set(&err, RM_EDATA, "%s: all %llu records are invalid: "
		    "nothing written", input ? input : "standard input",
		    (unsigned long long)nrec);
		goto fail;
	}
	if (rm_tsw_close(w, &err) < 0) {
		w = NULL;
		goto fail;
	}
	w = NULL;
	if (rm_out_commit(out, &err) < 0) {
		out = NULL;
		goto fail;
	}
	out = NULL;
	if (!quiet && (ntrunc || ndrop || nskip))
		rm_warn("%llu records: %llu truncated, %llu dropped, %llu invalid "
		    "skipped", (unsigned long long)nrec,
		    (unsigned long long)ntrunc, (unsigned long long)ndrop,
		    (unsigned long long)nskip);
	if (!quiet && nrated)
		rm_warn("%llu rated records: %llu pairs written (--pairs %s), "
		    "%llu ties %s, %llu dropped by their pair_labels",
		    (unsigned long long)nrated, (unsigned long long)nrpairs,
		    rm_pair_rule_name(o.pref.pair_rule),
		    (unsigned long long)nrties,
		    o.drop_ties ? "dropped" : "kept (target 0.5)",
		    (unsigned long long)nrdrop);
	if (!quiet && nlab)
		rm_warn("%llu labelled pairs: %llu ties %s, %llu with annotators "
		    "disagreeing", (unsigned long long)nlab,
		    (unsigned long long)nties,
		    o.drop_ties ? "dropped" : "kept (target 0.5)",
		    (unsigned long long)ndisagree);
	status = RM_EXIT_OK;
	goto done;
fail:
	if (err.code != RM_EPIPE)
		rm_warn_err(&err);
done:
	if (rd_started) {
		pthread_mutex_lock(&rd.mu);
		rd.stop = 1;
		pthread_cond_broadcast(&rd.cv);
		pthread_mutex_unlock(&rd.mu);
		pthread_join(rd_thread, NULL);
	}
	if (items)
		for (size_t i = 0; i < nitems; i++) {
			item_release(&items[i]);
			for (size_t k = 0; k < RM_PREF_MAX_RESPONSES; k++)
				rm_ids_release(&items[i].seq[k]);
			free(items[i].raw);
			free(items[i].off);
			rm_buf_release(&items[i].rec);
			rm_buf_release(&items[i].one);
		}
	free(items);
	if (job.ctx)
		for (int t = 0; t < threads; t++) {
			rm_bpe_ctx_free(job.ctx[t]);
			free(job.text[t]);
		}
	free(job.ctx);
	free(job.text);
	free(job.text_cap);
	rm_pool_free(pool);
	rm_tsw_free(w);
	rm_out_abort(out);
	rm_jsonl_free(jr);
	rm_in_close(in);
	rm_bpe_free(bpe);
	rm_tokconfig_release(&cfg);
	return rm_finish_stdout(status);
}
