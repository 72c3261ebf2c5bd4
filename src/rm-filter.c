/*
 * rm-filter - join a dataset with preference strength and apply a data
 * policy: drop, flip, smooth labels, set adaptive margins.
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
#include "stream/jsonl.h"
#include "stream/jsonraw.h"
#include "data/strength.h"
#include "text/prefs.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rm-filter [-hqz] -s strength [-o file] [--log file]\n"
	    "                 [--drop-below q] [--drop-above q]\n"
	    "                 [--drop-mean-below x] [--drop-mean-above x]\n"
	    "                 [--flip-lowest p] [--flip-by-rank]\n"
	    "                 [--flip-mode swap|target]\n"
	    "                 [--smooth alpha] [--smooth-range range]\n"
	    "                 [--margin[=scale]] [--margin-clamp lo,hi]\n"
	    "                 [--preset flip10-margin|soft-margin] [--keep-unscored]\n%s"
	    "                 [dataset]\n", rm_layoutopt_usage);
}

enum { OPT_LOG = 256, OPT_DROP_BELOW, OPT_DROP_ABOVE, OPT_DROP_MEAN_BELOW,
       OPT_DROP_MEAN_ABOVE, OPT_FLIP_LOWEST, OPT_FLIP_BY_RANK, OPT_FLIP_MODE, OPT_SMOOTH,
       OPT_SMOOTH_RANGE, OPT_MARGIN, OPT_MARGIN_CLAMP, OPT_PRESET,
       OPT_KEEP_UNSCORED, OPT_VERSION };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "strength", required_argument, NULL, 's' },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "zstd", no_argument, NULL, 'z' },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "drop-below", required_argument, NULL, OPT_DROP_BELOW },
	{ "drop-above", required_argument, NULL, OPT_DROP_ABOVE },
	{ "drop-mean-below", required_argument, NULL, OPT_DROP_MEAN_BELOW },
	{ "drop-mean-above", required_argument, NULL, OPT_DROP_MEAN_ABOVE },
	{ "flip-lowest", required_argument, NULL, OPT_FLIP_LOWEST },
	{ "flip-by-rank", no_argument, NULL, OPT_FLIP_BY_RANK },
	{ "flip-mode", required_argument, NULL, OPT_FLIP_MODE },
	{ "smooth", required_argument, NULL, OPT_SMOOTH },
	{ "smooth-range", required_argument, NULL, OPT_SMOOTH_RANGE },
	{ "margin", optional_argument, NULL, OPT_MARGIN },
	{ "margin-clamp", required_argument, NULL, OPT_MARGIN_CLAMP },
	{ "preset", required_argument, NULL, OPT_PRESET },
	{ "keep-unscored", no_argument, NULL, OPT_KEEP_UNSCORED },
	RM_LAYOUTOPT_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

/* How the dataset's records are read (the layout options). */
static struct rm_pref_options layout;

/* Which pairs a smoothing applies to: all, by mean, or by rank fraction. */
struct range {
	enum { R_ALL, R_LT, R_LE, R_GT, R_GE, R_RANK } kind;
	double x, lo, hi;
};

struct policy {
	double drop_below, drop_above;          /* rank fractions, -1 unset */
	double drop_mean_below, drop_mean_above; /* NAN unset */
	double flip_lowest;                     /* -1 unset */
	int flip_by_rank;                       /* also flip pairs with mean >= 0 */
	int flip_target;
	double smooth;                          /* -1 unset */
	struct range range;
	int range_set;
	int margin;                             /* -1 unset, 0 off, 1 on */
	double scale, clamp_lo, clamp_hi;
	int clamp;
	int keep_unscored;
};

static struct range
parse_range(const char *s)
{
	struct range r = { R_ALL, 0, 0, 0 };
	char *end;

	if (strcmp(s, "all") == 0)
		return r;
	if (strncmp(s, "mean", 4) == 0) {
		const char *p = s + 4;
		if (p[0] == '<')
			r.kind = p[1] == '=' ? R_LE : R_LT;
		else if (p[0] == '>')
			r.kind = p[1] == '=' ? R_GE : R_GT;
		else
			goto bad;
		p += p[1] == '=' ? 2 : 1;
		r.x = rm_opt_double("--smooth-range", p, -1e30, 1e30);
		return r;
	}
	r.kind = R_RANK;
	r.lo = strtod(s, &end);
	if (end == s || *end != ':')
		goto bad;
	r.hi = rm_opt_double("--smooth-range", end + 1, 0, 1);
	if (!(r.lo >= 0 && r.lo <= r.hi))
		goto bad;
	return r;
bad:
	rm_usage_error("invalid value '%s' for --smooth-range: expected all, "
	    "mean<X, mean<=X, mean>X, mean>=X or LO:HI", s);
}

