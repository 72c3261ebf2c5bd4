/*
 * metarm.c - MetaRM: the difference loss on policy samples and the
 * first-order look-ahead step around the trainer's step (metarm.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stream/io.h"

#include "nn/loss.h"
#include "train/dist.h"
#include "train/metarm.h"
#include "nn/optim.h"
#include "train/score.h"

/* Dropout keys of meta sequences: apart from the pair batches' keys
 * (record index << 16 | sequence), which stay below 2^62. */
static size_t meta_rec_size(const struct rm_metarm *mr);

#define META_KEY_BIT ((uint64_t)1 << 62)
/* "meta" as the stream counter of the meta set's order. */
#define META_STREAM 0x6d657461ULL

double
rm_metarm_group_j(size_t k, const float *r, double scale, float *d_r,
		  double *abs_diff_sum)
{
	if (abs_diff_sum)
		*abs_diff_sum = 0;
	if (k < 2)
		return 0;
	double c = 2.0 / ((double)k * (double)k), j = 0, ad = 0;
	for (size_t a = 0; a < k; a++)
		for (size_t b = a + 1; b < k; b++) {
			double d = (double)r[a] - r[b], x = fabs(d);
			double s = rm_sigmoid(x);
			j += s;
			ad += x;
			if (d_r && d != 0) {
				/* d sigma(|d|)/d r_a = sigma' sign(d) */
				double g = scale * c * s * (1 - s) * (d > 0 ? 1 : -1);
				d_r[a] += (float)g;
				d_r[b] -= (float)g;
			}
		}
	if (abs_diff_sum)
		*abs_diff_sum = ad;
	return c * j;
}

void
rm_metarm_options_default(struct rm_metarm_options *o)
{
	o->meta_lr = 5e-6;
	o->meta_batch = 16;
	o->shuffle = 1;
}

int
rm_metarm_options_check(const struct rm_metarm_options *o, struct rm_error *err)
{
	if (!(o->meta_lr >= 0 && isfinite(o->meta_lr)))
		return rm_error_set(err, RM_EUSAGE, "meta learning rate must be >= 0");
	if (o->meta_batch < 1 || o->meta_batch > 1 << 20)
		return rm_error_set(err, RM_EUSAGE, "meta batch must be in [1, 2^20]");
	return 0;
}

/* ---- state: metarm_state.json in the checkpoint ----------------------- */

static int
save_state(void *ctx, const char *dir, struct rm_error *err)
{
	const struct rm_metarm *mr = ctx;
	char path[4200], text[512];
	snprintf(path, sizeof path, "%s/%s", dir, RM_METARM_STATE_FILE);
	int n = snprintf(text, sizeof text,
			 "{\"format\":\"rmkit-metarm-state\",\"pass\":\"%" PRIu64 "\","
			 "\"pos\":\"%zu\",\"meta_lr\":\"%.17g\",\"meta_batch\":\"%zu\","
			 "\"shuffle\":\"%d\",\"groups\":\"%zu\","
			 "\"groups_fingerprint\":\"%016" PRIx64 "\"}\n",
			 mr->pass, mr->pos, mr->opt.meta_lr, mr->opt.meta_batch,
			 mr->opt.shuffle, mr->groups->n, mr->fingerprint);
	return rm_atomic_write_file(path, text, (size_t)n, err);
}

