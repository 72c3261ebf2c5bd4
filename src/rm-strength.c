/*
 * rm-strength - preference strength: per pair, the mean and population
 * std of the reward difference over M models' vote streams.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "cli/layoutopt.h"
#include "stream/io.h"
#include "data/stats.h"
#include "data/votes.h"
#include "stream/jsonl.h"
#include "stream/jsonraw.h"
#include "text/prefs.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rm-strength [-hqz] [-o file] [--each] [--groups n [--tsv]]\n"
	    "                   [--groups-out file] [votes ...]\n"
	    "       rm-strength [-hqz] [-o file] [--groups n [--tsv]]\n"
	    "                   [--groups-out file] --given [--given-field field]\n%s"
	    "                   [dataset]\n", rm_layoutopt_usage);
}

enum { OPT_EACH = 256, OPT_GROUPS, OPT_GROUPS_OUT, OPT_TSV, OPT_GIVEN,
       OPT_GIVEN_FIELD, OPT_VERSION };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "zstd", no_argument, NULL, 'z' },
	{ "each", no_argument, NULL, OPT_EACH },
	{ "groups", required_argument, NULL, OPT_GROUPS },
	{ "groups-out", required_argument, NULL, OPT_GROUPS_OUT },
	{ "tsv", no_argument, NULL, OPT_TSV },
	{ "given", no_argument, NULL, OPT_GIVEN },
	{ "given-field", required_argument, NULL, OPT_GIVEN_FIELD },
	RM_LAYOUTOPT_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

/* How --given reads the dataset's records (the layout options). */
static struct rm_pref_options layout;

/* The per-pair results kept for the summary and the group table. */
struct table {
	double *mean, *std;
	size_t n, cap;
};

static int
table_add(struct table *t, double mean, double std, struct rm_error *err)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 4096;
		double *m = realloc(t->mean, cap * sizeof *m);
		double *s = m ? realloc(t->std, cap * sizeof *s) : NULL;
		if (m)
			t->mean = m;
		if (s == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		t->std = s;
		t->cap = cap;
	}
	t->mean[t->n] = mean;
	t->std[t->n++] = std;
	return 0;
}

/* %.9g without "-0". */
static int
put_num(struct rm_buf *b, double x)
{
	return rm_buf_printf(b, "%.9g", x == 0 ? 0.0 : x);
}

static int
write_pair(struct rm_out *out, struct rm_buf *b, const struct rm_vote *v,
	   size_t m, const double *d, double mean, double std, int each,
	   struct rm_error *err)
{
	const struct rm_vote *h = NULL;

	for (size_t j = 0; j < m && !h; j++)
		if (v[j].has_hash)
			h = &v[j];
	rm_buf_reset(b);
	rm_buf_printf(b, "{\"id\":%llu", (unsigned long long)v[0].id);
	if (h)
		rm_buf_printf(b, ",\"hash\":%llu", (unsigned long long)h->hash);
	rm_buf_puts(b, ",\"strength_mean\":");
	put_num(b, mean);
	rm_buf_puts(b, ",\"strength_std\":");
	put_num(b, std);
	rm_buf_printf(b, ",\"n\":%zu", m);
	if (each) {
		rm_buf_puts(b, ",\"deltas\":[");
		for (size_t j = 0; j < m; j++) {
			if (j)
				rm_buf_puts(b, ",");
			put_num(b, d[j]);
		}
		rm_buf_puts(b, "]");
	}
	if (rm_buf_puts(b, "}\n") < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	return rm_out_write(out, b->p, b->len, err);
}

/* The paper's Fig. 2: pairs sorted by mean, g equal groups. */
static int
write_groups(struct rm_out *out, const struct table *t, size_t g, int tsv,
	     struct rm_error *err)
{
	size_t *idx = malloc((t->n ? t->n : 1) * sizeof *idx);
	struct rm_buf b = { 0 };
	int rc = 0;

