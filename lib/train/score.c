/*
 * score.c - rewards of a set of records, batch by batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/score.h"

void
rm_ids_list(const struct rm_pairs *p, const size_t *idx, size_t k, char *buf,
	    size_t size)
{
	size_t at = 0, shown = k < 12 ? k : 12;
	at += (size_t)snprintf(buf, size, "%s", k == 1 ? "id" : "ids");
	for (size_t i = 0; i < shown && at < size; i++)
		at += (size_t)snprintf(buf + at, size - at, "%s %llu", i ? "," : "",
				       (unsigned long long)p->rec[idx[i]].id);
	if (shown < k && at < size)
		snprintf(buf + at, size - at, " and %zu more", k - shown);
}

int
rm_score_set(struct rm_model *m, struct rm_workspace *ws, size_t max_tokens,
	     const struct rm_pairs *p, float *rewards, struct rm_error *err)
{
	return rm_score_range(m, ws, max_tokens, p, 0, p->n, rewards, err);
}

int
rm_score_range(struct rm_model *m, struct rm_workspace *ws, size_t max_tokens,
	       const struct rm_pairs *p, size_t first, size_t count, float *rewards,
	       struct rm_error *err)
{
	if (count == 0)
		return 0;
	size_t cap_seq = max_tokens < p->n_seqs ? max_tokens : p->n_seqs;
	int32_t *tok = malloc(max_tokens * sizeof *tok);
	size_t *off = malloc((cap_seq + 1) * sizeof *off);
	size_t *seqs = malloc(cap_seq * sizeof *seqs);
	size_t *idx = malloc(count * sizeof *idx);
	float *r = malloc(cap_seq * sizeof *r);
	int rc = 0;
	if (!tok || !off || !seqs || !idx || !r) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory for scoring batches");
		goto out;
	}
	for (size_t i = 0; i < count; i++)
		idx[i] = first + i;
	for (size_t pos = 0; pos < count;) {
		size_t k = rm_pairs_fit(p, idx + pos, count - pos, max_tokens, 0);
		if (k == 0) {
			const struct rm_pairs_rec *q = &p->rec[first + pos];
			rc = rm_error_set(err, RM_EUSAGE, "record %zu (id %llu) has %zu tokens, "
					  "more than the batch budget of %zu", q->index,
					  (unsigned long long)q->id, rm_pairs_rec_tokens(p, first + pos),
					  max_tokens);
			goto out;
		}
		struct rm_batch b = {0};
		b.n_seq = rm_pairs_pack(p, idx + pos, k, tok, off, NULL, seqs);
		b.tokens = tok;
		b.offsets = off;
		if ((rc = rm_model_forward(m, ws, &b, NULL, r, NULL, err)) < 0) {
			char ids[256];
			rm_ids_list(p, idx + pos, k, ids, sizeof ids);
			rm_error_prefix(err, "records with %s", ids);
			goto out;
		}
		for (size_t s = 0; s < b.n_seq; s++)
			rewards[seqs[s]] = r[s];
		pos += k;
	}
out:
	free(tok);
	free(off);
	free(seqs);
	free(idx);
	free(r);
	return rc;
}