static const char *
jstr(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

int
rm_metarm_resume(struct rm_metarm *mr, const char *dir, struct rm_error *err)
{
	char path[4200], *text, want[64];
	size_t n;
	snprintf(path, sizeof path, "%s/%s", dir, RM_METARM_STATE_FILE);
	int rc = rm_read_file(path, 1 << 16, &text, &n, err);
	if (rc < 0)
		return rc;
	cJSON *j = cJSON_Parse(text);
	free(text);
	if (!j || strcmp(jstr(j, "format"), "rmkit-metarm-state")) {
		cJSON_Delete(j);
		return rm_error_set(err, RM_EDATA, "%s: not a MetaRM state", path);
	}
	char *end;
	const char *what = NULL;
	snprintf(want, sizeof want, "%.17g", mr->opt.meta_lr);
	if (strcmp(jstr(j, "meta_lr"), want))
		what = "meta_lr";
	snprintf(want, sizeof want, "%zu", mr->opt.meta_batch);
	if (!what && strcmp(jstr(j, "meta_batch"), want))
		what = "meta_batch";
	snprintf(want, sizeof want, "%d", mr->opt.shuffle);
	if (!what && strcmp(jstr(j, "shuffle"), want))
		what = "shuffle";
	if (what) {
		rc = rm_error_set(err, RM_EUSAGE, "%s: option '%s' differs from the run being "
				  "resumed", dir, what);
		goto out;
	}
	snprintf(want, sizeof want, "%016" PRIx64, mr->fingerprint);
	if (strcmp(jstr(j, "groups_fingerprint"), want)) {
		rc = rm_error_set(err, RM_EDATA, "%s: the groups differ from the run being "
				  "resumed", dir);
		goto out;
	}
	mr->pass = strtoull(jstr(j, "pass"), &end, 10);
	mr->pos = strtoull(jstr(j, "pos"), &end, 10);
	if (mr->pos > mr->groups->n)
		rc = rm_error_set(err, RM_EDATA, "%s: position %zu past the %zu groups", path,
				  mr->pos, mr->groups->n);
out:
	cJSON_Delete(j);
	return rc;
}

void
rm_metarm_free(struct rm_metarm *mr)
{
	if (!mr)
		return;
	if (mr->tr && mr->tr->save_extra_ctx == mr) {
		mr->tr->save_extra = NULL;
		mr->tr->save_extra_ctx = NULL;
	}
	free(mr->order);
	free(mr->theta);
	free(mr->b_tokens);
	free(mr->b_offsets);
	free(mr->b_keys);
	free(mr->b_rewards);
	free(mr->b_drewards);
	free(mr->ustart);
	free(mr->ulen);
	free(mr->recs);
	free(mr);
}

int
rm_metarm_create(struct rm_metarm **out, struct rm_trainer *tr,
		 const struct rm_pairs *groups, const struct rm_metarm_options *o,
		 struct rm_error *err)
{
	*out = NULL;
	int rc = rm_metarm_options_check(o, err);
	if (rc)
		return rc;
	if (groups->kind != RM_PAIRS_GROUP || groups->n == 0)
		return rm_error_set(err, RM_EDATA,
				    "meta set: need groups of responses (responses, "
				    "offsets), found %s",
				    groups->n ? "other records" : "none");
	size_t budget = tr->opt.batch_tokens, kmax = 0;
	for (size_t i = 0; i < groups->n; i++) {
		const struct rm_pairs_rec *r = &groups->rec[i];
		if (r->n_seq < 2)
			return rm_error_set(err, RM_EDATA,
					    "meta set: record %zu (id %llu): a group "
					    "needs 2 responses or more, has %u",
					    r->index, (unsigned long long)r->id,
					    r->n_seq);
		if (rm_pairs_rec_tokens(groups, i) > budget)
			return rm_error_set(err, RM_EDATA,
					    "meta set: record %zu (id %llu): %zu tokens, "
					    "more than the batch budget %zu",
					    r->index, (unsigned long long)r->id,
					    rm_pairs_rec_tokens(groups, i), budget);
		if (r->n_seq > kmax)
			kmax = r->n_seq;
	}
	if (groups->longest_seq > (size_t)tr->model->cfg.n_positions)
		return rm_error_set(err, RM_EDATA,
				    "meta set: a response of %zu tokens is longer "
				    "than the model's %d positions",
				    groups->longest_seq, tr->model->cfg.n_positions);
	rc = rm_pairs_check_vocab(groups, tr->model->cfg.vocab_size, "meta set", err);
	if (rc)
		return rc;
	struct rm_metarm *mr = calloc(1, sizeof *mr);
	if (!mr)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	mr->opt = *o;
	mr->tr = tr;
	mr->groups = groups;
	mr->order_pass = UINT64_MAX;
	/* a micro-batch holds at most meta_batch groups and budget tokens */
	size_t ms = o->meta_batch * kmax;
	mr->max_seqs = ms < budget ? ms : budget;
	/* every group has 2 responses or more */
	mr->max_groups = mr->max_seqs / 2 < o->meta_batch ? mr->max_seqs / 2 : o->meta_batch;
	size_t np = tr->model->n_params;
	mr->order = malloc(groups->n * sizeof *mr->order);
	mr->theta = malloc(np * sizeof *mr->theta);
	mr->b_tokens = malloc(budget * sizeof *mr->b_tokens);
	mr->b_offsets = malloc((mr->max_seqs + 1) * sizeof *mr->b_offsets);
	mr->b_keys = malloc(mr->max_seqs * sizeof *mr->b_keys);
	mr->b_rewards = malloc(mr->max_seqs * sizeof *mr->b_rewards);
	mr->b_drewards = malloc(mr->max_seqs * sizeof *mr->b_drewards);
	mr->ustart = malloc(o->meta_batch * sizeof *mr->ustart);
	mr->ulen = malloc(o->meta_batch * sizeof *mr->ulen);
	mr->recs = malloc(o->meta_batch * meta_rec_size(mr));
	if (!mr->order || !mr->theta || !mr->b_tokens || !mr->b_offsets ||
	    !mr->b_keys || !mr->b_rewards || !mr->b_drewards || !mr->ustart ||
	    !mr->ulen || !mr->recs) {
		rm_metarm_free(mr);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	mr->fingerprint = rm_pairs_fingerprint(groups);
	tr->save_extra = save_state;
	tr->save_extra_ctx = mr;
	*out = mr;
	return 0;
}

/* The meta order of the current pass, recomputed when the pass changed. */
static void
meta_order(struct rm_metarm *mr)
{
	if (mr->order_pass == mr->pass)
		return;
	/* rm_pairs_order draws from (seed, "data", epoch); the meta set's
	 * passes use (seed ^ "meta") so their order is its own. */
	rm_pairs_order(mr->order, mr->groups->n, mr->tr->opt.seed ^ META_STREAM,
		       mr->pass, mr->opt.shuffle);
	mr->order_pass = mr->pass;
}

/*
 * The meta batch's micro-batches are work units (lib/train/dist.h): each
 * leaves its response and token counts and, per group, J and the sum of
 * |r_i - r_j|, summed afterwards in group order on every rank.
 */
struct meta_rec {
	uint64_t responses, tokens;
	double v[];  /* [2 groups]: J, sum |dr| */
};

static size_t
meta_rec_size(const struct rm_metarm *mr)
{
	return sizeof(struct meta_rec) + 2 * mr->max_groups * sizeof(double);
}

static struct meta_rec *
meta_record(const struct rm_metarm *mr, size_t u)
{
	return (struct meta_rec *)((char *)mr->recs + u * meta_rec_size(mr));
}

struct meta_ctx {
	struct rm_metarm *mr;
	const struct rm_pairs *p;
	const size_t *idx;
	size_t m;
	int grads;
	const struct rm_dropout *drop_tmpl;
};

static int
meta_unit(void *ctx, size_t u, struct rm_error *err)
{
	struct meta_ctx *c = ctx;
	struct rm_metarm *mr = c->mr;
	struct rm_trainer *tr = mr->tr;
	const struct rm_pairs *p = c->p;
	const size_t *idx = c->idx + mr->ustart[u];
	size_t k = mr->ulen[u];
	size_t ns = rm_pairs_pack(p, idx, k, mr->b_tokens, mr->b_offsets, mr->b_keys, NULL);
	for (size_t s = 0; s < ns; s++)
		mr->b_keys[s] |= META_KEY_BIT;
	struct rm_batch b = {ns, mr->b_tokens, mr->b_offsets};
	struct rm_dropout drop;
	if (c->drop_tmpl) {
		drop = *c->drop_tmpl;
		drop.keys = mr->b_keys;
	}
	int rc = rm_model_forward(tr->model, tr->ws, &b, c->drop_tmpl ? &drop : NULL,
				  mr->b_rewards, NULL, err);
	if (rc) {
		char ids[256];
		rm_ids_list(p, idx, k, ids, sizeof ids);
		return rm_error_prefix(err, "meta set: %s", ids);
	}
	if (c->grads)
		memset(mr->b_drewards, 0, ns * sizeof(float));
	struct meta_rec *r = meta_record(mr, u);
	size_t s = 0;
	for (size_t g = 0; g < k; g++) {
		size_t kg = p->rec[idx[g]].n_seq;
		r->v[2 * g] = rm_metarm_group_j(kg, mr->b_rewards + s, 1.0 / (double)c->m,
						c->grads ? mr->b_drewards + s : NULL, &r->v[2 * g + 1]);
		s += kg;
	}
	r->responses = ns;
	r->tokens = mr->b_offsets[ns];
	if (c->grads)
		return rm_model_backward(tr->model, tr->ws, mr->b_drewards, NULL, err);
	return 0;
}

/* rm_metarm_j with dropout (NULL: none). */
static int
meta_j(struct rm_metarm *mr, const struct rm_pairs *p, const size_t *idx,
       size_t m, int grads, const struct rm_dropout *drop_tmpl,
       struct rm_metarm_stats *ms, struct rm_error *err)
{
	struct rm_trainer *tr = mr->tr;
	size_t budget = tr->opt.batch_tokens, done = 0, nu = 0;
	/* plan the micro-batches: whole groups within the token budget */
	while (done < m) {
		size_t k = rm_pairs_fit(p, idx + done, m - done, budget, 0);
		/* keep the sequence count within the buffers */
		size_t ns = 0, kk = 0;
		for (; kk < k && kk < mr->max_groups; kk++) {
			size_t n = p->rec[idx[done + kk]].n_seq;
			if (ns + n > mr->max_seqs)
				break;
			ns += n;
		}
		k = kk;
		if (k == 0)
			return rm_error_set(err, RM_EDATA,
					    "meta set: record %zu does not fit a batch",
					    p->rec[idx[done]].index);
		mr->ustart[nu] = done;
		mr->ulen[nu] = k;
		nu++;
		done += k;
	}
	struct meta_ctx c = {mr, p, idx, m, grads, drop_tmpl};
	struct rm_dist_job job = {0};
	job.units = nu;
	job.compute = meta_unit;
	job.ctx = &c;
	if (grads) {
		job.seg[0].p = tr->model->grads_mem;
		job.seg[0].n = tr->model->n_params;
		job.nseg = 1;
	}
	job.rec = mr->recs;
	job.rec_size = meta_rec_size(mr);
	int rc = rm_dist_run(tr->sum, &job, err);
	if (rc)
		return rc;
	double jsum = 0, adsum = 0;
	size_t npairs = 0;
	ms->responses = ms->tokens = 0;
	for (size_t u = 0; u < nu; u++) {
		const struct meta_rec *r = meta_record(mr, u);
		for (size_t g = 0; g < mr->ulen[u]; g++) {
			size_t kg = p->rec[idx[mr->ustart[u] + g]].n_seq;
			jsum += r->v[2 * g];
			adsum += r->v[2 * g + 1];
			npairs += kg * (kg - 1) / 2;
		}
		ms->responses += (size_t)r->responses;
		ms->tokens += (size_t)r->tokens;
	}
	ms->groups = m;
	ms->j = jsum / (double)m;
	ms->abs_diff = npairs ? adsum / (double)npairs : 0;
	if (!isfinite(ms->j))
		return rm_error_set(err, RM_ENUM, "meta set: J is not finite");
	return 0;
}

int
rm_metarm_step(struct rm_metarm *mr, struct rm_metarm_stats *msp,
	       struct rm_train_stats *st, struct rm_error *err)
{
	struct rm_trainer *tr = mr->tr;
	struct rm_model *model = tr->model;
	struct rm_metarm_stats ms = {0};
	size_t n = mr->groups->n;
	/* the next meta batch (wrapping into the next pass; a batch never
	 * holds a group twice unless the set is smaller than the batch) */
	if (mr->pos >= n) {
		mr->pass++;
		mr->pos = 0;
	}
	meta_order(mr);
	size_t m = mr->opt.meta_batch;
	if (m > n - mr->pos)
		m = n - mr->pos;
	const size_t *idx = mr->order + mr->pos;

	struct rm_dropout drop = {.seed = tr->opt.seed, .step = tr->step,
				  .embd = tr->opt.dropout, .attn = tr->opt.dropout,
				  .resid = tr->opt.dropout};
	rm_model_zero_grad(model);
	int rc = meta_j(mr, mr->groups, idx, m, 1, tr->opt.dropout > 0 ? &drop : NULL,
			&ms, err);
	if (rc)
		return rc;
	ms.j_grad_norm = rm_grad_norm(model->grads_mem, model->n_params);
	if (!isfinite(ms.j_grad_norm)) {
		char ids[256];
		rm_ids_list(mr->groups, idx, m, ids, sizeof ids);
		return rm_error_set(err, RM_ENUM,
				    "meta set: gradient of J is not finite (%s)", ids);
	}
	/* theta' = theta + eta g_J, keeping theta */
	float *p = model->params_mem;
	const float *g = model->grads_mem;
	memcpy(mr->theta, p, model->n_params * sizeof(float));
	float eta = (float)mr->opt.meta_lr;
	for (size_t i = 0; i < model->n_params; i++)
		p[i] += eta * g[i];
	/* the trainer's step at theta', its update applied to theta */
	tr->apply_to = mr->theta;
	rc = rm_trainer_step(tr, st, err);
	tr->apply_to = NULL;
	if (rc) {
		memcpy(p, mr->theta, model->n_params * sizeof(float));
		return rc;
	}
	mr->pos += m;
	ms.meta_pass = mr->pass;
	if (msp)
		*msp = ms;
	return 0;
}

int
rm_metarm_j(struct rm_metarm *mr, const struct rm_pairs *p, const size_t *idx,
	    size_t m, int grads, struct rm_metarm_stats *ms, struct rm_error *err)
{
	memset(ms, 0, sizeof *ms);
	if (m == 0)
		return 0;
	return meta_j(mr, p, idx, m, grads, NULL, ms, err);
}

int
rm_metarm_eval(struct rm_metarm *mr, const struct rm_pairs *groups,
	       struct rm_metarm_stats *ms, struct rm_error *err)
{
	memset(ms, 0, sizeof *ms);
	if (groups->n == 0)
		return 0;
	size_t *idx = malloc(groups->n * sizeof *idx);
	if (!idx)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t i = 0; i < groups->n; i++)
		idx[i] = i;
	/* J's mean and |dr| over the whole set, in meta-batch pieces so the
	 * packing buffers suffice */
	double jsum = 0, adw = 0;
	size_t npairs = 0, resp = 0, tok = 0;
	int rc = 0;
	for (size_t at = 0; at < groups->n && !rc; at += mr->opt.meta_batch) {
		size_t m = groups->n - at < mr->opt.meta_batch ?
				   groups->n - at : mr->opt.meta_batch;
		struct rm_metarm_stats part;
		rc = meta_j(mr, groups, idx + at, m, 0, NULL, &part, err);
		if (rc)
			break;
		size_t pp = 0;
		for (size_t i = 0; i < m; i++) {
			size_t k = groups->rec[at + i].n_seq;
			pp += k * (k - 1) / 2;
		}
		jsum += part.j * (double)m;
		adw += part.abs_diff * (double)pp;
		npairs += pp;
		resp += part.responses;
		tok += part.tokens;
	}
	free(idx);
	if (rc)
		return rc;
	ms->groups = groups->n;
	ms->j = jsum / (double)groups->n;
	ms->abs_diff = npairs ? adw / (double)npairs : 0;
	ms->responses = resp;
	ms->tokens = tok;
	ms->meta_pass = mr->pass;
	return 0;
}