	if (idx == NULL || rm_rank_order(t->mean, t->n, idx) < 0) {
		free(idx);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	if (tsv)
		rm_buf_puts(&b, "group\tn\tmean_lo\tmean_hi\tstrength_mean\tstrength_std\n");
	for (size_t j = 0; j < g; j++) {
		size_t lo = j * t->n / g, hi = (j + 1) * t->n / g;
		double sm = 0, ss = 0, n = (double)(hi - lo);

		if (hi == lo)
			continue;
		for (size_t r = lo; r < hi; r++) {
			sm += t->mean[idx[r]];
			ss += t->std[idx[r]];
		}
		rm_buf_printf(&b, tsv ? "%zu\t%zu\t" : "{\"group\":%zu,\"n\":%zu,\"mean_lo\":",
		    j + 1, hi - lo);
		put_num(&b, t->mean[idx[lo]]);
		rm_buf_puts(&b, tsv ? "\t" : ",\"mean_hi\":");
		put_num(&b, t->mean[idx[hi - 1]]);
		rm_buf_puts(&b, tsv ? "\t" : ",\"strength_mean\":");
		put_num(&b, sm / n);
		rm_buf_puts(&b, tsv ? "\t" : ",\"strength_std\":");
		put_num(&b, ss / n);
		rm_buf_puts(&b, tsv ? "\n" : "}\n");
	}
	if (b.len)
		rc = rm_out_write(out, b.p, b.len, err);
	rm_buf_release(&b);
	free(idx);
	return rc;
}

/* Fraction below 0, quantiles and a histogram of the means, on stderr. */
static int
summary(const struct table *t, size_t m)
{
	static const double qs[] = { 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1 };
	static const char *const qn[] = { "min", "10%", "25%", "50%", "75%", "90%", "max" };
	enum { BINS = 16, WIDTH = 40 };
	size_t neg = 0, hist[BINS] = { 0 }, top = 0;
	double *s = malloc((t->n ? t->n : 1) * sizeof *s), lo, hi, w, ms, sd;

	if (s == NULL)
		return RM_ENOMEM;
	if (m)
		fprintf(stderr, "%s: %zu pairs, %zu models\n", rm_cli_name(), t->n, m);
	else
		fprintf(stderr, "%s: %zu pairs, strength given by the data\n",
		    rm_cli_name(), t->n);
	if (t->n == 0) {
		free(s);
		return 0;
	}
	memcpy(s, t->mean, t->n * sizeof *s);
	rm_sort_doubles(s, t->n);
	for (size_t i = 0; i < t->n; i++)
		neg += s[i] < 0;
	fprintf(stderr, "  strength_mean < 0: %zu (%.1f%%)\n", neg,
	    100.0 * (double)neg / (double)t->n);
	fprintf(stderr, "  strength_mean quantiles:");
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
		fprintf(stderr, " %s %.4g", qn[i], rm_quantile_sorted(s, t->n, qs[i]));
	rm_mean_std(t->std, t->n, &ms, &sd);
	fprintf(stderr, "\n  strength_std: mean %.4g\n", ms);
	lo = s[0];
	hi = s[t->n - 1];
	w = hi > lo ? (hi - lo) / BINS : 1;
	for (size_t i = 0; i < t->n; i++) {
		size_t b = (size_t)((s[i] - lo) / w);
		hist[b < BINS ? b : BINS - 1]++;
	}
	for (int b = 0; b < BINS; b++)
		top = hist[b] > top ? hist[b] : top;
	for (int b = 0; b < BINS; b++) {
		int bar = (int)((hist[b] * WIDTH + top - 1) / top);
		fprintf(stderr, "  %9.3g .. %-9.3g %7zu %.*s\n", lo + b * w,
		    lo + (b + 1) * w, hist[b], bar,
		    "########################################");
	}
	free(s);
	return 0;
}

/*
 * --given: the strength a dataset gives itself, the graded preference of its
 * layout (rm-tokenize(1): SHP's score ratio, HelpSteer2's strength) or a
 * numeric field, one line per record with the record's id and hash so that
 * rm-filter joins it like an ensemble's.
 */
static int put_num(struct rm_buf *b, double x);

/* The given strengths of a rated record's pairs, by their derived ids. */
static int
given_rated(const struct rm_json_record *rec, const struct rm_pref *p,
	    struct rm_buf *b, struct rm_out *out, struct table *t,
	    struct rm_error *err)
{
	int rc;

