/*
 * rm-eval - how good are a reward model's votes: accuracy, ties,
 * calibration, scale, accuracy by strength decile, a length baseline, and
 * the spread of rewards within groups.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "data/idmap.h"
#include "stream/io.h"
#include "stream/jsonl.h"
#include "stream/jsonraw.h"
#include "train/metrics.h"
#include "text/prefs.h"
#include "data/stats.h"
#include "data/strength.h"
#include "data/votes.h"
#include "cli/layoutopt.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rm-eval [-h] [-o file] [--json] [--data file] [--strength file]\n%s"
	    "               [votes ...]\n", rm_layoutopt_usage);
}

enum { OPT_JSON = 256, OPT_DATA, OPT_STRENGTH, OPT_VERSION };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "output", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "data", required_argument, NULL, OPT_DATA },
	{ "truth", required_argument, NULL, OPT_DATA },
	{ "strength", required_argument, NULL, OPT_STRENGTH },
	RM_LAYOUTOPT_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

/* How the dataset's records are read (the layout options). */
static struct rm_pref_options layout;

/* ---- the dataset: labels, truth, response lengths, true group scores ---- */

struct datum {
	uint64_t hash;
	size_t line;
	int label;            /* 1 chosen preferred (target >= 0.5), 0 rejected */
	int truth;            /* 1, -1, 0 unknown */
	size_t len_c, len_r;  /* response lengths in bytes (pairs) */
	size_t ts_off, ts_k;  /* true_scores (groups) */
};

struct dataset {
	struct datum *d;
	size_t n;
	double *ts;
	size_t nts;
	struct rm_idmap map;
	char name[256];
};

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	void *q;
	size_t c = *cap ? *cap : 1024;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((q = realloc(*p, c * size)) == NULL)
		return RM_ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int
datum_fill(struct dataset *ds, struct datum *x, const struct rm_json_record *rec,
	   size_t *tscap, struct rm_error *err)
{
	struct rm_pref p;
	const cJSON *f;
	double target = 1, tm;
	int rc;

	if ((rc = rm_pref_parse(rec, &layout, &p, err)) < 0)
		return rc;
	if (p.kind == RM_PREF_PAIR) {
		x->len_c = p.resp_len[0];
		x->len_r = p.resp_len[1];
	}
	if (p.labelled)         /* an A/B layout: chosen is its winner */
		target = p.target;
	rm_pref_release(&p);
	if ((rc = rm_json_number_opt(rec, rec->json, "target", &target, err)) < 0)
		return rc;
	x->label = target >= 0.5;
	if ((rc = rm_json_number_opt(rec, rec->json, "true_margin", &tm, err)) < 0)
		return rc;
	f = cJSON_GetObjectItemCaseSensitive(rec->json, "flipped");
	if (rc == 1)
		x->truth = tm > 0 ? 1 : tm < 0 ? -1 : 0;
	else if (cJSON_IsBool(f))
		x->truth = cJSON_IsTrue(f) ? -1 : 1;
	f = cJSON_GetObjectItemCaseSensitive(rec->json, "true_scores");
	if (cJSON_IsArray(f)) {
		const cJSON *e;
		x->ts_off = ds->nts;
		cJSON_ArrayForEach(e, f) {
			if (!cJSON_IsNumber(e))
				return rm_error_set(err, RM_EDATA,
				    "%s: 'true_scores' holds a non-number", rec->where);
			if (grow((void **)&ds->ts, tscap, ds->nts + 1, sizeof *ds->ts) < 0)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			ds->ts[ds->nts++] = e->valuedouble;
			x->ts_k++;
		}
	}
	return 0;
}