static int
in_range(const struct range *r, const struct rm_strength_table *t,
	 const struct rm_strength_entry *e)
{
	switch (r->kind) {
	case R_ALL: return 1;
	case R_LT: return e->mean < r->x;
	case R_LE: return e->mean <= r->x;
	case R_GT: return e->mean > r->x;
	case R_GE: return e->mean >= r->x;
	case R_RANK:
		return e->rank >= rm_strength_cut(t, r->lo) &&
		    e->rank < rm_strength_cut(t, r->hi);
	}
	return 0;
}

static void
apply_preset(struct policy *p, const char *name)
{
	if (strcmp(name, "flip10-margin") == 0) {
		if (p->flip_lowest < 0)
			p->flip_lowest = 0.1;
	} else if (strcmp(name, "soft-margin") == 0) {
		/* alpha 0.2: H(0.2) = 0.500 nats, the loss floor the paper's
		 * soft-label runs plateau at (PAPER.md 2.2) */
		if (p->smooth < 0)
			p->smooth = 0.2;
		if (!p->range_set)
			p->range = (struct range){ R_LT, 0, 0, 0 };
	} else {
		rm_usage_error("unknown preset '%s': expected flip10-margin or "
		    "soft-margin", name);
	}
	if (p->margin < 0) {
		p->margin = 1;
		p->scale = 1;
	}
}

/* The strengths (means) of the pairs one action changed. */
struct span {
	size_t n;
	double lo, hi, sum;
};

static void
span_add(struct span *s, double x)
{
	if (s->n == 0 || x < s->lo)
		s->lo = x;
	if (s->n == 0 || x > s->hi)
		s->hi = x;
	s->sum += x;
	s->n++;
}

/* Counts for the summary. */
struct counts {
	size_t read, dropped, flipped, smoothed, margins, unscored;
	size_t spared;          /* in the flip quantile, left alone: mean >= 0 */
	struct span sdrop, sflip, ssmooth;
};

struct job {
	const struct policy *p;
	const struct rm_strength_table *t;
	struct rm_out *out, *log;
	struct rm_buf line, logline;
	struct counts n;
};

/* The negation of a JSON number's text, byte-exact: "-0.5" <-> "0.5". */
static int
negate_text(struct rm_buf *b, const char *v, size_t n)
{
	if (n > 0 && v[0] == '-')
		return rm_buf_append(b, v + 1, n - 1);
	if (strspn(v, "0.") >= n)   /* zero stays zero */
		return rm_buf_append(b, v, n);
	return rm_buf_append(b, "-", 1) < 0 ? RM_ENOMEM : rm_buf_append(b, v, n);
}