	if (p->npairs && !p->pairs[0].has_graded)
		return rm_error_set(err, RM_EDATA, "%s: no graded preference in "
		    "this record (ranks and codes have none; ultrafeedback and "
		    "scored have their score difference)", rec->where);
	for (size_t i = 0; i < p->npairs; i++) {
		rm_buf_reset(b);
		rm_buf_printf(b, "{\"id\":%llu,\"hash\":%llu,\"strength_mean\":",
		    (unsigned long long)(RM_PREF_PAIR_STRIDE * p->source_id +
		    p->pairs[i].index), (unsigned long long)rec->hash);
		put_num(b, p->pairs[i].graded);
		if (rm_buf_puts(b, ",\"strength_std\":0,\"n\":0,\"given\":true}\n") < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		if ((rc = table_add(t, p->pairs[i].graded, 0, err)) < 0 ||
		    (out && (rc = rm_out_write(out, b->p, b->len, err)) < 0))
			return rc;
	}
	return 0;
}

static int
given_strength(const char *path, const char *field, struct rm_out *out,
	       struct table *t, struct rm_error *err)
{
	struct rm_in *in = NULL;
	struct rm_jsonl *js = NULL;
	struct rm_json_record rec;
	struct rm_buf b = { 0 };
	int rc;

	if ((rc = rm_in_open(&in, path, err)) < 0 ||
	    (rc = rm_jsonl_open(&js, in, err)) < 0)
		goto out;
	while ((rc = rm_jsonl_next(js, &rec, err)) == 1) {
		double g = 0;
		if (field) {
			if ((rc = rm_json_number_opt(&rec, rec.json, field, &g,
			    err)) < 0)
				goto out;
			if (rc == 0) {
				rc = rm_error_set(err, RM_EDATA, "%s: field '%s' is "
				    "missing", rec.where, field);
				goto out;
			}
		} else {
			struct rm_pref p;
			if ((rc = rm_pref_parse(&rec, &layout, &p, err)) < 0)
				goto out;
			if (p.kind == RM_PREF_RATED) {
				/* a line per pair: its score difference */
				rc = given_rated(&rec, &p, &b, out, t, err);
				rm_pref_release(&p);
				if (rc < 0)
					goto out;
				continue;
			}
			g = p.graded;
			rc = p.has_graded;
			rm_pref_release(&p);
			if (!rc) {
				rc = rm_error_set(err, RM_EDATA, "%s: no graded "
				    "preference in this record (the shp and "
				    "helpsteer2 layouts have one; --given-field "
				    "names a field)", rec.where);
				goto out;
			}
		}
		rm_buf_reset(&b);
		rm_buf_printf(&b, "{\"id\":%llu,\"hash\":%llu,\"strength_mean\":",
		    (unsigned long long)rm_json_record_id(&rec),
		    (unsigned long long)rec.hash);
		put_num(&b, g);
		if (rm_buf_puts(&b, ",\"strength_std\":0,\"n\":0,\"given\":true}\n") < 0) {
			rc = rm_error_set(err, RM_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = table_add(t, g, 0, err)) < 0 ||
		    (out && (rc = rm_out_write(out, b.p, b.len, err)) < 0))
			goto out;
	}
out:
	rm_buf_release(&b);
	rm_jsonl_free(js);
	rm_in_close(in);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *opath = NULL, *gpath = NULL, *stdin_name[] = { "-" };
	const char *const *files;
	struct rm_votes **vs = NULL;
	struct rm_vote *v = NULL;
	struct rm_out *out = NULL, *gout = NULL, *pairs_out;
	struct table t = { 0 };
	struct rm_buf b = { 0 };
	struct rm_error err = { 0 };
	double *d = NULL;
	const char *given_field = NULL;
	size_t m = 0, groups = 0;
	int c, quiet = 0, zflag = 0, each = 0, tsv = 0, given = 0, rc;
	int status = RM_EXIT_FAIL;