static int
dataset_load(struct dataset *ds, const char *path, struct rm_error *err)
{
	struct rm_in *in = NULL;
	struct rm_jsonl *js = NULL;
	struct rm_json_record rec;
	uint64_t *ids = NULL;
	size_t cap = 0, idcap = 0, tscap = 0, d1, d2;
	int rc;

	memset(ds, 0, sizeof *ds);
	if ((rc = rm_in_open(&in, path, err)) < 0)
		return rc;
	snprintf(ds->name, sizeof ds->name, "%s", rm_in_name(in));
	if ((rc = rm_jsonl_open(&js, in, err)) < 0)
		goto out;
	while ((rc = rm_jsonl_next(js, &rec, err)) == 1) {
		struct datum *x;
		struct rm_pref p;

		if ((rc = rm_pref_parse(&rec, &layout, &p, err)) < 0)
			goto out;
		if (p.kind == RM_PREF_RATED) {
			/* one datum per pair, by its derived id (votes of any
			 * --pairs rule find theirs); chosen is the better */
			if (grow((void **)&ds->d, &cap, ds->n + p.npairs,
			    sizeof *ds->d) < 0 || grow((void **)&ids, &idcap,
			    ds->n + p.npairs, sizeof *ids) < 0) {
				rm_pref_release(&p);
				rc = rm_error_set(err, RM_ENOMEM, "out of memory");
				goto out;
			}
			for (size_t i = 0; i < p.npairs; i++) {
				const struct rm_pref_pair *q = &p.pairs[i];
				x = &ds->d[ds->n];
				memset(x, 0, sizeof *x);
				x->hash = rec.hash;
				x->line = rec.line;
				x->label = !q->has_target || q->target >= 0.5;
				x->len_c = p.resp_len[q->a];
				x->len_r = p.resp_len[q->b];
				ids[ds->n++] = RM_PREF_PAIR_STRIDE * p.source_id +
				    q->index;
			}
			rm_pref_release(&p);
			continue;
		}
		rm_pref_release(&p);
		if (grow((void **)&ds->d, &cap, ds->n + 1, sizeof *ds->d) < 0 ||
		    grow((void **)&ids, &idcap, ds->n + 1, sizeof *ids) < 0) {
			rc = rm_error_set(err, RM_ENOMEM, "out of memory");
			goto out;
		}
		x = &ds->d[ds->n];
		memset(x, 0, sizeof *x);
		x->hash = rec.hash;
		x->line = rec.line;
		ids[ds->n] = rm_json_record_id(&rec);
		if ((rc = datum_fill(ds, x, &rec, &tscap, err)) < 0)
			goto out;
		ds->n++;
	}
	if (rc < 0)
		goto out;
	rc = rm_idmap_build(&ds->map, ids, ds->n, &d1, &d2);
	if (rc == RM_EDATA)
		rc = rm_error_set(err, RM_EDATA, "%s: records %zu and %zu have "
		    "the same id %llu", ds->name, d1, d2, (unsigned long long)ids[d1]);
	else if (rc < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
out:
	free(ids);
	rm_jsonl_free(js);
	rm_in_close(in);
	return rc;
}

static void
dataset_release(struct dataset *ds)
{
	free(ds->d);
	free(ds->ts);
	rm_idmap_release(&ds->map);
}

/* The dataset record a vote belongs to, hash-checked. */
static int
dataset_find(const struct dataset *ds, const struct rm_vote *v,
	     const struct datum **x, struct rm_error *err)
{
	size_t i = rm_idmap_find(&ds->map, v->id);

	if (i == RM_IDMAP_NONE)
		return rm_error_set(err, RM_EDATA, "%s: id %llu is not in %s",
		    v->where, (unsigned long long)v->id, ds->name);
	*x = &ds->d[i];
	if (v->has_hash && v->hash != (*x)->hash)
		return rm_error_set(err, RM_EDATA, "%s: id %llu: hash %llu does not "
		    "match %s:%zu (hash %llu)", v->where, (unsigned long long)v->id,
		    (unsigned long long)v->hash, ds->name, (*x)->line,
		    (unsigned long long)(*x)->hash);
	return 0;
}

/* ---- per model state for groups and singles ---- */

struct spread {
	double *d;            /* |r_i - r_j| for i < j within a group */
	size_t n, cap, groups;
	size_t truth_n, truth_right;
	double sum, sq;       /* singles: reward */
	size_t nrew;
};

static int
spread_group(struct spread *s, const struct rm_vote *v, const double *ts,
	     size_t tsk, struct rm_error *err)
{
	s->groups++;
	for (size_t a = 0; a < v->k; a++)
		for (size_t b = a + 1; b < v->k; b++) {
			double dr = v->rewards[a] - v->rewards[b];
			if (grow((void **)&s->d, &s->cap, s->n + 1, sizeof *s->d) < 0)
				return rm_error_set(err, RM_ENOMEM, "out of memory");
			s->d[s->n++] = fabs(dr);
			if (ts && tsk == v->k && ts[a] != ts[b]) {
				s->truth_n++;
				s->truth_right += (dr > 0) == (ts[a] > ts[b]) && dr != 0;
			}
		}
	return 0;
}

/* ---- output ---- */

static void
jnum(struct rm_buf *b, const char *key, double x)
{
	if (isnan(x))
		rm_buf_printf(b, ",\"%s\":null", key);
	else
		rm_buf_printf(b, ",\"%s\":%.9g", key, x == 0 ? 0.0 : x);
}

static void
pair_json(struct rm_buf *b, const char *name, const struct rm_pair_summary *s)
{
	rm_buf_puts(b, "{\"name\":");
	rm_buf_json_string(b, name, strlen(name));
	rm_buf_printf(b, ",\"n\":%zu", s->n);
	jnum(b, "accuracy", s->accuracy);
	jnum(b, "ties", s->ties);
	jnum(b, "wrong", s->wrong);
	jnum(b, "margin_mean", s->margin_mean);
	jnum(b, "brier", s->brier);
	jnum(b, "ece", s->ece);
	jnum(b, "chosen_mean", s->chosen_mean);
	jnum(b, "chosen_std", s->chosen_std);
	jnum(b, "rejected_mean", s->rejected_mean);
	jnum(b, "rejected_std", s->rejected_std);
	if (s->truth_n) {
		rm_buf_printf(b, ",\"truth_n\":%zu", s->truth_n);
		jnum(b, "truth_accuracy", s->truth_accuracy);
		jnum(b, "truth_ties", s->truth_ties);
	}
	if (s->decile_n[0] + s->decile_n[RM_DECILES - 1]) {
		rm_buf_puts(b, ",\"decile_accuracy\":[");
		for (int d = 0; d < RM_DECILES; d++)
			rm_buf_printf(b, isnan(s->decile[d]) ? "%snull" : "%s%.9g",
			    d ? "," : "", s->decile[d]);
		rm_buf_puts(b, "]");
	}
	rm_buf_puts(b, "}");
}

static void
pair_row(struct rm_buf *b, const char *name, const struct rm_pair_summary *s)
{
	rm_buf_printf(b, "%-24s %7zu %8.4f %6.4f %6.4f %8.4f %6.4f %6.4f",
	    name, s->n, s->accuracy, s->ties, s->wrong, s->margin_mean,
	    s->brier, s->ece);
	if (s->has_rewards)
		rm_buf_printf(b, " %8.4f %7.4f %8.4f %7.4f", s->chosen_mean,
		    s->chosen_std, s->rejected_mean, s->rejected_std);
	rm_buf_puts(b, "\n");
}

static const double qs[] = { 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1 };
static const char *const qn[] = { "min", "10%", "25%", "50%", "75%", "90%", "max" };
#define NQ (sizeof qs / sizeof qs[0])

static void
spread_out(struct rm_buf *b, const char *name, struct spread *s, int group,
	   int json)
{
	double mean, std;

	if (!group) {
		mean = s->nrew ? s->sum / (double)s->nrew : NAN;
		std = s->nrew ? sqrt(fmax(0, s->sq / (double)s->nrew - mean * mean)) : NAN;
		if (json) {
			rm_buf_puts(b, "{\"name\":");
			rm_buf_json_string(b, name, strlen(name));
			rm_buf_printf(b, ",\"n\":%zu", s->nrew);
			jnum(b, "reward_mean", mean);
			jnum(b, "reward_std", std);
			rm_buf_puts(b, "}");
		} else {
			rm_buf_printf(b, "%-24s %7zu %8.4f %8.4f\n", name, s->nrew, mean, std);
		}
		return;
	}
	rm_mean_std(s->d, s->n, &mean, &std);
	rm_sort_doubles(s->d, s->n);
	if (json) {
		rm_buf_puts(b, "{\"name\":");
		rm_buf_json_string(b, name, strlen(name));
		rm_buf_printf(b, ",\"groups\":%zu,\"pairs\":%zu", s->groups, s->n);
		jnum(b, "abs_diff_mean", s->n ? mean : NAN);
		rm_buf_puts(b, ",\"abs_diff_quantiles\":{");
		for (size_t q = 0; q < NQ; q++)
			rm_buf_printf(b, "%s\"%s\":%.9g", q ? "," : "", qn[q],
			    s->n ? rm_quantile_sorted(s->d, s->n, qs[q]) : 0.0);
		rm_buf_puts(b, "}");
		if (s->truth_n)
			jnum(b, "truth_order_accuracy",
			    (double)s->truth_right / (double)s->truth_n);
		rm_buf_puts(b, "}");
		return;
	}
	rm_buf_printf(b, "%-24s %6zu %7zu %8.4f", name, s->groups, s->n,
	    s->n ? mean : NAN);
	for (size_t q = 0; q < NQ; q++)
		rm_buf_printf(b, " %7.4f", s->n ? rm_quantile_sorted(s->d, s->n, qs[q]) : NAN);
	if (s->truth_n)
		rm_buf_printf(b, " %8.4f", (double)s->truth_right / (double)s->truth_n);
	rm_buf_puts(b, "\n");
}

/* ---- main ---- */

struct eval {
	size_t m;
	const char *const *names;
	struct rm_pair_metrics *pm;    /* m models + ensemble */
	struct spread *sp;             /* m models */
	size_t agree, agree_n;
	size_t len_n, len_right, len_tie, len_truth_n, len_truth_right;
	int kind;                      /* family of the first row, -1 none */
	size_t unscored;               /* pairs without a strength record */
	char first_unscored[160];
};

static int
eval_row(struct eval *e, const struct rm_vote *v, const struct dataset *ds,
	 const struct rm_strength_table *st, struct rm_error *err)
{
	const struct datum *x = NULL;
	struct rm_pair_input in = { .label = 1, .decile = -1 };
	int kind = v[0].kind == RM_VOTE_DELTA ? RM_VOTE_PAIR : (int)v[0].kind;
	int rc;

	if (e->kind < 0)
		e->kind = kind;
	else if (kind != e->kind)
		return rm_error_set(err, RM_EDATA, "%s: %s scores after %s scores",
		    v[0].where, rm_vote_kind_name(v[0].kind),
		    rm_vote_kind_name(e->kind));
	if (ds && (rc = dataset_find(ds, &v[0], &x, err)) < 0)
		return rc;
	if (kind == RM_VOTE_GROUP || kind == RM_VOTE_SINGLE) {
		for (size_t j = 0; j < e->m; j++) {
			if (kind == RM_VOTE_SINGLE) {
				e->sp[j].nrew++;
				e->sp[j].sum += v[j].reward;
				e->sp[j].sq += v[j].reward * v[j].reward;
			} else if ((rc = spread_group(&e->sp[j], &v[j],
			    x && x->ts_k ? ds->ts + x->ts_off : NULL,
			    x ? x->ts_k : 0, err)) < 0) {
				return rc;
			}
		}
		return 0;
	}
	if (x) {
		in.label = x->label;
		in.truth = x->truth;
		e->len_n++;
		if (x->len_c == x->len_r) {
			e->len_tie++;
		} else {
			int longer = x->len_c > x->len_r ? 1 : -1;
			e->len_right += (longer > 0) == (x->label == 1);
			if (x->truth) {
				e->len_truth_n++;
				e->len_truth_right += longer == x->truth;
			}
		}
	}
	if (st) {
		const struct rm_strength_entry *s;
		if ((rc = rm_strength_match(st, v[0].id, v[0].has_hash, v[0].hash, v[0].where,
					    &s, err)) < 0)
			return rc;
		if (s)
			in.decile = (int)rm_rank_group(s->rank, st->n, RM_DECILES);
		else if (e->unscored++ == 0)
			snprintf(e->first_unscored, sizeof e->first_unscored, "%s: id %llu",
				 v[0].where, (unsigned long long)v[0].id);
	}
	double dsum = 0, csum = 0, rsum = 0;
	int allrew = 1;
	for (size_t j = 0; j < e->m; j++) {
		in.delta = v[j].delta;
		in.has_rewards = v[j].kind == RM_VOTE_PAIR;
		in.chosen = v[j].chosen;
		in.rejected = v[j].rejected;
		rm_pair_metrics_add(&e->pm[j], &in);
		dsum += v[j].delta;
		csum += v[j].chosen;
		rsum += v[j].rejected;
		allrew &= in.has_rewards;
		for (size_t k = j + 1; k < e->m; k++) {
			e->agree_n++;
			e->agree += (v[j].delta > 0) - (v[j].delta < 0) ==
			    (v[k].delta > 0) - (v[k].delta < 0);
		}
	}
	if (e->m > 1) {
		in.delta = dsum / (double)e->m;
		in.has_rewards = allrew;
		in.chosen = csum / (double)e->m;
		in.rejected = rsum / (double)e->m;
		rm_pair_metrics_add(&e->pm[e->m], &in);
	}
	return 0;
}

static void
report_pairs(struct rm_buf *b, const struct eval *e, int json)
{
	struct rm_pair_summary s;
	size_t rows = e->m > 1 ? e->m + 1 : e->m;

	if (json)
		rm_buf_printf(b, "{\"kind\":\"pair\",\"models\":[");
	else
		rm_buf_printf(b, "%-24s %7s %8s %6s %6s %8s %6s %6s %8s %7s %8s %7s\n",
		    "votes", "pairs", "accuracy", "ties", "wrong", "margin", "brier",
		    "ece", "chosen", "std", "rejected", "std");
	for (size_t j = 0; j < rows; j++) {
		const char *name = j < e->m ? e->names[j] : "ensemble";
		rm_pair_metrics_get(&e->pm[j], &s);
		if (json) {
			if (j == e->m)
				rm_buf_puts(b, "],\"ensemble\":");
			else if (j)
				rm_buf_puts(b, ",");
			pair_json(b, name, &s);
		} else {
			pair_row(b, name, &s);
		}
	}
	if (json && rows == e->m)
		rm_buf_puts(b, "]");
	if (e->agree_n) {
		double a = (double)e->agree / (double)e->agree_n;
		if (json)
			jnum(b, "agreement", a);
		else
			rm_buf_printf(b, "\nagreement (same sign of delta, model pairs): %.4f\n", a);
	}
	if (e->len_n) {
		double acc = (double)e->len_right / (double)e->len_n;
		double tie = (double)e->len_tie / (double)e->len_n;
		double tacc = e->len_truth_n ?
		    (double)e->len_truth_right / (double)e->len_truth_n : NAN;
		if (json) {
			rm_buf_printf(b, ",\"length_baseline\":{\"n\":%zu", e->len_n);
			jnum(b, "accuracy", acc);
			jnum(b, "ties", tie);
			if (e->len_truth_n)
				jnum(b, "truth_accuracy", tacc);
			rm_buf_puts(b, "}");
		} else {
			rm_buf_printf(b, "\nlength baseline (longer response preferred): "
			    "accuracy %.4f, ties %.4f", acc, tie);
			if (e->len_truth_n)
				rm_buf_printf(b, ", against truth %.4f", tacc);
			rm_buf_puts(b, "\n");
		}
	}
	if (json)
		return;
	for (size_t j = 0; j < rows; j++) {
		rm_pair_metrics_get(&e->pm[j], &s);
		if (j == 0 && s.truth_n)
			rm_buf_printf(b, "\n%-24s %7s %8s %6s\n", "against truth", "pairs",
			    "accuracy", "ties");
		if (s.truth_n)
			rm_buf_printf(b, "%-24s %7zu %8.4f %6.4f\n",
			    j < e->m ? e->names[j] : "ensemble", s.truth_n,
			    s.truth_accuracy, s.truth_ties);
	}
	for (size_t j = 0; j < rows; j++) {
		rm_pair_metrics_get(&e->pm[j], &s);
		if (s.decile_n[0] + s.decile_n[RM_DECILES - 1] == 0)
			break;
		if (j == 0) {
			rm_buf_printf(b, "\naccuracy by strength decile (lowest first)\n%-24s",
			    "votes");
			for (int d = 0; d < RM_DECILES; d++)
				rm_buf_printf(b, " %6d", d + 1);
			rm_buf_puts(b, "\n");
		}
		rm_buf_printf(b, "%-24s", j < e->m ? e->names[j] : "ensemble");
		for (int d = 0; d < RM_DECILES; d++)
			rm_buf_printf(b, " %6.4f", s.decile[d]);
		rm_buf_puts(b, "\n");
	}
}

int
main(int argc, char **argv)
{
	const char *dpath = NULL, *spath = NULL, *opath = NULL, *stdin_name[] = { "-" };
	struct rm_out *out = NULL;
	struct dataset ds;
	struct rm_strength_table st;
	struct rm_votes **vs = NULL;
	struct rm_vote *v = NULL;
	struct eval e = { .kind = -1 };
	struct rm_buf b = { 0 };
	struct rm_error err = { 0 };
	int c, json = 0, rc, have_ds = 0, have_st = 0, status = RM_EXIT_FAIL;

	rm_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		if (rm_layoutopt_apply(c, optarg, &layout))
			continue;
		switch (c) {
		case 'h': usage(stdout); return rm_finish_stdout(RM_EXIT_OK);
		case OPT_VERSION: rm_print_version();
		case 'o': opath = optarg; break;
		case OPT_JSON: json = 1; break;
		case OPT_DATA: dpath = optarg; break;
		case OPT_STRENGTH: spath = optarg; break;
		default: usage(stderr); return RM_EXIT_USAGE;
		}
	}
	rm_layoutopt_check(&layout);
	e.m = (size_t)(argc - optind);
	e.names = e.m ? (const char *const *)argv + optind : stdin_name;
	if (e.m == 0)
		e.m = 1;
	{
		int nstdin = (dpath && !strcmp(dpath, "-")) + (spath && !strcmp(spath, "-"));
		for (size_t j = 0; j < e.m; j++)
			nstdin += strcmp(e.names[j], "-") == 0;
		if (nstdin > 1)
			rm_usage_error("standard input given twice");
	}
	vs = calloc(e.m, sizeof *vs);
	v = calloc(e.m, sizeof *v);
	e.pm = calloc(e.m + 1, sizeof *e.pm);
	e.sp = calloc(e.m, sizeof *e.sp);
	if (vs == NULL || v == NULL || e.pm == NULL || e.sp == NULL) {
		rm_error_set(&err, RM_ENOMEM, "out of memory");
		goto fail;
	}
	if (dpath) {
		if (dataset_load(&ds, dpath, &err) < 0)
			goto fail;
		have_ds = 1;
	}
	if (spath) {
		if (rm_strength_load(&st, spath, &err) < 0)
			goto fail;
		have_st = 1;
	}
	for (size_t j = 0; j < e.m; j++)
		if (rm_votes_open(&vs[j], e.names[j], &err) < 0)
			goto fail;
	if (rm_out_open(&out, opath, 0, 0, &err) < 0)
		goto fail;
	for (uint64_t i = 0; (rc = rm_votes_read_row(vs, e.m, v, i, &err)) == 1; i++)
		if (eval_row(&e, v, have_ds ? &ds : NULL, have_st ? &st : NULL, &err) < 0)
			goto fail;
	if (rc < 0)
		goto fail;
	if (e.unscored) {
		rm_error_set(&err, RM_EDATA, "%s has no strength record in %s (nor %zu more "
			     "pairs): strength of other data?", e.first_unscored, st.name,
			     e.unscored - 1);
		goto fail;
	}

	if (e.kind == RM_VOTE_GROUP || e.kind == RM_VOTE_SINGLE) {
		int group = e.kind == RM_VOTE_GROUP;
		if (json)
			rm_buf_printf(&b, "{\"kind\":\"%s\",\"models\":[", group ? "group" : "single");
		else if (group)
			rm_buf_printf(&b, "|r_i - r_j| within groups\n%-24s %6s %7s %8s"
			    " %7s %7s %7s %7s %7s %7s %7s%s\n", "votes", "groups",
			    "pairs", "mean", "min", "10%", "25%", "50%", "75%", "90%",
			    "max", have_ds ? "  order vs truth" : "");
		else
			rm_buf_printf(&b, "%-24s %7s %8s %8s\n", "votes", "n", "reward", "std");
		for (size_t j = 0; j < e.m; j++) {
			if (json && j)
				rm_buf_puts(&b, ",");
			spread_out(&b, e.names[j], &e.sp[j], group, json);
		}
		if (json)
			rm_buf_puts(&b, "]");
	} else {
		report_pairs(&b, &e, json);
	}
	if (json)
		rm_buf_puts(&b, "}\n");
	if (b.p == NULL) {
		rm_error_set(&err, RM_ENOMEM, "out of memory");
		goto fail;
	}
	rc = rm_out_write(out, b.p, b.len, &err);
	if (rc == 0)
		rc = rm_out_commit(out, &err);
	else
		rm_out_abort(out);
	out = NULL;
	if (rc < 0)
		goto fail;
	status = RM_EXIT_OK;
	goto done;
fail:
	if (err.code != RM_EPIPE)
		rm_warn_err(&err);
	rm_out_abort(out);
done:
	for (size_t j = 0; vs && j < e.m; j++)
		rm_votes_close(vs[j]);
	for (size_t j = 0; e.sp && j < e.m; j++)
		free(e.sp[j].d);
	free(vs);
	free(v);
	free(e.pm);
	free(e.sp);
	if (have_ds)
		dataset_release(&ds);
	if (have_st)
		rm_strength_release(&st);
	rm_buf_release(&b);
	return rm_finish_stdout(status);
}