static int
write_log(struct job *j, const struct rm_json_record *rec, uint64_t id,
	  const struct rm_strength_entry *e, const char *actions,
	  const char *extra, struct rm_error *err)
{
	struct rm_buf *b = &j->logline;

	if (j->log == NULL)
		return 0;
	rm_buf_reset(b);
	rm_buf_printf(b, "{\"id\":%llu,\"hash\":%llu", (unsigned long long)id,
	    (unsigned long long)rec->hash);
	if (e)
		rm_buf_printf(b, ",\"strength_mean\":%.9g,\"strength_std\":%.9g,"
		    "\"rank\":%zu", e->mean, e->std, e->rank);
	if (rm_buf_printf(b, ",\"actions\":[%s]%s}\n", actions, extra) < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	return rm_out_write(j->log, b->p, b->len, err);
}

/*
 * What the policy does to one scored pair: 1 drop it; 0 keep it, with
 * *flip and *smooth set when those act (counted here).
 */
static int
decide(struct job *j, const struct rm_strength_entry *e, int *flip,
       int *smooth)
{
	const struct policy *p = j->p;
	const struct rm_strength_table *t = j->t;
	size_t cut;

	if ((p->drop_below >= 0 && e->rank < rm_strength_cut(t, p->drop_below)) ||
	    (p->drop_above >= 0 && e->rank >= rm_strength_cut(t, p->drop_above)) ||
	    e->mean < p->drop_mean_below || e->mean > p->drop_mean_above) {
		j->n.dropped++;
		span_add(&j->n.sdrop, e->mean);
		return 1;
	}
	cut = p->flip_lowest >= 0 ? rm_strength_cut(t, p->flip_lowest) : 0;
	/* The paper flips the lowest fraction by rank; by default only those
	 * the ensemble disagrees with (mean < 0) are flipped, so a confident
	 * label in a clean dataset's lowest decile stays as it is. */
	if (e->rank < cut && !p->flip_by_rank && !(e->mean < 0)) {
		j->n.spared++;
		cut = 0;
	}
	*flip = e->rank < cut;
	if (*flip) {
		j->n.flipped++;
		span_add(&j->n.sflip, e->mean);
	}
	*smooth = p->smooth >= 0 && in_range(&p->range, t, e);
	if (*smooth) {
		j->n.smoothed++;
		span_add(&j->n.ssmooth, e->mean);
	}
	return 0;
}

/* The adaptive margin of a pair (swapped: its strength negated). */
static int
margin_of(struct job *j, const struct rm_json_record *rec, uint64_t id,
	  const struct rm_strength_entry *e, int swap, char *mbuf, size_t n,
	  struct rm_error *err)
{
	const struct policy *p = j->p;
	double m = p->scale * (swap ? -e->mean : e->mean);

	if (p->clamp)
		m = m < p->clamp_lo ? p->clamp_lo : m > p->clamp_hi ? p->clamp_hi : m;
	/* what rm-tokenize and rm-train accept (lib/train/pairs.c) */
	if (!(fabs(m) <= 1e30))
		return rm_error_set(err, RM_ENUM, "%s: id %llu: margin %g "
		    "(scale times strength_mean %g) is beyond +-1e30",
		    rec->where, (unsigned long long)id, m, e->mean);
	snprintf(mbuf, n, "%.9g", m == 0 ? 0.0 : m);
	j->n.margins++;
	return 0;
}

/*
 * A rated record (UltraFeedback, Nectar, ...): each of its pairs is looked
 * up by its derived id and the decisions are written into the record as
 * "pair_labels" [{"pair_index", "target", "margin"} or {"pair_index",
 * "drop": true}], which rm-tokenize applies.  Pairs without a strength
 * (another --pairs rule made the stream) are left out.
 */
static int
filter_rated(struct job *j, const struct rm_json_record *rec,
	     const struct rm_pref *pr, struct rm_error *err)
{
	const struct policy *p = j->p;
	struct rm_buf pl = { 0 };
	struct rm_jraw_field f;
	size_t scored = 0;
	int rc = 0;

	rm_buf_puts(&pl, "[");
	for (size_t i = 0; i < pr->npairs && rc == 0; i++) {
		const struct rm_pref_pair *q = &pr->pairs[i];
		const struct rm_strength_entry *e;
		uint64_t id = RM_PREF_PAIR_STRIDE * pr->source_id + q->index;
		double target = q->tie ? 0.5 : 1;
		char actions[64] = "", extra[96] = "", mbuf[40];
		int flip = 0, smooth = 0;

		if ((rc = rm_strength_match(j->t, id, 1, rec->hash, rec->where,
		    &e, err)) < 0 || e == NULL)
			continue;
		j->n.read++;
		if (scored++)
			rm_buf_puts(&pl, ",");
		rm_buf_printf(&pl, "{\"pair_index\":%u", q->index);
		if (decide(j, e, &flip, &smooth)) {
			rm_buf_puts(&pl, ",\"drop\":true}");
			rc = write_log(j, rec, id, e, "\"drop\"", "", err);
			continue;
		}
		if (flip) {
			target = 1 - target;
			strcat(actions, "\"flip\"");
		}
		if (smooth) {
			target = p->smooth + target * (1 - 2 * p->smooth);
			strcat(actions, *actions ? ",\"smooth\"" : "\"smooth\"");
		}
		if (flip || smooth) {
			rm_buf_printf(&pl, ",\"target\":%.9g", target);
			snprintf(extra, sizeof extra, ",\"target\":%.9g", target);
		}
		if (p->margin > 0) {
			if ((rc = margin_of(j, rec, id, e, 0, mbuf, sizeof mbuf,
			    err)) < 0)
				break;
			rm_buf_printf(&pl, ",\"margin\":%s", mbuf);
			strcat(actions, *actions ? ",\"margin\"" : "\"margin\"");
			snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
			    ",\"margin\":%s", mbuf);
		}
		rm_buf_puts(&pl, "}");
		rc = write_log(j, rec, id, e, actions, extra, err);
	}
	if (rc == 0 && scored == 0 && !p->keep_unscored)
		rc = rm_error_set(err, RM_EDATA, "%s: none of the %zu pairs of "
		    "id %llu has a strength record in %s (--keep-unscored passes "
		    "it through)", rec->where, pr->npairs,
		    (unsigned long long)pr->source_id, j->t->name);
	if (rc == 0 && scored == 0)
		j->n.unscored++;
	if (rc == 0 && rm_buf_puts(&pl, "]") < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	rm_buf_reset(&j->line);
	f = (struct rm_jraw_field){ "pair_labels", pl.p, pl.len };
	if (rc == 0 && rm_jraw_splice(&j->line, rec->raw, rec->raw_len, &f,
	    scored ? 1 : 0) < 0)
		rc = rm_error_set(err, RM_EDATA, "%s: malformed record", rec->where);
	if (rc == 0 && rm_buf_append(&j->line, "\n", 1) < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	if (rc == 0)
		rc = rm_out_write(j->out, j->line.p, j->line.len, err);
	rm_buf_release(&pl);
	return rc;
}

static int
filter_record(struct job *j, const struct rm_json_record *rec,
	      struct rm_error *err)
{
	const struct policy *p = j->p;
	const struct rm_strength_table *t = j->t;
	const struct rm_strength_entry *e;
	struct rm_jraw_field f[6];
	struct rm_buf neg = { 0 };
	char tbuf[40], mbuf[40], actions[64] = "", extra[96] = "";
	size_t nf = 0;
	uint64_t id = rm_json_record_id(rec);
	double target = 1;
	const char *v0;
	size_t n0;
	int swap = 0, has_target, rc, ab = 0, flip, smooth;

	/* A rated record: its pairs, each with its own strength. */
	if (rm_jraw_find(rec->raw, rec->raw_len, "chosen", &v0, &n0) != 1) {
		struct rm_pref pr;
		if ((rc = rm_pref_parse(rec, &layout, &pr, err)) < 0)
			return rc;
		if (pr.kind == RM_PREF_RATED) {
			rc = filter_rated(j, rec, &pr, err);
			rm_pref_release(&pr);
			return rc;
		}
		ab = pr.labelled;
		if (ab)
			target = pr.target;
		rm_pref_release(&pr);
	}
	j->n.read++;
	if ((rc = rm_strength_match(t, id, 1, rec->hash, rec->where, &e, err)) < 0)
		return rc;
	if (e == NULL) {
		if (!p->keep_unscored)
			return rm_error_set(err, RM_EDATA, "%s: id %llu has no "
			    "strength record in %s (--keep-unscored passes it "
			    "through)", rec->where, (unsigned long long)id, t->name);
		j->n.unscored++;
		if ((rc = write_log(j, rec, id, NULL, "\"unscored\"", "", err)) < 0)
			return rc;
		goto write_through;
	}
	if (decide(j, e, &flip, &smooth))
		return write_log(j, rec, id, e, "\"drop\"", "", err);
	/* An A/B layout's record: its label (a tie is 0.5) is the target,
	 * unless it has a target of its own. */
	if ((has_target = rm_json_number_opt(rec, rec->json, "target", &target,
	    err)) < 0)
		return has_target;
	if (flip) {
		strcat(actions, "\"flip\"");
		if (p->flip_target || ab) {
			/* an A/B record has no chosen and rejected to swap */
			target = 1 - target;
			has_target = 2;
		} else {
			const char *c, *r, *v;
			size_t cn, rn, vn;
			if (rm_jraw_find(rec->raw, rec->raw_len, "chosen", &c, &cn) != 1 ||
			    rm_jraw_find(rec->raw, rec->raw_len, "rejected", &r, &rn) != 1)
				return rm_error_set(err, RM_EDATA, "%s: no 'chosen' and "
				    "'rejected' to swap", rec->where);
			f[nf++] = (struct rm_jraw_field){ "chosen", r, rn };
			f[nf++] = (struct rm_jraw_field){ "rejected", c, cn };
			swap = 1;
			/* keep rm-synth's truth true for the swapped pair */
			if (rm_jraw_find(rec->raw, rec->raw_len, "true_margin", &v, &vn) == 1 &&
			    negate_text(&neg, v, vn) == 0)
				f[nf++] = (struct rm_jraw_field){ "true_margin", neg.p, neg.len };
			if (rm_jraw_find(rec->raw, rec->raw_len, "flipped", &v, &vn) == 1 &&
			    (vn == 4 || vn == 5))
				f[nf++] = (struct rm_jraw_field){ "flipped",
				    vn == 4 ? "false" : "true", vn == 4 ? 5u : 4u };
		}
	}
	if (smooth) {
		strcat(actions, *actions ? ",\"smooth\"" : "\"smooth\"");
		target = p->smooth + target * (1 - 2 * p->smooth);
		has_target = 2;
	}
	if (has_target == 2) {
		snprintf(tbuf, sizeof tbuf, "%.9g", target);
		f[nf++] = (struct rm_jraw_field){ "target", tbuf, strlen(tbuf) };
		snprintf(extra, sizeof extra, ",\"target\":%s", tbuf);
	}
	if (p->margin > 0) {
		if ((rc = margin_of(j, rec, id, e, swap, mbuf, sizeof mbuf, err)) < 0)
			return rc;
		f[nf++] = (struct rm_jraw_field){ "margin", mbuf, strlen(mbuf) };
		strcat(actions, *actions ? ",\"margin\"" : "\"margin\"");
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		    ",\"margin\":%s", mbuf);
	}
	rc = write_log(j, rec, id, e, actions, extra, err);
	rm_buf_reset(&j->line);
	if (rc == 0 && rm_jraw_splice(&j->line, rec->raw, rec->raw_len, f, nf) < 0)
		rc = rm_error_set(err, RM_EDATA, "%s: malformed record", rec->where);
	rm_buf_release(&neg);
	if (rc < 0)
		return rc;
	goto write_line;
write_through:
	rm_buf_reset(&j->line);
	if (rm_buf_append(&j->line, rec->raw, rec->raw_len) < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
write_line:
	if (rm_buf_append(&j->line, "\n", 1) < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	return rm_out_write(j->out, j->line.p, j->line.len, err);
}

static void
print_span(const char *what, const struct span *s)
{
	if (s->n)
		fprintf(stderr, "%s: %zu %s at strength mean %.4g to %.4g "
		    "(average %.4g)\n", rm_cli_name(), s->n, what, s->lo, s->hi,
		    s->sum / (double)s->n);
}

int
main(int argc, char **argv)
{
	struct policy p = {
		.drop_below = -1, .drop_above = -1,
		.drop_mean_below = -INFINITY, .drop_mean_above = INFINITY,
		.flip_lowest = -1, .smooth = -1, .margin = -1, .scale = 1,
	};
	const char *spath = NULL, *opath = NULL, *lpath = NULL, *dpath = NULL;
	const char *preset = NULL;
	struct rm_strength_table t = { 0 };
	struct job j = { 0 };
	struct rm_in *in = NULL;
	struct rm_jsonl *js = NULL;
	struct rm_json_record rec;
	struct rm_error err = { 0 };
	int c, quiet = 0, zflag = 0, rc, status = RM_EXIT_FAIL;

	rm_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "ho:qs:z", longopts, NULL)) != -1) {
		if (rm_layoutopt_apply(c, optarg, &layout))
			continue;
		switch (c) {
		case 'h': usage(stdout); return rm_finish_stdout(RM_EXIT_OK);
		case OPT_VERSION: rm_print_version();
		case 's': spath = optarg; break;
		case 'o': opath = optarg; break;
		case 'q': quiet = 1; break;
		case 'z': zflag = RM_OUT_ZSTD; break;
		case OPT_LOG: lpath = optarg; break;
		case OPT_DROP_BELOW:
			p.drop_below = rm_opt_double("--drop-below", optarg, 0, 1);
			break;
		case OPT_DROP_ABOVE:
			p.drop_above = rm_opt_double("--drop-above", optarg, 0, 1);
			break;
		case OPT_DROP_MEAN_BELOW:
			p.drop_mean_below = rm_opt_double("--drop-mean-below", optarg, -1e30, 1e30);
			break;
		case OPT_DROP_MEAN_ABOVE:
			p.drop_mean_above = rm_opt_double("--drop-mean-above", optarg, -1e30, 1e30);
			break;
		case OPT_FLIP_LOWEST:
			p.flip_lowest = rm_opt_double("--flip-lowest", optarg, 0, 1);
			break;
		case OPT_FLIP_BY_RANK: p.flip_by_rank = 1; break;
		case OPT_FLIP_MODE:
			if (strcmp(optarg, "swap") && strcmp(optarg, "target"))
				rm_usage_error("invalid value '%s' for --flip-mode: "
				    "expected swap or target", optarg);
			p.flip_target = strcmp(optarg, "target") == 0;
			break;
		case OPT_SMOOTH: p.smooth = rm_opt_double("--smooth", optarg, 0, 0.5); break;
		case OPT_SMOOTH_RANGE:
			p.range = parse_range(optarg);
			p.range_set = 1;
			break;
		case OPT_MARGIN:
			p.margin = 1;
			p.scale = optarg ? rm_opt_double("--margin", optarg, -1e6, 1e6) : 1;
			break;
		case OPT_MARGIN_CLAMP: {
			char lo[64];
			const char *comma = strchr(optarg, ',');
			if (comma == NULL || (size_t)(comma - optarg) >= sizeof lo)
				rm_usage_error("invalid value '%s' for --margin-clamp: "
				    "expected LO,HI", optarg);
			memcpy(lo, optarg, (size_t)(comma - optarg));
			lo[comma - optarg] = '\0';
			p.clamp_lo = rm_opt_double("--margin-clamp", lo, -1e30, 1e30);
			p.clamp_hi = rm_opt_double("--margin-clamp", comma + 1, p.clamp_lo, 1e30);
			p.clamp = 1;
			break;
		}
		case OPT_PRESET: preset = optarg; break;
		case OPT_KEEP_UNSCORED: p.keep_unscored = 1; break;
		default: usage(stderr); return RM_EXIT_USAGE;
		}
	}
	rm_layoutopt_check(&layout);
	if (preset)
		apply_preset(&p, preset);
	if (spath == NULL)
		rm_usage_error("no strength file (-s)");
	if (argc - optind > 1)
		rm_usage_error("one dataset at most");
	dpath = optind < argc ? argv[optind] : "-";
	if (strcmp(spath, "-") == 0 && strcmp(dpath, "-") == 0)
		rm_usage_error("strength and dataset cannot both be standard input");
	if (p.clamp && p.margin <= 0)
		rm_usage_error("--margin-clamp needs --margin");
	if (p.range_set && p.smooth < 0)
		rm_usage_error("--smooth-range needs --smooth");
	if (p.flip_by_rank && p.flip_lowest < 0)
		rm_usage_error("--flip-by-rank needs --flip-lowest (or the "
		    "flip10-margin preset)");
	{
		const struct rm_path_use u[] = {
			{ "-o", opath, 1 }, { "--log", lpath, 1 },
			{ "dataset", dpath, 0 }, { "-s", spath, 0 },
		};
		rm_check_paths(u, sizeof u / sizeof *u);
	}

	if (rm_strength_load(&t, spath, &err) < 0 ||
	    rm_in_open(&in, dpath, &err) < 0 ||
	    rm_jsonl_open(&js, in, &err) < 0 ||
	    rm_out_open(&j.out, opath, zflag, 0, &err) < 0 ||
	    (lpath && rm_out_open(&j.log, lpath, zflag, 0, &err) < 0))
		goto fail;
	j.p = &p;
	j.t = &t;
	while ((rc = rm_jsonl_next(js, &rec, &err)) == 1)
		if (filter_record(&j, &rec, &err) < 0)
			goto fail;
	if (rc < 0)
		goto fail;
	rc = rm_out_commit(j.out, &err);
	j.out = NULL;
	if (rc < 0)
		goto fail;
	rc = rm_out_commit(j.log, &err);
	j.log = NULL;
	if (rc < 0)
		goto fail;
	if (!quiet) {
		fprintf(stderr, "%s: %zu records: %zu kept, %zu dropped, %zu flipped, "
		    "%zu smoothed, %zu margins, %zu unscored\n", rm_cli_name(),
		    j.n.read, j.n.read - j.n.dropped, j.n.dropped, j.n.flipped,
		    j.n.smoothed, j.n.margins, j.n.unscored);
		print_span("dropped", &j.n.sdrop);
		print_span("flipped", &j.n.sflip);
		print_span("smoothed", &j.n.ssmooth);
		if (j.n.spared)
			fprintf(stderr, "%s: %zu pairs in the flip quantile left "
			    "alone: their strength mean is >= 0 (--flip-by-rank "
			    "flips them too)\n", rm_cli_name(), j.n.spared);
	}
	status = RM_EXIT_OK;
	goto done;
fail:
	if (err.code != RM_EPIPE)
		rm_warn_err(&err);
	rm_out_abort(j.out);
	rm_out_abort(j.log);
done:
	rm_jsonl_free(js);
	rm_in_close(in);
	rm_strength_release(&t);
	rm_buf_release(&j.line);
	rm_buf_release(&j.logline);
	return rm_finish_stdout(status);
}