	rm_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "ho:qz", longopts, NULL)) != -1) {
		if (rm_layoutopt_apply(c, optarg, &layout))
			continue;
		switch (c) {
		case 'h': usage(stdout); return rm_finish_stdout(RM_EXIT_OK);
		case OPT_VERSION: rm_print_version();
		case 'o': opath = optarg; break;
		case 'q': quiet = 1; break;
		case 'z': zflag = RM_OUT_ZSTD; break;
		case OPT_EACH: each = 1; break;
		case OPT_GROUPS:
			groups = (size_t)rm_opt_long("--groups", optarg, 1, 1000000);
			break;
		case OPT_GROUPS_OUT: gpath = optarg; break;
		case OPT_TSV: tsv = 1; break;
		case OPT_GIVEN: given = 1; break;
		case OPT_GIVEN_FIELD: given_field = optarg; break;
		default: usage(stderr); return RM_EXIT_USAGE;
		}
	}
	rm_layoutopt_check(&layout);
	if (gpath && !groups)
		rm_usage_error("--groups-out needs --groups");
	if (tsv && !groups)
		rm_usage_error("--tsv needs --groups");
	if (given_field && !given)
		rm_usage_error("--given-field needs --given");
	if (given && each)
		rm_usage_error("--each needs votes, not --given");
	if (given && argc - optind > 1)
		rm_usage_error("--given reads one dataset");
	if (given) {
		if (rm_out_open(&out, opath, zflag, 0, &err) < 0 ||
		    (gpath && rm_out_open(&gout, gpath, zflag, 0, &err) < 0))
			goto fail;
		m = 0;
		pairs_out = groups && !gout ? NULL : out;
		if (given_strength(optind < argc ? argv[optind] : "-", given_field,
		    pairs_out, &t, &err) < 0)
			goto fail;
		goto finish;
	}
	m = (size_t)(argc - optind);
	files = m ? (const char *const *)argv + optind : stdin_name;
	if (m == 0)
		m = 1;
	for (size_t i = 0, nstdin = 0; i < m; i++)
		if (strcmp(files[i], "-") == 0 && ++nstdin > 1)
			rm_usage_error("standard input given twice");
	{
		struct rm_path_use *u = calloc(m + 2, sizeof *u);
		if (u == NULL) {
			rm_warn("out of memory");
			return RM_EXIT_FAIL;
		}
		u[0] = (struct rm_path_use){ "-o", opath, 1 };
		u[1] = (struct rm_path_use){ "--groups-out", gpath, 1 };
		for (size_t i = 0; i < m; i++)
			u[i + 2] = (struct rm_path_use){ "input", files[i], 0 };
		rm_check_paths(u, m + 2);
		free(u);
	}

	vs = calloc(m, sizeof *vs);
	v = calloc(m, sizeof *v);
	d = calloc(m, sizeof *d);
	if (vs == NULL || v == NULL || d == NULL) {
		rm_error_set(&err, RM_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t j = 0; j < m; j++)
		if (rm_votes_open(&vs[j], files[j], &err) < 0)
			goto fail;
	if (rm_out_open(&out, opath, zflag, 0, &err) < 0 ||
	    (gpath && rm_out_open(&gout, gpath, zflag, 0, &err) < 0))
		goto fail;
	/* --groups without --groups-out: the table replaces the pairs. */
	pairs_out = groups && !gout ? NULL : out;
	for (uint64_t i = 0; (rc = rm_votes_read_row(vs, m, v, i, &err)) == 1; i++) {
		double mean, std;

		for (size_t j = 0; j < m; j++) {
			if (v[j].kind != RM_VOTE_PAIR && v[j].kind != RM_VOTE_DELTA) {
				rm_error_set(&err, RM_EDATA, "%s: %s scores, expected "
				    "pair scores ('chosen' and 'rejected', or 'delta')",
				    v[j].where, rm_vote_kind_name(v[j].kind));
				goto fail;
			}
			d[j] = v[j].delta;
		}
		rm_mean_std(d, m, &mean, &std);
		if (table_add(&t, mean, std, &err) < 0 ||
		    (pairs_out && write_pair(pairs_out, &b, v, m, d, mean, std,
			each, &err) < 0))
			goto fail;
	}
	if (rc < 0)
		goto fail;
finish:
	if (groups && write_groups(gout ? gout : out, &t, groups, tsv, &err) < 0)
		goto fail;
	if (rm_out_commit(out, &err) < 0) {
		out = NULL;
		goto fail;
	}
	out = NULL;
	if (gout && rm_out_commit(gout, &err) < 0) {
		gout = NULL;
		goto fail;
	}
	gout = NULL;
	if (!quiet)
		summary(&t, m);
	status = RM_EXIT_OK;
	goto done;
fail:
	if (err.code != RM_EPIPE)
		rm_warn_err(&err);
	rm_out_abort(out);
	rm_out_abort(gout);
done:
	for (size_t j = 0; vs && j < m; j++)
		rm_votes_close(vs[j]);
	free(vs);
	free(v);
	free(d);
	free(t.mean);
	free(t.std);
	rm_buf_release(&b);
	return rm_finish_stdout(status);
}
